//! Bindings we declare ourselves. Like gloo, we bind `setTimeout`, `fetch` and
//! `performance` on the global object rather than on `Window`, so the shell also runs
//! in workers; Web Locks sit behind `web_sys_unstable_apis`, so a few lines of JS
//! glue are cheaper than that feature set. Callbacks go to a manager's mailbox
//! (`mailbox.rs`) as `mailbox(kind, id, value)`.

use crate::core::Now;
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

#[wasm_bindgen(inline_js = r#"
export function hasLocks() {
  return typeof navigator !== "undefined" && !!navigator.locks && typeof navigator.locks.request === "function";
}
// The cross-tab lock of participant `scope` under `key`, `${key}:refresh${scope}`:
// resolves with a release function once held; rejects if `signal` aborts first.
export function lock(key, scope, signal) {
  return new Promise((granted, fail) => {
    navigator.locks.request(key + ":refresh" + scope, { signal }, () => new Promise((release) => granted(release))).catch(fail);
  });
}
// A broker function's answer: settles like `f({ signal, reason })` (rejects when it
// throws), or rejects as soon as `signal` aborts (a broker function may ignore it). Its
// promise is always handled, also when `signal` had already aborted (no unhandled
// rejection).
export function ask(f, signal, reason) {
  let p;
  try {
    p = f({ signal, reason });
  } catch (e) {
    return Promise.reject(e);
  }
  return new Promise((res, rej) => {
    Promise.resolve(p).then(res, rej);
    if (signal.aborted) return rej(signal.reason);
    signal.addEventListener("abort", () => rej(signal.reason), { once: true });
  });
}
// The own properties `keys` of a plain object, as an array (undefined when `v` is not one):
// never inherited ones (a polluted Object.prototype), never a getter's exception, and
// strings cut just past the longest token we accept, so that a huge value never
// crosses into wasm memory.
export function fields(v, keys) {
  try {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return;
    return keys.split(" ").map((k) => {
      const x = Object.prototype.hasOwnProperty.call(v, k) ? v[k] : undefined;
      return typeof x === "string" && x.length > 16385 ? x.slice(0, 16385) : x;
    });
  } catch {
    // a revoked Proxy, a throwing getter: not a plain object
  }
}
// A stored entry, parsed here so that its text never crosses into wasm: undefined when
// absent, null when corrupt or larger than an entry can be.
export function load(area, key) {
  const s = area.getItem(key);
  if (s === null) return undefined;
  if (s.length > 65536) return null;
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}
// Posts `msg` on a channel of its own (for clear() after destroy(), when ours is closed).
export function tell(name, msg) {
  try {
    const c = new BroadcastChannel(name);
    c.postMessage(msg);
    c.close();
  } catch {}
}
// The frozen token object getToken() and peek() hand out. `Object.freeze` as it was
// when the package loaded: the wasm calls this mid-work, and a page's replacement
// could call into the manager from there.
const freeze = Object.freeze;
export function tokenObject(access_token, expires_in, expires_at) {
  return freeze({ access_token, token_type: "Bearer", expires_in, expires_at });
}
// A stored or broadcast entry; `p` only with a participant.
export function entry(v, access_token, issued_at, expires_at, p) {
  const e = { v, access_token, issued_at, expires_at };
  if (p !== undefined) e.p = p;
  return e;
}
// A channel message { t, e?, n?, p?, s? }.
export function message(t, e, n, p, s) {
  const m = { t };
  if (e !== undefined) m.e = e;
  if (n !== undefined) m.n = n;
  if (p !== undefined) m.p = p;
  if (s !== undefined) m.s = s;
  return m;
}
// status(): a plain object without the token: only its first 6 characters and its
// length (a b64token is ASCII: UTF-16 units are bytes). NaN: null.
export function status(state, expiresIn, expiresAt, renewAt, nextAttemptAt, brokerCalls, lastError, storage, broadcastChannel, webLocks, token) {
  const n = (x) => (x === x ? x : null);
  return {
    state, expiresIn: n(expiresIn), expiresAt: n(expiresAt), renewAt: n(renewAt), nextAttemptAt: n(nextAttemptAt),
    brokerCalls, lastError: lastError ?? null, storage, crossTab: { broadcastChannel, webLocks }, token: token === undefined ? null : token.slice(0, 6) + "…(" + token.length + ")",
  };
}
// status() of a manager a bug stopped.
export function stopped(state, lastError) { return { state, lastError }; }
// Writes an entry (throws where storage refuses: quota, sandbox).
export function save(area, key, value) { area.setItem(key, JSON.stringify(value)); }
// The getToken()/refresh() callers waiting for the next settlement: `wait()` adds one,
// `settle(ok, v)` resolves (or rejects) them all with `v`.
export function waiters() {
  let list = [];
  return {
    wait: () => new Promise((res, rej) => list.push([res, rej])),
    settle(ok, v) {
      const l = list;
      list = [];
      for (const w of l) w[ok ? 0 : 1](v);
    },
  };
}
// Every callback into the wasm goes to one function per manager, mailbox(kind, id, value),
// so the wasm holds one closure instead of one per timer, listener and promise.
export function after(ms, mailbox, kind, id) { return setTimeout(() => mailbox(kind, id), ms); }
// Settles into mailbox(kind, id, value), or mailbox(kind + 1, id, reason).
export function pipe(p, mailbox, kind, id) {
  Promise.resolve(p).then((v) => mailbox(kind, id, v), (e) => mailbox(kind + 1, id, e)).catch(() => {});
}
// The app's event listeners: `on(kind, f)` returns the function that removes it
// (calling it twice is harmless); `emit(kind, v)` calls each listener of `kind` in turn,
// as they were when it began, and returns how many threw; `clear()` removes all.
export function listeners() {
  let list = [];
  return {
    on(kind, f) {
      const l = [kind, f];
      list = list.concat([l]);
      return () => { list = list.filter((x) => x !== l); };
    },
    emit(kind, v) {
      let threw = 0;
      for (const [k, f] of list) {
        if (k === kind) {
          try {
            f(v);
          } catch {
            threw++;
          }
        }
      }
      return threw;
    },
    clear() { list = []; },
  };
}
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
// This tab's presence lock, `${key}:tab${scope}:` and a random `id`, held until
// `release()` (also called before the grant); `peers()` resolves with the ids of the
// other tabs of `scope` holding theirs, undefined when they cannot be listed.
export function presence(key, scope) {
  const prefix = key + ":tab" + scope + ":", id = Math.floor(Math.random() * 1e15).toString(36);
  let release, done = false;
  navigator.locks.request(prefix + id, () => new Promise((r) => { if (done) r(); else release = r; })).catch(() => {});
  return {
    id,
    release() { done = true; if (release) release(); },
    peers: () => navigator.locks.query().then(
      (s) => s.held.map((l) => l.name).filter((n) => n.startsWith(prefix) && n !== prefix + id).map((n) => n.slice(prefix.length)),
      () => undefined,
    ),
  };
}
// localStorage or sessionStorage; throws where the page may not use it (sandboxed
// frames, some private modes) or where there is none (workers).
export function storage(local) {
  const s = local ? localStorage : sessionStorage;
  if (!s) throw 0;
  return s;
}
// console.error/warn/info/debug (levels 1 to 4) with our prefix (and a code after it).
// A page whose console throws gets no line, and loses nothing else: an exception here
// would cut the manager's work short.
export function log(level, msg, detail = "") {
  try {
    console[["error", "warn", "info", "debug"][level - 1]]("mdh-token: " + msg + detail);
  } catch {}
}
// The broker POST: fetch plumbing only; the core judges the answer. The body says why
// ({"reason":"initial"|"scheduled"|"forced"|"expired"}, for the broker's cache); its JSON
// type is not CORS-safelisted, so no cross-site form can forge this request. Resolves with
// [status, Retry-After] for an error status, [status, null, body] for a 2xx and [0]
// for a redirect (never followed: a token endpoint must not redirect).
// The body is read up to 64 KiB (a token response is well under 20 KiB) and parsed
// here: [status, null, object-or-null]; null past the cap or when it is not JSON. The
// request's init has no prototype, so a polluted Object.prototype adds nothing to it.
// With `participant`, the body names it too, so that the broker can refuse a page bound
// to another participant than its session's (a shared computer after a sign-in elsewhere).
export async function post(url, headers, credentials, signal, reason, participant) {
  headers.set("Content-Type", "application/json");
  const init = Object.assign(Object.create(null), { method: "POST", headers, credentials, redirect: "manual", signal, body: JSON.stringify({ reason, participant }) });
  const r = await fetch(url, init);
  if (r.type === "opaqueredirect") return [0];
  if (!r.ok) return [r.status, r.headers.get("retry-after")];
  return [r.status, null, await capped(r, 65536)];
}
async function capped(r, max) {
  const reader = r.body && r.body.getReader(), parts = [];
  if (!reader) return null;
  for (let n = 0, x; !(x = await reader.read()).done; parts.push(x.value)) {
    if ((n += x.value.length) > max) return reader.cancel().catch(() => {}), null;
  }
  try {
    return JSON.parse(await new Blob(parts).text());
  } catch {
    return null;
  }
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = hasLocks)]
    pub fn has_locks() -> bool;
    pub fn lock(key: &JsValue, scope: &JsValue, signal: &web_sys::AbortSignal) -> Promise;
    pub fn ask(f: &Function, signal: &web_sys::AbortSignal, reason: &str) -> Promise;
    fn fields(v: &JsValue, keys: &str) -> JsValue;
    #[wasm_bindgen(catch)]
    pub fn load(area: &Area, key: &JsValue) -> Result<JsValue, JsValue>;
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
    /// A Web Storage area (see `storage` above; the key a JS string).
    pub type Area;
    #[wasm_bindgen(method, catch, js_name = removeItem)]
    pub fn remove_item(this: &Area, key: &JsValue) -> Result<(), JsValue>;
    /// The waiting callers (see `waiters` above).
    pub type Waiters;
    pub fn waiters() -> Waiters;
    #[wasm_bindgen(method)]
    pub fn wait(this: &Waiters) -> Promise;
    #[wasm_bindgen(method)]
    pub fn settle(this: &Waiters, ok: bool, v: &JsValue);
    pub fn after(ms: f64, mailbox: &Function, kind: u32, id: f64) -> JsValue;
    pub fn pipe(p: &Promise, mailbox: &Function, kind: u32, id: f64);
    /// The app's listeners (see `listeners` above).
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
    /// This tab's presence lock (see `presence` above).
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
    pub fn post(
        url: &JsValue,
        headers: &JsValue,
        credentials: &str,
        signal: &web_sys::AbortSignal,
        reason: &str,
        participant: &JsValue,
    ) -> Promise;
}

// The one TokenError constructor, shared with options.js, the entry and mdh-token/react.
#[wasm_bindgen(module = "/src/js/errors.js")]
extern "C" {
    #[wasm_bindgen(js_name = tokenError)]
    pub fn token_error(code: &str, detail: &str, status: u16, retry_at: Option<f64>) -> JsValue;
}

// The integrations (attachSdk, serveFrames, fetch, devtools): JS over the public API.
#[wasm_bindgen(module = "/src/js/integrations.js")]
extern "C" {
    pub fn integrations() -> JsValue;
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

/// The own properties `keys` (space-separated) of `obj` (see `fields` above), or
/// `None` when `obj` is not a plain object.
pub fn own(obj: &JsValue, keys: &str) -> Option<js_sys::Array> {
    let v = fields(obj, keys);
    (!v.is_undefined()).then(|| v.unchecked_into())
}

/// `obj[key]` as an own property, or `undefined` (not an object, inherited, or a
/// getter that throws).
pub fn get(obj: &JsValue, key: &str) -> JsValue {
    own(obj, key).map_or(JsValue::UNDEFINED, |a| a.get(0))
}
