//! Handles that clean up after themselves (as gloo-timers and gloo-events do): a timer,
//! a set of listeners, the tabs' channel, a held Web Lock is a value; dropping it
//! cancels, closes or releases it. So `destroy()` (or the manager's JS object being
//! collected) is mostly a drop.

use super::bindings;
use super::mailbox::{Ev, Mailbox};
use js_sys::Function;
use wasm_bindgen::prelude::*;
use web_sys::BroadcastChannel;

/// A pending `setTimeout` that reports `ev` to the mailbox, cleared on drop.
pub struct Timeout(JsValue);

impl Timeout {
    /// Reports `ev` once after `ms`.
    pub fn new(ms: f64, mailbox: &Mailbox, ev: Ev) -> Self {
        // Not f64::clamp: its panic path pulls float formatting into the wasm.
        #[allow(clippy::manual_clamp)]
        let ms = ms.max(0.0).min(2_147_483_647.0);
        Timeout(bindings::after(ms, mailbox.function(), ev as u32, 0.0))
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        bindings::clear_timeout(&self.0);
    }
}

/// Undoes something (removes listeners, releases a lock) when dropped.
pub struct Undo(pub Function);

impl Drop for Undo {
    fn drop(&mut self) {
        let _ = self.0.call0(&JsValue::UNDEFINED);
    }
}

/// The tabs' BroadcastChannel, closed on drop.
pub struct Channel(pub BroadcastChannel);

impl Drop for Channel {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// This tab's presence lock, held while the manager lives so that its peers can count
/// it (`navigator.locks.query()`); released on drop.
pub struct Presence(pub bindings::PresenceLock);

impl Drop for Presence {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// The cross-tab lock held for an attempt, released on drop.
pub struct Held {
    /// The attempt.
    pub id: u64,
    /// Gives it back (on drop).
    pub release: Undo,
}
