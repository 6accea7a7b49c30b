//! The app's event listeners (`on(name, fn)`): a list of `(id, event, function)`.

use super::bindings;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use js_sys::Function;
use wasm_bindgen::JsValue;

/// The events a listener can subscribe to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Name {
    /// A new token was adopted.
    Token,
    /// The token's renewal window opened.
    Expiring,
    /// The token expired with no replacement.
    Expired,
    /// A renewal attempt failed.
    Error,
    /// The token was cleared.
    Cleared,
}

impl Name {
    /// Parses the name `on()` was given.
    pub fn parse(s: &str) -> Option<Name> {
        Some(match s {
            "token" => Name::Token,
            "expiring" => Name::Expiring,
            "expired" => Name::Expired,
            "error" => Name::Error,
            "cleared" => Name::Cleared,
            _ => return None,
        })
    }
}

/// The listeners of one manager.
#[derive(Default)]
pub struct Listeners {
    list: RefCell<Vec<(u32, Name, Function)>>,
    next: Cell<u32>,
}

impl Listeners {
    /// Adds one; returns its id.
    pub fn add(&self, name: Name, f: Function) -> u32 {
        let id = self.next.get() + 1;
        self.next.set(id);
        self.list.borrow_mut().push((id, name, f));
        id
    }

    /// Removes listener `id` (again: nothing).
    pub fn remove(&self, id: u64) {
        if let Ok(mut l) = self.list.try_borrow_mut() {
            l.retain(|l| u64::from(l.0) != id);
        }
    }

    /// Removes them all.
    pub fn clear(&self) {
        if let Ok(mut l) = self.list.try_borrow_mut() {
            l.clear();
        }
    }

    /// Calls every listener of `name` with `payload`, each in turn (one may add or
    /// remove listeners); returns whether one threw.
    pub fn emit(&self, name: Name, payload: &JsValue) -> bool {
        let fs: Vec<Function> = self
            .list
            .try_borrow()
            .map(|l| {
                l.iter()
                    .filter(|l| l.1 == name)
                    .map(|l| l.2.clone())
                    .collect()
            })
            .unwrap_or_default();
        let mut threw = false;
        for f in fs {
            threw |= bindings::call1(&f, payload).is_err();
        }
        threw
    }
}
