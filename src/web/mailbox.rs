//! The one way back in from JavaScript: every timer, DOM event, channel message and
//! settled promise of a manager calls its one closure, `mailbox(kind, id, value)`, so
//! the wasm holds one closure per manager instead of one per callback. What it calls
//! is the shell's handler (which holds the manager weakly: dropping the manager frees
//! all); the mailbox knows it only as a function.

use super::bindings;
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// What the mailbox is told. A settled promise reports its kind when fulfilled and the
/// next one when rejected (`pipe` in bindings.rs), so those come in pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Ev {
    /// The timer armed for the core's next deadline fired.
    Timer = 0,
    /// The page may have slept: visible again, online, shown, focused.
    Wake = 1,
    /// A message on the tabs' channel.
    Message = 2,
    /// The cross-tab lock was granted (`value`: its release function).
    Lock = 3,
    /// The lock request failed or was aborted.
    LockRefused = 4,
    /// The other tabs were listed (`value`: their ids, undefined when unknown).
    Peers = 5,
    /// Listing failed.
    PeersFailed = 6,
    /// The broker answered.
    Reply = 7,
    /// The broker request failed (or a broker function threw).
    ReplyFailed = 8,
}

const ALL: [Ev; 9] = [
    Ev::Timer,
    Ev::Wake,
    Ev::Message,
    Ev::Lock,
    Ev::LockRefused,
    Ev::Peers,
    Ev::PeersFailed,
    Ev::Reply,
    Ev::ReplyFailed,
];

/// A manager's mailbox closure. `Fn`, not `FnMut`, so that a listener may unsubscribe
/// from inside an event.
pub struct Mailbox(Closure<dyn Fn(u32, f64, JsValue)>);

impl Mailbox {
    /// The closure that hands every callback to `handler`, decoded.
    pub fn new(handler: impl Fn(Ev, u64, JsValue) + 'static) -> Mailbox {
        Mailbox(Closure::new(move |kind: u32, id: f64, v| {
            if let Some(&ev) = ALL.get(kind as usize) {
                handler(ev, id as u64, v);
            }
        }))
    }

    /// The function JS calls.
    pub fn function(&self) -> &Function {
        self.0.as_ref().unchecked_ref()
    }

    /// Reports how `p` settles as `ev` (fulfilled) or the next kind (rejected).
    pub fn pipe(&self, p: &Promise, ev: Ev, id: u64) {
        bindings::pipe(p, self.function(), ev as u32, id as f64);
    }
}
