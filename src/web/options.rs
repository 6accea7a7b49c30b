//! The options the shell runs a manager with, typed: what the facade decoded from
//! `createTokenManager()`'s argument (checked by options.js, read by name once), less
//! the core's [`crate::core::Config`].

use super::bindings;
use crate::core::{Credentials, Reason, MAX_BODY_BYTES};
use js_sys::{Function, Promise};
use wasm_bindgen::JsValue;
use web_sys::AbortSignal;

/// Where tokens come from.
pub enum Broker {
    /// POST to this URL (a JS string).
    Url(JsValue),
    /// Call this async function with `{ signal, reason }`.
    Func(Function),
}

/// Validated options. The strings only JS APIs read (names, URLs) stay JS strings:
/// each copy into wasm memory and back is code in the wasm and the glue.
pub struct Options {
    /// The broker.
    pub broker: Broker,
    /// The request `Headers` (Accept and the app's own).
    pub headers: JsValue,
    /// `fetch` credentials mode.
    pub credentials: Credentials,
    /// Storage key; also names the channel and the locks.
    pub storage_key: JsValue,
    /// The participant's part of the lock names: empty without `participant`, else `=`
    /// and the id URI-encoded (so it never holds the `:` that ends it).
    pub scope: JsValue,
    /// MyDataHelps base URL for the SDK and frame integrations.
    pub base_url: JsValue,
    /// The `participant` (a JS string, `undefined` without one), for what goes to JS;
    /// the core has its own copy.
    pub participant: JsValue,
}

impl Options {
    /// A broker request made now: the URL POSTed (with the participant, if any) or the
    /// function called; either is aborted by `signal`.
    pub fn request(&self, signal: &AbortSignal, reason: Reason) -> Promise {
        match &self.broker {
            Broker::Url(url) => {
                let (who, why) = (&self.participant, reason.as_str());
                let (credentials, max) = (self.credentials.as_str(), MAX_BODY_BYTES as u32);
                bindings::post(url, &self.headers, credentials, signal, why, who, max)
            }
            Broker::Func(f) => bindings::ask(f, signal, reason.as_str()),
        }
    }
}
