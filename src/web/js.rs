//! Bindings we declare ourselves. Like gloo, we bind `setTimeout`, `fetch` and
//! `performance` on the global object rather than on `Window`, so the shell also runs
//! in workers; Web Locks sit behind `web_sys_unstable_apis`, so a few lines of JS
//! glue are cheaper than that feature set.

use crate::core::{Field, Now, ResponseFields, StoredFields, STORE_VERSION};
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(inline_js = r#"
export function hasLocks() {
  return typeof navigator !== "undefined" && !!navigator.locks && typeof navigator.locks.request === "function";
}
// Resolves with a release function once the lock is held; rejects if `signal` aborts first.
export function lock(name, signal) {
  return new Promise((granted, fail) => {
    navigator.locks.request(name, { signal }, () => new Promise((release) => granted(release))).catch(fail);
  });
}
// Settles like `p`, or rejects as soon as `signal` aborts (a broker function may ignore it).
export function abortable(p, signal) {
  return new Promise((res, rej) => {
    if (signal.aborted) return rej(signal.reason);
    signal.addEventListener("abort", () => rej(signal.reason), { once: true });
    Promise.resolve(p).then(res, rej);
  });
}
export function freeze(o) { return Object.freeze(o); }
// Every callback into the wasm goes to one function per manager, mailbox(kind, id, value),
// so the wasm holds one closure instead of one per timer, listener and promise.
export function after(ms, mailbox, kind, id) { return setTimeout(() => mailbox(kind, id), ms); }
export function soon(mailbox, kind, id) { queueMicrotask(() => mailbox(kind, id)); }
// Settles into mailbox(kind, id, value), or mailbox(kind + 1, id, reason).
export function pipe(p, mailbox, kind, id) {
  Promise.resolve(p).then((v) => mailbox(kind, id, v), (e) => mailbox(kind + 1, id, e)).catch(() => {});
}
// The `on()` unsubscribe function; a no-op once the manager itself is gone.
export function unsubscriber(mailbox, kind, id) { return () => { try { mailbox(kind, id); } catch {} }; }
// mailbox(kind) when the page may have slept: visible again, online, shown, focused.
// A worker has no document: it listens on its global, where only `online` may come
// (HTML fires it at WorkerGlobalScope; Chromium does not). Returns the function that stops.
export function wakeups(mailbox, kind) {
  const g = globalThis, doc = g.document;
  if (typeof g.addEventListener !== "function") return () => {};
  const wake = () => mailbox(kind, 0);
  const vis = () => { if (doc.visibilityState === "visible") wake(); };
  const names = ["online", "pageshow", "focus"];
  doc?.addEventListener("visibilitychange", vis);
  for (const n of names) g.addEventListener(n, wake);
  return () => {
    doc?.removeEventListener("visibilitychange", vis);
    for (const n of names) g.removeEventListener(n, wake);
  };
}
// The tabs' channel; messages go to mailbox(kind, 0, data).
export function channel(name, mailbox, kind) {
  const c = new BroadcastChannel(name);
  c.onmessage = (e) => mailbox(kind, 0, e.data);
  return c;
}
// Holds the lock `name` until the returned function is called (also before the grant).
export function hold(name) {
  let release, done = false;
  navigator.locks.request(name, () => new Promise((r) => { if (done) r(); else release = r; })).catch(() => {});
  return () => { done = true; if (release) release(); };
}
// How many locks named `prefix…` other than `own` are held; -1 when it cannot tell.
export function countLocks(prefix, own) {
  return navigator.locks.query().then(
    (s) => s.held.filter((l) => l.name.startsWith(prefix) && l.name !== own).length,
    () => -1,
  );
}
// localStorage or sessionStorage; throws where the page may not use it (sandboxed
// frames, some private modes) or where there is none (workers).
export function storage(local) {
  const s = local ? localStorage : sessionStorage;
  if (!s) throw 0;
  return s;
}
// console.error/warn/info/debug (levels 1 to 4) with our prefix.
export function log(level, msg) {
  console[["error", "warn", "info", "debug"][level - 1]]("mdh-token: " + msg);
}
// The broker POST: fetch plumbing only; the core judges the answer. Resolves with
// [status, Retry-After] for an error status, [status, null, body] for a 2xx and [0]
// for a redirect (never followed: a token endpoint must not redirect).
export async function post(url, headers, credentials, signal) {
  const r = await fetch(url, { method: "POST", headers, credentials, redirect: "manual", signal });
  if (r.type === "opaqueredirect") return [0];
  return r.ok ? [r.status, null, await r.text()] : [r.status, r.headers.get("retry-after")];
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = hasLocks)]
    pub fn has_locks() -> bool;
    pub fn lock(name: &str, signal: &web_sys::AbortSignal) -> Promise;
    pub fn abortable(p: &JsValue, signal: &web_sys::AbortSignal) -> Promise;
    pub fn freeze(o: &Object) -> Object;
    pub fn after(ms: f64, mailbox: &Function, kind: u32, id: f64) -> JsValue;
    pub fn soon(mailbox: &Function, kind: u32, id: f64);
    pub fn pipe(p: &Promise, mailbox: &Function, kind: u32, id: f64);
    pub fn unsubscriber(mailbox: &Function, kind: u32, id: f64) -> Function;
    pub fn wakeups(mailbox: &Function, kind: u32) -> Function;
    #[wasm_bindgen(catch)]
    pub fn channel(
        name: &str,
        mailbox: &Function,
        kind: u32,
    ) -> Result<web_sys::BroadcastChannel, JsValue>;
    pub fn hold(name: &str) -> Function;
    #[wasm_bindgen(js_name = countLocks)]
    pub fn count_locks(prefix: &str, own: &str) -> Promise;
    #[wasm_bindgen(catch)]
    pub fn storage(local: bool) -> Result<web_sys::Storage, JsValue>;
    pub fn log(level: u8, msg: &str);
    pub fn post(
        url: &str,
        headers: &JsValue,
        credentials: &str,
        signal: &web_sys::AbortSignal,
    ) -> Promise;
}

