//! The app's event listeners (`on(name, fn)`): the event names, and the list, kept by
//! JS (`listeners` in bindings.rs: a listener may add or remove listeners while an event
//! is emitted).

use super::bindings;
use crate::core::{Event, Level};
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

/// The listeners' name of `ev`, and the console line it makes, if any (an error's
/// code follows its line).
pub fn of(ev: &Event) -> (Name, Option<(Level, &'static str)>) {
    match ev {
        Event::Token => (Name::Token, Some((Level::Info, "new token adopted"))),
        Event::Expiring => (Name::Expiring, None),
        Event::Expired => {
            let line = "the token expired before it could be renewed";
            (Name::Expired, Some((Level::Warn, line)))
        }
        Event::Error(_) => (Name::Error, Some((Level::Warn, "renewal failed: "))),
        Event::Cleared => (Name::Cleared, None),
    }
}

/// The listeners of one manager.
pub struct Listeners(bindings::List);

impl Default for Listeners {
    fn default() -> Self {
        Listeners(bindings::listeners())
    }
}

impl Listeners {
    /// Adds one; returns the function that removes it.
    pub fn add(&self, name: Name, f: &Function) -> Function {
        self.0.on(name as u32, f)
    }

    /// Removes them all.
    pub fn clear(&self) {
        self.0.clear();
    }

    /// Calls every listener of `name` with `payload`, each in turn; returns how many
    /// threw.
    pub fn emit(&self, name: Name, payload: &JsValue) -> u32 {
        self.0.emit(name as u32, payload)
    }
}
