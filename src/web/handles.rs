//! Handles that clean up after themselves (as gloo-timers and gloo-events do): a timer
//! or listener is a value; dropping it cancels it.

use super::js;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A pending `setTimeout`, cleared on drop.
pub struct Timeout {
    id: JsValue,
    _cb: Closure<dyn FnMut()>,
}

impl Timeout {
    /// Calls `f` once after `ms`.
    pub fn new(ms: f64, f: impl FnMut() + 'static) -> Self {
        let cb = Closure::<dyn FnMut()>::new(f);
        // Not f64::clamp: its panic path pulls float formatting into the wasm.
        #[allow(clippy::manual_clamp)]
        let id = js::set_timeout(
            cb.as_ref().unchecked_ref(),
            ms.max(0.0).min(2_147_483_647.0) as i32,
        );
        Timeout { id, _cb: cb }
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        js::clear_timeout(&self.id);
    }
}

/// An event listener, removed on drop.
pub struct Listener {
    target: web_sys::EventTarget,
    name: &'static str,
    cb: Closure<dyn FnMut(web_sys::Event)>,
}

impl Listener {
    /// Listens to `name` on `target`.
    pub fn new(
        target: &web_sys::EventTarget,
        name: &'static str,
        f: impl FnMut(web_sys::Event) + 'static,
    ) -> Self {
        let cb = Closure::<dyn FnMut(web_sys::Event)>::new(f);
        let _ = target.add_event_listener_with_callback(name, cb.as_ref().unchecked_ref());
        Listener {
            target: target.clone(),
            name,
            cb,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.name, self.cb.as_ref().unchecked_ref());
    }
}
