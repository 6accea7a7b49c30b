//! What callers get: the frozen token object (rebuilt only when the token or its whole
//! seconds left change), the JS entry's hot-path cache (`sink`), and the promises of
//! `getToken()`/`refresh()` callers waiting for the next settlement.

use super::bindings;
use super::convert::to_js_error;
use crate::core::{Lifecycle, Now, TokenError};
use core::cell::{Cell, RefCell};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

struct Cached {
    generation: u64,
    secs: f64,
    access: JsValue,
    obj: JsValue,
}

/// The answers of one manager.
pub struct Answers {
    cached: RefCell<Option<Cached>>,
    waiters: bindings::Waiters,
    /// `sink(token, until)` publishes a token object the JS entry may hand out by
    /// itself until the wall time `until`; `sink(null, 0)` withdraws it. Crossing into
    /// wasm costs more than the whole lookup.
    sink: Option<Function>,
    published: Cell<bool>,
}

impl Answers {
    /// With the JS entry's `sink`, if any.
    pub fn new(sink: Option<Function>) -> Answers {
        Answers {
            cached: RefCell::new(None),
            waiters: bindings::waiters(),
            sink,
            published: Cell::new(false),
        }
    }

    /// The token object of `life`'s current token, if it has not expired.
    pub fn token(&self, life: &Lifecycle, now: Now) -> Option<JsValue> {
        let t = life.token(now)?;
        let secs = crate::core::floor(t.remaining(now.wall, now.mono) / 1000.0);
        let mut cache = self.cached.borrow_mut();
        let generation = life.generation();
        let same_token = matches!(&*cache, Some(c) if c.generation == generation);
        if let Some(c) = cache.as_ref().filter(|c| same_token && c.secs == secs) {
            return Some(c.obj.clone());
        }
        let access = match cache.take() {
            Some(c) if same_token => c.access,
            _ => JsValue::from_str(t.access.secret()),
        };
        let obj = bindings::token_object(&access, secs, t.expires_at);
        *cache = Some(Cached {
            generation,
            secs,
            access,
            obj: obj.clone(),
        });
        Some(obj)
    }

    /// Offers the token object `v` to the JS entry's cache while the core says reusing
    /// it is exactly what `getToken()` would do.
    fn publish(&self, life: &Lifecycle, now: Now, v: &JsValue) {
        let Some(sink) = &self.sink else { return };
        let Some(until) = life.reuse_until(now) else {
            return;
        };
        self.published.set(true);
        let _ = sink.call2(&JsValue::UNDEFINED, v, &JsValue::from_f64(until));
    }

    /// Takes the published token object back.
    pub fn withdraw(&self) {
        if let (true, Some(sink)) = (self.published.replace(false), &self.sink) {
            let _ = sink.call2(&JsValue::UNDEFINED, &JsValue::NULL, &JsValue::from_f64(0.0));
        }
    }

    /// What `peek()` and a ready `getToken()` hand out: the token object while it is
    /// usable (offered to the JS entry's cache too), else `null`.
    pub fn handout(&self, life: &Lifecycle, now: Now) -> JsValue {
        if life.usable(now).is_none() {
            return JsValue::NULL;
        }
        let v = self.token(life, now).unwrap_or(JsValue::NULL);
        self.publish(life, now, &v);
        v
    }

    /// A promise for the next settlement.
    pub fn wait(&self) -> Promise {
        self.waiters.wait()
    }

    /// Resolves every waiting caller with the token object, or rejects them with the
    /// error (made even when none waits: asking JS first cost more than it saves).
    pub fn settle(&self, r: Result<JsValue, TokenError>) {
        match r {
            Ok(v) => self.waiters.settle(true, &v),
            Err(e) => self.waiters.settle(false, &to_js_error(&e)),
        }
    }

    /// Rejects every waiting caller with `err` and withdraws the published token
    /// (a panic stopped the manager; the waiters may be mid-borrow).
    pub fn poison(&self, err: &JsValue) {
        if let Some(sink) = &self.sink {
            let _ = sink.call2(&JsValue::UNDEFINED, &JsValue::NULL, &JsValue::from_f64(0.0));
        }
        self.waiters.settle(false, err);
    }
}