// The integrations (attachSdk, serveFrames, fetch, devtools): JS over the public API.
#[wasm_bindgen(module = "/src/web/integrations.js")]
extern "C" {
    pub fn integrations() -> JsValue;
}

#[wasm_bindgen]
extern "C" {
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

/// `obj[key]`, or `undefined` when `obj` is not an object or the getter throws.
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() {
        return JsValue::UNDEFINED;
    }
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

/// Sets `obj[key] = val` on an object we created (cannot throw).
pub fn set(obj: &Object, key: &str, val: &JsValue) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), val);
}

fn field(v: JsValue) -> Field {
    if let Some(s) = v.as_string() {
        Field::Str(s)
    } else if let Some(n) = v.as_f64() {
        Field::Num(n)
    } else if v.is_undefined() {
        Field::Missing
    } else {
        Field::Other
    }
}

/// Whether `v` is a plain data object (not an array, not null, not a function).
pub fn is_record(v: &JsValue) -> bool {
    v.is_object() && !js_sys::Array::is_array(v) && !v.is_function()
}

/// The RFC 6749 §5.1 fields of a response object.
pub fn response_fields(v: &JsValue) -> Option<ResponseFields> {
    is_record(v).then(|| ResponseFields {
        access_token: field(get(v, "access_token")),
        token_type: field(get(v, "token_type")),
        expires_in: field(get(v, "expires_in")),
    })
}

/// The fields of a stored or broadcast entry.
pub fn stored_fields(v: &JsValue) -> Option<StoredFields> {
    is_record(v).then(|| StoredFields {
        v: field(get(v, "v")),
        access_token: field(get(v, "access_token")),
        issued_at: field(get(v, "issued_at")),
        expires_at: field(get(v, "expires_at")),
    })
}

/// A stored/broadcast entry `{ v, access_token, issued_at, expires_at }`.
pub fn entry(t: &crate::core::Token) -> Object {
    let o = Object::new();
    set(&o, "v", &JsValue::from_f64(STORE_VERSION));
    set(&o, "access_token", &JsValue::from_str(t.access.secret()));
    set(&o, "issued_at", &JsValue::from_f64(t.issued_at));
    set(&o, "expires_at", &JsValue::from_f64(t.expires_at));
    o
}

/// `JSON.parse`, `None` on malformed text.
pub fn parse_json(s: &str) -> Option<JsValue> {
    js_sys::JSON::parse(s).ok()
}

/// A function's `.call1`, where an exception is a value, not a panic.
pub fn call1(f: &Function, arg: &JsValue) -> Result<JsValue, JsValue> {
    f.call1(&JsValue::UNDEFINED, arg)
}
