// @ts-check
// The JS the shell calls (src/web/bindings.rs declares each function): Web Locks, the
// channel, Web Storage, fetch, timers and the small objects handed to the page. Limits
// come from the wasm as arguments (their home is src/core/token.rs).

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
// strings cut at `cut`, just past the longest token the core accepts (its
// MAX_TOKEN_LEN), so that a huge value never crosses into wasm memory.
export function fields(v, keys, cut) {
  try {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return;
    return keys.split(" ").map((k) => {
      const x = Object.prototype.hasOwnProperty.call(v, k) ? v[k] : undefined;
      return typeof x === "string" && x.length > cut ? x.slice(0, cut) : x;
    });
  } catch {
    // a revoked Proxy, a throwing getter: not a plain object
  }
}
// A stored entry, parsed here so that its text never crosses into wasm: undefined when
// absent, null when corrupt or longer than `max` (the core's MAX_BODY_BYTES: an entry
// is smaller than the broker's answer it came from).
export function load(area, key, max) {
  const s = area.getItem(key);
  if (s === null) return undefined;
  if (s.length > max) return null;
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
// The body is read up to `max` bytes (the core's MAX_BODY_BYTES; a token response is well
// under 20 KiB) and parsed here: [status, null, object-or-null]; null past the cap or
// when it is not JSON. The
// request's init has no prototype, so a polluted Object.prototype adds nothing to it.
// With `participant`, the body names it too, so that the broker can refuse a page bound
// to another participant than its session's (a shared computer after a sign-in elsewhere).
export async function post(url, headers, credentials, signal, reason, participant, max) {
  headers.set("Content-Type", "application/json");
  const init = Object.assign(Object.create(null), { method: "POST", headers, credentials, redirect: "manual", signal, body: JSON.stringify({ reason, participant }) });
  const r = await fetch(url, init);
  if (r.type === "opaqueredirect") return [0];
  if (!r.ok) return [r.status, r.headers.get("retry-after")];
  return [r.status, null, await capped(r, max)];
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
