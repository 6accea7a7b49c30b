//! mdh-token keeps a MyDataHelps participant access token alive inside a web page.
//!
//! [`core`] is pure (no browser APIs, time passed in, IO returned as actions) and is
//! tested natively; [`web`] is the browser shell that performs those actions and
//! [`facade`] the one place that exports `#[wasm_bindgen]` items.
#![deny(missing_docs)]
// The shipped wasm is built without the default `std` feature (scripts/build.sh): no
// libstd, so none of its panic and formatting machinery (≈ 3 kB gzip, measured).
// Native tests and the shell tests use std.
#![cfg_attr(all(target_arch = "wasm32", not(feature = "std")), no_std)]

extern crate alloc;

pub mod core;
#[cfg(target_arch = "wasm32")]
pub mod facade;
#[cfg(target_arch = "wasm32")]
pub mod web;

/// A small allocator in place of libstd's dlmalloc: a sorted free list that coalesces
/// neighbours. Our heap holds a few dozen small objects, so its O(n) walk is cheap, and
/// it is 3 kB gzip smaller (dlmalloc 8 kB of code; talc 0.6 kB more than this).
// SAFETY: wasm32-unknown-unknown without the atomics feature has one thread.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOC: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

/// Without libstd a panic comes here: stop every manager (a clear `internal` error, not
/// a hang), then trap as `panic = "abort"` would. It must not read the `PanicInfo`: the
/// build blanks the messages and locations it points at (scripts/strip-panic-data.mjs).
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &::core::panic::PanicInfo) -> ! {
    web::shell::panicked();
    ::core::arch::wasm32::unreachable()
}
