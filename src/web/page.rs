//! This page's managers: a registry of weak references, which the panic hook searches
//! for the manager that was running and which passes a participant's sign-in to the
//! page's other managers. Generic over the manager's state, so it never imports the
//! shell (whose static instance it is).

use alloc::rc::{Rc, Weak};
use alloc::vec::Vec;
use core::cell::RefCell;

/// The live managers of the page.
pub struct Page<M>(RefCell<Vec<Weak<M>>>);

// SAFETY: built for wasm32 without the atomics feature: one thread.
unsafe impl<M> Sync for Page<M> {}

/// The address of a manager's state: what identifies it (see `poison.rs`).
pub fn address<M>(m: &Rc<M>) -> usize {
    Rc::as_ptr(m) as usize
}

impl<M> Page<M> {
    /// No manager yet.
    pub const fn new() -> Self {
        Page(RefCell::new(Vec::new()))
    }

    /// Adds a new manager (and forgets the dropped ones).
    pub fn register(&self, m: &Rc<M>) {
        let mut l = self.0.borrow_mut();
        l.retain(|w| w.strong_count() > 0);
        l.push(Rc::downgrade(m));
    }

    /// Calls `f` on the live manager at address `at`, if any, without borrowing the
    /// list mutably (a panic may have left it borrowed) and without dropping it (no
    /// destructor runs on state a panic may have left half updated; the drop glue
    /// would cost 250 B of wasm here).
    pub fn find(&self, at: usize, f: impl Fn(&M)) {
        if let Ok(live) = self.0.try_borrow() {
            for w in live.iter() {
                if let Some(m) = w.upgrade().map(core::mem::ManuallyDrop::new) {
                    if address(&m) == at {
                        f(&m);
                    }
                }
            }
        }
    }

    /// Calls `f` on each live manager in turn, the list not borrowed meanwhile (`f` may
    /// run listeners, which may create managers).
    pub fn each(&self, mut f: impl FnMut(Rc<M>)) {
        let mut k = 0;
        while let Some(w) = self.0.borrow().get(k).cloned() {
            k += 1;
            if let Some(m) = w.upgrade() {
                f(m);
            }
        }
    }
}
