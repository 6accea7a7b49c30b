//! Real panics, through the crate's `#[panic_handler]` (the shipped one: this binary is
//! built without `std`). A bug is staged where every way into a manager passes, its
//! clock: the next `performance.now()` runs a Rust closure that panics, so the panic
//! strikes inside the manager's own call, with the manager's frames on the stack, as a
//! bug of the shell or the core would. The handler stops that manager and traps; the
//! trap unwinds the manager's frames and surfaces in JS, where these tests catch it.
//! Nothing of this is in the shipped wasm: the panicking closure is test code.

use crate::support::*;
use alloc::rc::Rc;
use core::cell::Cell;
use js_sys::{Array, Function, Promise};
use mdh_token::facade::TokenManager;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A closure that panics when called (for [`break_next_clock_read`]).
fn boom() -> Function {
    Closure::<dyn FnMut() -> f64>::new(|| -> f64 { panic!("a bug staged by the test") })
        .into_js_value()
        .unchecked_into()
}

/// What a stopped manager answers: every call fails with `internal` (and nothing else
/// it does throws or traps).
async fn stopped(m: &JsValue) -> Outcome {
    for method in ["getToken", "refresh"] {
        let p: Promise = call(m, method, &[])?.dyn_into()?;
        let err = rejected(p, method).await?;
        ensure_eq!(text(&err, "name").as_deref(), Some("TokenError"));
        ensure_eq!(text(&err, "code").as_deref(), Some("internal"), "{method}");
    }
    ensure!(call(m, "peek", &[])?.is_null());
    let st = call(m, "status", &[])?;
    ensure_eq!(text(&st, "lastError").as_deref(), Some("internal"));
    let Err(err) = call(m, "on", &["token".into(), noop().into()]) else {
        return Err(fail("on() accepted a listener".into()));
    };
    ensure_eq!(text(&err, "code").as_deref(), Some("internal"));
    let Err(err) = call(m, "__base", &[]) else {
        return Err(fail("__base() answered".into()));
    };
    ensure_eq!(text(&err, "code").as_deref(), Some("internal"));
    // clear() and destroy() are accepted (a logout must not throw) and do nothing.
    call(m, "clear", &[])?;
    call(m, "destroy", &[])?;
    Ok(())
}

/// Another manager of the page, working before, during and after.
async fn works(other: &TokenManager, calls: &Rc<Cell<u32>>) -> Outcome {
    let before = calls.get();
    let t = resolved(other.refresh(), "the other manager's refresh()").await?;
    ensure_eq!(text(&t, "token_type").as_deref(), Some("Bearer"));
    ensure_eq!(calls.get(), before + 1);
    resolved(other.get_token(), "the other manager's getToken()").await?;
    Ok(())
}

pub async fn a_panic_inside_a_call_traps_out_of_it_and_stops_that_manager() -> Outcome {
    let other_calls = Rc::new(Cell::new(0));
    let other = manager(counting_broker(3600.0, other_calls.clone()), &[])?;
    let held = Held::default();
    let m = manager(held.broker(), &[])?;
    let errors = hear(&m, "error")?;
    let tokens = hear(&m, "token")?;
    let waiting = m.get_token();
    until("the broker call", || held.count() == 1).await?;
    // Handed over to JS: the call that panics has to be made from JS, which gets the trap.
    let m: JsValue = m.into();
    let clock = break_next_clock_read(&boom());
    let trap = thrown(&m, "getToken", &Array::new());
    call(&clock, "restore", &[])?;
    ensure_eq!(num(&clock, "calls"), Some(1.0), "the staged bug ran once");
    ensure!(is_trap(&trap), "getToken() threw {}", describe(&trap));
    ensure!(get(&clock, "trap") == trap, "the trap came from the panic");
    // The handler stopped the manager before the trap: its waiter is rejected and its
    // `error` listeners heard it.
    let err = rejected(waiting, "the waiting getToken()").await?;
    ensure_eq!(text(&err, "code").as_deref(), Some("internal"));
    ensure_eq!(errors.len(), 1);
    ensure_eq!(text(&errors.get(0), "code").as_deref(), Some("internal"));
    stopped(&m).await?;
    works(&other, &other_calls).await?;
    // The request it had out comes back to a stopped manager: nothing happens.
    held.answer(0, &answer("late", 3600.0))?;
    works(&other, &other_calls).await?;
    ensure_eq!(tokens.len(), 0, "a stopped manager emitted a token");
    ensure_eq!(errors.len(), 1);
    stopped(&m).await?;
    // A manager made after the panic works too.
    let after_calls = Rc::new(Cell::new(0));
    let after = manager(counting_broker(3600.0, after_calls.clone()), &[])?;
    works(&after, &after_calls).await?;
    after.destroy();
    other.destroy();
    Ok(())
}

