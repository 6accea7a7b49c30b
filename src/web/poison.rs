//! What a panic (a bug) does: it must surface as a clear `internal` TokenError
//! rejection and an `error` event of the manager that was running, not as a silent
//! hang, and leave the page's other managers alone (each manager's state is its
//! own, so one bug need not stop the others). With `panic = "abort"` the hook (std) or the `#[panic_handler]`
//! (the shipped no_std build, in lib.rs) runs, then the wasm traps; state may be
//! mid-borrow, so this only uses `try_borrow`.

use super::bindings;
use super::convert::to_js_error;
use super::listeners::Name;
use super::shell::Inner;
use crate::core::{ErrorCode, Level, TokenError};
use alloc::rc::{Rc, Weak};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

/// The live managers, for the panic hook and for this page's `hello`.
struct Live(RefCell<Vec<Weak<Inner>>>);
// SAFETY: this module is built for wasm32 without the atomics feature: one thread.
unsafe impl Sync for Live {}
static LIVE: Live = Live(RefCell::new(Vec::new()));

/// The manager whose code runs now (its `Inner`'s address; 0 for none): set on every
/// way in (a method, the mailbox) and restored on the way out, so that a panic, which
/// skips the restoring, leaves the culprit here.
struct Current(Cell<usize>);
// SAFETY: as `Live`.
unsafe impl Sync for Current {}
static CURRENT: Current = Current(Cell::new(0));

/// Restores the previous [`CURRENT`] on drop (a listener of one manager may call into
/// another).
pub struct Entered(usize);

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.0.set(self.0);
    }
}

/// Marks `inner` as the manager running until the guard drops.
pub fn enter(inner: &Rc<Inner>) -> Entered {
    Entered(CURRENT.0.replace(Rc::as_ptr(inner) as usize))
}

/// The error of a manager a panic stopped.
pub fn internal() -> TokenError {
    TokenError::new(
        ErrorCode::Internal,
        "internal error (a bug in mdh-token); this manager stopped",
    )
}

/// Adds a new manager to the live ones (and installs the std panic hook once).
pub fn register(inner: &Rc<Inner>) {
    // Without std, the crate's #[panic_handler] calls poison_current() instead.
    #[cfg(feature = "std")]
    {
        extern crate std;
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| std::panic::set_hook(alloc::boxed::Box::new(|_| poison_current())));
    }
    let mut l = LIVE.0.borrow_mut();
    l.retain(|w| w.strong_count() > 0);
    l.push(Rc::downgrade(inner));
}

/// The `k`th live manager (maybe gone); `None` past the end. LIVE is not borrowed
/// between calls, so the caller may run code that creates managers.
pub fn live(k: usize) -> Option<Weak<Inner>> {
    LIVE.0.borrow().get(k).cloned()
}

/// Stops the manager that was running when a panic struck: rejects its waiting callers
/// and tells its `error` listeners. The other managers of the page carry on: their
/// state was not mid-update.
pub fn poison_current() {
    bindings::log(
        Level::Error as u8,
        "internal error (a bug): the token manager stopped; please report it",
        None,
    );
    let current = CURRENT.0.get();
    if let Ok(live) = LIVE.0.try_borrow() {
        for w in live.iter() {
            // Never dropped: no destructor runs on state a panic may have left half
            // updated (and the drop glue would cost 250 B of wasm here).
            if let Some(i) = w.upgrade().map(core::mem::ManuallyDrop::new) {
                if Rc::as_ptr(&i) as usize == current {
                    i.poison();
                }
            }
        }
    }
}

impl Inner {
    /// Stops this manager for good: every later call fails with `internal`.
    fn poison(&self) {
        if self.poisoned.replace(true) {
            return;
        }
        let err = to_js_error(&internal());
        self.answers.poison(&err);
        self.listeners.emit(Name::Error, &err);
        if let Ok(mut t) = self.timer.try_borrow_mut() {
            t.take();
        }
        // Nothing comes back in from here on (see `on_event`); what the other tabs wait
        // on is let go.
        if let Ok(t) = self.tabs.try_borrow() {
            if let Some(t) = &*t {
                t.stop();
            }
        }
    }
}

/// What the shell tests call instead of a real panic, which they cannot survive.
pub fn poison_for_tests(inner: &Rc<Inner>) {
    let _entered = enter(inner);
    poison_current();
}
