//! Handles that clean up after themselves (as gloo-timers and gloo-events do): a timer
//! or a set of listeners is a value; dropping it cancels it. Their callbacks go to the
//! manager's one mailbox function (see `shell.rs`), so no closure is made per handle.

use super::js;
use js_sys::Function;
use wasm_bindgen::prelude::*;

/// A pending `setTimeout` that calls `mailbox(kind, id)`, cleared on drop.
pub struct Timeout(JsValue);

impl Timeout {
    /// Calls `mailbox(kind, id)` once after `ms`.
    pub fn new(ms: f64, mailbox: &Function, kind: u32, id: f64) -> Self {
        // Not f64::clamp: its panic path pulls float formatting into the wasm.
        #[allow(clippy::manual_clamp)]
        let ms = ms.max(0.0).min(2_147_483_647.0);
        Timeout(js::after(ms, mailbox, kind, id))
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        js::clear_timeout(&self.0);
    }
}

/// Undoes something (removes listeners, releases a lock) when dropped.
pub struct Undo(pub Function);

impl Drop for Undo {
    fn drop(&mut self) {
        let _ = self.0.call0(&JsValue::UNDEFINED);
    }
}