pub async fn a_panic_in_a_callback_stops_that_manager_and_rejects_its_waiters() -> Outcome {
    let other_calls = Rc::new(Cell::new(0));
    let other = manager(counting_broker(3600.0, other_calls.clone()), &[])?;
    let held = Held::default();
    let m = manager(held.broker(), &[])?;
    let errors = hear(&m, "error")?;
    let waiters = [m.get_token(), m.refresh()];
    until("the broker call", || held.count() == 1).await?;
    // The broker's answer comes back through a promise callback; the bug strikes there.
    let clock = break_next_clock_read(&boom());
    held.answer(0, &answer("tk", 3600.0))?;
    let [first, second] = waiters;
    let err = rejected(first, "getToken()").await;
    call(&clock, "restore", &[])?;
    let err = err?;
    ensure_eq!(text(&err, "code").as_deref(), Some("internal"));
    let err = rejected(second, "refresh()").await?;
    ensure_eq!(text(&err, "code").as_deref(), Some("internal"));
    ensure_eq!(num(&clock, "calls"), Some(1.0), "the staged bug ran once");
    ensure!(is_trap(&get(&clock, "trap")), "the panic trapped");
    ensure_eq!(errors.len(), 1);
    ensure_eq!(text(&errors.get(0), "code").as_deref(), Some("internal"));
    stopped(&m.into()).await?;
    works(&other, &other_calls).await?;
    other.destroy();
    Ok(())
}

pub async fn a_tab_that_panics_holding_the_lock_lets_the_other_tabs_renew() -> Outcome {
    let key = unique_key();
    let tab = |broker| {
        manager(
            broker,
            &[
                ("crossTab", true.into()),
                ("storageKey", key.as_str().into()),
            ],
        )
    };
    let held = Held::default();
    let a = tab(held.broker())?;
    let b_calls = Rc::new(Cell::new(0));
    let b = tab(counting_broker_named("b-", 3600.0, b_calls.clone()))?;
    let (refresh, presence) = (alloc::format!("{key}:refresh"), alloc::format!("{key}:tab"));
    ensure_eq!(
        lock_requests(&presence).await?,
        (2, 0),
        "a tab holds a presence lock"
    );
    let waiting = a.get_token();
    // a holds the refresh lock, its request out.
    until("a's broker call", || held.count() == 1).await?;
    ensure_eq!(lock_requests(&refresh).await?, (1, 0));
    let a: JsValue = a.into();
    let clock = break_next_clock_read(&boom());
    let trap = thrown(&a, "getToken", &Array::new());
    call(&clock, "restore", &[])?;
    ensure!(is_trap(&trap), "getToken() threw {}", describe(&trap));
    let err = rejected(waiting, "a's waiting getToken()").await?;
    ensure_eq!(text(&err, "code").as_deref(), Some("internal"));
    // A stopped tab lets go of what the others wait on: the refresh lock, its presence.
    until_async("a to release the refresh lock", || async {
        Ok(lock_requests(&refresh).await? == (0, 0))
    })
    .await?;
    until_async("a to leave the tabs", || async {
        Ok(lock_requests(&presence).await? == (1, 0))
    })
    .await?;
    let t = resolved(b.get_token(), "b.getToken()").await?;
    ensure_eq!(text(&t, "access_token").as_deref(), Some("b-1"));
    ensure_eq!(b_calls.get(), 1);
    stopped(&a).await?;
    b.destroy();
    Ok(())
}
