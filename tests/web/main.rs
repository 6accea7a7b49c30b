//! Tier 2: the web shell and facade in headless Chromium and Firefox ESR, with broker
//! functions scripted from Rust, real storage, timers, BroadcastChannel and Web Locks.
//!
//! It tests the build that ships: the crate without `std` (its `#[panic_handler]`, its
//! allocator), in the release profile, with the wasm32 flags of scripts/build.sh (no
//! reference types), this crate linked in. `bash scripts/test-web.sh [filter]` runs it
//! (scripts/test.sh does); by hand, after `. scripts/wasm-env.sh`:
//!
//! ```sh
//! cargo test --release --target wasm32-unknown-unknown --no-default-features --test web
//! ```
//!
//! No wasm-bindgen-test: its runtime defines a `#[panic_handler]` of its own, with or
//! without `std`, which would stand in for the crate's. The tests are registered in
//! `suite!` below and run by tests/web/run.mjs, the target's runner (.cargo/config.toml).
#![cfg_attr(target_arch = "wasm32", no_std, no_main)]
#![deny(dead_code)]

#[cfg(all(target_arch = "wasm32", feature = "std"))]
compile_error!("tier 2 tests the shipped no_std build: pass --no-default-features");

/// Tier 2 runs in browsers only (`--target wasm32-unknown-unknown`).
#[cfg(not(target_arch = "wasm32"))]
fn main() {}

#[cfg(target_arch = "wasm32")]
extern crate alloc;

#[cfg(target_arch = "wasm32")]
#[macro_use]
mod support;

#[cfg(target_arch = "wasm32")]
mod panic;
#[cfg(target_arch = "wasm32")]
mod shell;
#[cfg(target_arch = "wasm32")]
mod tabs;

/// The tests, in the order they run: `tier2_tests()` lists them for the runner and
/// `tier2_run(name)` runs one (a promise that rejects with what failed).
#[cfg(target_arch = "wasm32")]
macro_rules! suite {
    ($($module:ident :: $test:ident),* $(,)?) => {
        #[wasm_bindgen::prelude::wasm_bindgen]
        pub fn tier2_tests() -> js_sys::Array {
            [$(stringify!($test)),*].iter().map(|n| wasm_bindgen::JsValue::from_str(n)).collect()
        }

        #[wasm_bindgen::prelude::wasm_bindgen]
        pub async fn tier2_run(name: alloc::string::String) -> support::Outcome {
            match name.as_str() {
                $(stringify!($test) => $module::$test().await,)*
                _ => Err(support::fail(alloc::format!("no test {name}"))),
            }
        }
    };
}

#[cfg(target_arch = "wasm32")]
suite! {
    shell::get_token_calls_the_broker_once_for_concurrent_callers,
    shell::refresh_forces_a_new_broker_call,
    shell::errors_are_token_errors_with_code_and_status,
    shell::garbage_from_the_broker_is_invalid_response,
    shell::invalid_options_throw_typed_errors,
    shell::session_storage_holds_the_entry_and_memory_mode_writes_nothing,
    shell::corrupt_foreign_and_expired_entries_are_removed,
    shell::listeners_get_events_and_a_throwing_listener_breaks_nothing,
    shell::status_shows_the_token_only_masked,
    shell::a_hanging_broker_times_out,
    shell::poison_rejects_waiters_with_internal_and_stops_that_manager_only,
    tabs::a_token_renewed_in_one_tab_is_adopted_by_the_other,
    tabs::concurrent_tabs_make_one_broker_call,
    tabs::a_new_tab_asks_and_gets_the_token_without_the_broker,
    tabs::clear_reaches_the_other_tab,
    tabs::the_lock_holder_renews_alone_while_the_other_waits,
    panic::a_panic_inside_a_call_traps_out_of_it_and_stops_that_manager,
    panic::a_panic_in_a_callback_stops_that_manager_and_rejects_its_waiters,
    panic::a_tab_that_panics_holding_the_lock_lets_the_other_tabs_renew,
}
