//! Bindings we declare ourselves. Like gloo, we bind `setTimeout`, `fetch` and
//! `performance` on the global object rather than on `Window`, so the shell also runs
//! in workers; Web Locks sit behind `web_sys_unstable_apis`, so a few lines of JS
//! (src/js/bindings.js) are cheaper than that feature set. Callbacks go to a manager's mailbox
//! (`mailbox.rs`) as `mailbox(kind, id, value)`.

use crate::core::{Now, MAX_BODY_BYTES, MAX_TOKEN_LEN};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen(module = "/src/js/bindings.js")]
extern "C" {
    #[wasm_bindgen(js_name = hasLocks)]
    pub fn has_locks() -> bool;
    pub fn lock(key: &JsValue, scope: &JsValue, signal: &web_sys::AbortSignal) -> Promise;
    pub fn ask(f: &Function, signal: &web_sys::AbortSignal, reason: &str) -> Promise;
    fn fields(v: &JsValue, keys: &str, cut: u32) -> JsValue;
    #[wasm_bindgen(catch)]
    fn load(area: &Area, key: &JsValue, max: u32) -> Result<JsValue, JsValue>;
    pub fn tell(name: &JsValue, msg: &JsValue);
    #[wasm_bindgen(js_name = tokenObject)]
    pub fn token_object(access: &JsValue, expires_in: f64, expires_at: f64) -> JsValue;
    pub fn entry(v: f64, access: &str, issued_at: f64, expires_at: f64, p: &JsValue) -> JsValue;
    pub fn message(
        t: &str,
        e: Option<JsValue>,
        n: Option<f64>,
        p: &JsValue,
        s: &JsValue,
    ) -> JsValue;
    #[allow(clippy::too_many_arguments)]
    pub fn status(
        state: &str,
        expires_in: f64,
        expires_at: f64,
        renew_at: f64,
        next_attempt_at: f64,
        broker_calls: f64,
        last_error: Option<&str>,
        storage: &str,
        broadcast_channel: bool,
        web_locks: bool,
        token: Option<&str>,
    ) -> JsValue;
    pub fn stopped(state: &str, last_error: &str) -> JsValue;
    #[wasm_bindgen(catch)]
    pub fn save(area: &Area, key: &JsValue, value: &JsValue) -> Result<(), JsValue>;
    /// A Web Storage area (see `storage` in bindings.js; the key a JS string).
    pub type Area;
    #[wasm_bindgen(method, catch, js_name = removeItem)]
    pub fn remove_item(this: &Area, key: &JsValue) -> Result<(), JsValue>;
    /// The waiting callers (see `waiters` in bindings.js).
    pub type Waiters;
    pub fn waiters() -> Waiters;
    #[wasm_bindgen(method)]
    pub fn wait(this: &Waiters) -> Promise;
    #[wasm_bindgen(method)]
    pub fn settle(this: &Waiters, ok: bool, v: &JsValue);
    pub fn after(ms: f64, mailbox: &Function, kind: u32, id: f64) -> JsValue;
    pub fn pipe(p: &Promise, mailbox: &Function, kind: u32, id: f64);
    /// The app's listeners (see `listeners` in bindings.js).
    pub type List;
    pub fn listeners() -> List;
    #[wasm_bindgen(method)]
    pub fn on(this: &List, kind: u32, f: &Function) -> Function;
    #[wasm_bindgen(method)]
    pub fn emit(this: &List, kind: u32, v: &JsValue) -> u32;
    #[wasm_bindgen(method)]
    pub fn clear(this: &List);
    pub fn wakeups(mailbox: &Function, kind: u32) -> Function;
    #[wasm_bindgen(catch)]
    pub fn channel(
        name: &JsValue,
        mailbox: &Function,
        kind: u32,
    ) -> Result<web_sys::BroadcastChannel, JsValue>;
    /// This tab's presence lock (see `presence` in bindings.js).
    pub type PresenceLock;
    pub fn presence(key: &JsValue, scope: &JsValue) -> PresenceLock;
    #[wasm_bindgen(method)]
    pub fn release(this: &PresenceLock);
    #[wasm_bindgen(method, getter)]
    pub fn id(this: &PresenceLock) -> JsValue;
    #[wasm_bindgen(method)]
    pub fn peers(this: &PresenceLock) -> Promise;
    #[wasm_bindgen(catch)]
    pub fn storage(local: bool) -> Result<Area, JsValue>;
    pub fn log(level: u8, msg: &str, detail: Option<&str>);
    /// `log` of a JS string (the integrations' lines).
    #[wasm_bindgen(js_name = log)]
    pub fn log_js(level: u8, msg: &JsValue);
    /// The broker POST; its answer is read up to `max` bytes ([`MAX_BODY_BYTES`]).
    pub fn post(
        url: &JsValue,
        headers: &JsValue,
        credentials: &str,
        signal: &web_sys::AbortSignal,
        reason: &str,
        participant: &JsValue,
        max: u32,
    ) -> Promise;
}

// The one TokenError constructor, shared with options.js, the entry and mdh-token/react.
#[wasm_bindgen(module = "/src/js/errors.js")]
extern "C" {
    #[wasm_bindgen(js_name = tokenError)]
    pub fn token_error(code: &str, detail: &str, status: u16, retry_at: Option<f64>) -> JsValue;
}

#[wasm_bindgen]
extern "C" {
    /// An `AbortController` (web-sys's constructor may throw, by its IDL: it never does,
    /// and the `Result` cost its unwrap's message and throw).
    #[wasm_bindgen(js_name = AbortController)]
    pub type Controller;
    #[wasm_bindgen(constructor, js_class = "AbortController")]
    pub fn new() -> Controller;
    #[wasm_bindgen(method, js_class = "AbortController")]
    pub fn abort(this: &Controller);
    #[wasm_bindgen(method, getter, js_class = "AbortController")]
    pub fn signal(this: &Controller) -> web_sys::AbortSignal;
    #[wasm_bindgen(js_name = clearTimeout)]
    pub fn clear_timeout(id: &JsValue);
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn perf_now() -> f64;
}

/// The current time on both clocks.
pub fn now() -> Now {
    Now {
        wall: js_sys::Date::now(),
        mono: perf_now(),
    }
}

/// The own properties `keys` (space-separated) of `obj` (see `fields` in bindings.js),
/// or `None` when `obj` is not a plain object.
pub fn own(obj: &JsValue, keys: &str) -> Option<js_sys::Array> {
    let v = fields(obj, keys, MAX_TOKEN_LEN as u32 + 1);
    (!v.is_undefined()).then(|| v.unchecked_into())
}

/// The stored entry under `key`, parsed in JS (see `load` in bindings.js).
pub fn load_entry(area: &Area, key: &JsValue) -> Result<JsValue, JsValue> {
    load(area, key, MAX_BODY_BYTES as u32)
}

/// `obj[key]` as an own property, or `undefined` (not an object, inherited, or a
/// getter that throws).
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    own(obj, key).map_or(JsValue::UNDEFINED, |a| a.get(0))
}
