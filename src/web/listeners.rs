//! The app's event listeners (`on(name, fn)`): the event names, and the list, kept by
//! JS (`listeners` in bindings.rs: a listener may add or remove listeners while an event
//! is emitted). The integrations' detach functions, which `destroy()` calls, are kept
//! there too.

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

/// The kind of the integrations' detach functions in the list: no [`Name`].
const DETACH: u32 = Name::Cleared as u32 + 1;

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

    /// Registers an integration's detach function (src/js/integrations.js), called by
    /// [`Listeners::destroy`]: kept in the same JS list, under a kind of its own.
    pub fn on_destroy(&self, detach: &Function) {
        self.0.on(DETACH, detach);
    }

    /// `destroy()`: calls the detach functions (one that throws stops none of the
    /// others), then removes every listener.
    pub fn destroy(&self) {
        self.0.emit(DETACH, &JsValue::UNDEFINED);
        self.0.clear();
    }

    /// Calls every listener of `name` with `payload`, each in turn; returns how many
    /// threw.
    pub fn emit(&self, name: Name, payload: &JsValue) -> u32 {
        self.0.emit(name as u32, payload)
    }
}
