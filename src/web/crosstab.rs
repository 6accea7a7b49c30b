//! The other tabs of the origin: the BroadcastChannel named after the storage key, the
//! cross-tab Web Lock (`{storageKey}:refresh{scope}`) with its abort controller per
//! attempt, and the presence locks that list live tabs (`{storageKey}:tab{scope}:{id}`).

use super::bindings::{self, Controller};
use super::handles::{Channel, Held, Presence, Undo};
use super::mailbox::{Ev, Mailbox};
use super::options::Options;
use crate::core::{Action, Env};
use core::cell::RefCell;
use js_sys::Function;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::AbortSignal;

/// What one manager holds of the tabs; dropping it closes and releases all.
pub struct CrossTab {
    channel: Option<Channel>,
    presence: Option<Presence>,
    /// The id in this tab's presence lock name (a JS string, `undefined` without one),
    /// sent with every message (`s`).
    id: JsValue,
    locks: bool,
    /// The abort controller of the current attempt (its lock request and broker call).
    attempt: RefCell<Option<(u64, Controller)>>,
    /// The cross-tab lock while held (one at a time: it is one exclusive Web Lock).
    held: RefCell<Option<Held>>,
}

impl CrossTab {
    /// Joins the tabs (with `crossTab`): opens the channel and takes the presence lock.
    pub fn join(opts: &Options, cross: bool, mailbox: &Mailbox) -> CrossTab {
        let locks = cross && bindings::has_locks();
        let channel = cross
            .then(|| bindings::channel(&opts.storage_key, mailbox.function(), Ev::Message as u32))
            .and_then(Result::ok)
            .map(Channel);
        let presence = (locks && channel.is_some())
            .then(|| Presence(bindings::presence(&opts.storage_key, &opts.scope)));
        CrossTab {
            id: presence.as_ref().map_or(JsValue::UNDEFINED, |p| p.0.id()),
            channel,
            presence,
            locks,
            attempt: RefCell::new(None),
            held: RefCell::new(None),
        }
    }

    /// What the core can coordinate with.
    pub fn env(&self) -> Env {
        Env {
            channel: self.channel.is_some(),
            locks: self.locks,
            presence: self.presence.is_some(),
        }
    }

    /// Posts a message to the other tabs.
    pub fn post(&self, msg: &JsValue) {
        if let Some(c) = &self.channel {
            let _ = c.0.post_message(msg);
        }
    }

    /// The abort signal of attempt `id` (a new controller for a new attempt).
    pub fn signal(&self, id: u64) -> AbortSignal {
        let mut a = self.attempt.borrow_mut();
        match &*a {
            Some((i, c)) if *i == id => c.signal(),
            _ => {
                let c = Controller::new();
                let s = c.signal();
                *a = Some((id, c));
                s
            }
        }
    }

    /// Performs the tab's cross-tab actions: lock, unlock, list the peers, abort (the
    /// controller to abort is returned, for the caller to abort with nothing borrowed).
    /// A lock grant comes to the mailbox as [`Ev::Lock`], the peers as [`Ev::Peers`].
    pub fn perform(&self, a: Action, opts: &Options, mb: &Mailbox) -> Option<Controller> {
        match a {
            Action::Lock(id) => {
                let p = bindings::lock(&opts.storage_key, &opts.scope, &self.signal(id));
                mb.pipe(&p, Ev::Lock, id);
            }
            Action::Unlock(id) => drop(self.held.borrow_mut().take_if(|h| h.id == id)),
            Action::CountPeers(id) => {
                if let Some(p) = &self.presence {
                    mb.pipe(&p.0.peers(), Ev::Peers, id);
                }
            }
            Action::Abort(id) => {
                return self
                    .attempt
                    .borrow_mut()
                    .take_if(|(i, _)| *i == id)
                    .map(|a| a.1);
            }
            _ => {}
        }
        None
    }

    /// Keeps the lock granted to attempt `id` (`release`) until the tab unlocks it.
    pub fn hold(&self, id: u64, release: JsValue) {
        if let Ok(f) = release.dyn_into::<Function>() {
            *self.held.borrow_mut() = Some(Held {
                id,
                release: Undo(f),
            });
        }
    }

    /// A panic stopped the manager: lets go of what the other tabs wait on (the request
    /// under way, aborted, and its refresh lock; the channel; the presence lock) by
    /// calling what releases them, without dropping state a panic may have left half
    /// updated.
    pub fn stop(&self) {
        if let Ok(a) = self.attempt.try_borrow() {
            if let Some((_, c)) = &*a {
                c.abort();
            }
        }
        if let Ok(h) = self.held.try_borrow() {
            if let Some(h) = &*h {
                let _ = h.release.0.call0(&JsValue::UNDEFINED);
            }
        }
        if let Some(c) = &self.channel {
            c.0.close();
        }
        if let Some(p) = &self.presence {
            p.0.release();
        }
    }

    /// The id in this tab's presence lock name, `undefined` if it holds none.
    pub fn id(&self) -> &JsValue {
        &self.id
    }
}
