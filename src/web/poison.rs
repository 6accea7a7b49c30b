//! What a panic (a bug) does: it must surface as a clear `internal` TokenError
//! rejection and an `error` event of the manager that was running, not as a silent
//! hang, and leave the page's other managers alone. With `panic = "abort"` the hook
//! (std) or the `#[panic_handler]` (the shipped no_std build, in lib.rs) runs, then the
//! wasm traps. This module records which manager runs; the shell stops that one.

use super::page;
use crate::core::{ErrorCode, TokenError};
use alloc::rc::Rc;
use core::cell::Cell;

/// The manager whose code runs now (its state's address; 0 for none): set on every
/// way in (a method, the mailbox) and restored on the way out, so that a panic, which
/// skips the restoring, leaves the culprit here.
struct Current(Cell<usize>);
// SAFETY: this module is built for wasm32 without the atomics feature: one thread.
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

/// Marks `m` as the manager running until the guard drops.
pub fn enter<M>(m: &Rc<M>) -> Entered {
    Entered(CURRENT.0.replace(page::address(m)))
}

/// The address of the manager that was running when a panic struck.
pub fn current() -> usize {
    CURRENT.0.get()
}

/// The error of a manager a panic stopped.
pub fn internal() -> TokenError {
    TokenError::new(
        ErrorCode::Internal,
        "internal error (a bug in mdh-token); this manager stopped",
    )
}
