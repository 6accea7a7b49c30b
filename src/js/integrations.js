// The integrations on top of a manager: attachSdk, serveFrames, fetch and devtools.
// They are adapters over the public methods (getToken, peek, on, status, refresh,
// clear, setLogLevel) plus four hidden ones (__base, __nudge, __log, __onDestroy), so
// they need nothing of the core. Written in JS because each is a handful of JS calls:
// through wasm-bindgen the same code was 4.8 kB of gzipped wasm; this file is 1.8 kB
// minified and gzipped on its own, less inside the bundle. src/js/entry.js puts them on
// TokenManager.prototype.

import { bad, baseUrl, get, own } from "./options.js";

export const WARN = 2;
const DEBUG = 4, HELD = 4;

// A function that runs `f` at most once.
function once(f) {
  return () => {
    const g = f;
    f = null;
    if (g) g();
  };
}

// Marks `p` handled (no unhandledrejection for a promise nobody looked at).
function quiet(p) {
  p.catch(() => {});
  return p;
}

// The SDK's token object: the whole seconds left now, so a restored token is not
// stretched.
const sdkToken = (t) => ({
  access_token: t.access_token,
  token_type: t.token_type,
  expires_in: t.expires_in,
});

// `scheme://host[:port]` exactly as MessageEvent.origin spells it, or null.
function exactOrigin(s) {
  let origin;
  try {
    origin = new URL(s).origin;
  } catch {
    return null;
  }
  return origin !== "null" && origin === (s.endsWith("/") ? s.slice(0, -1) : s) ? origin : null;
}

// A RequestInit without a prototype: the Request constructor reads inherited members
// too, so a polluted Object.prototype (`.body`, `.headers`, `.redirect`) must not be one.
const bare = (o) => Object.assign(Object.create(null), o);

// Sends `Authorization: Bearer …` to `allowed` only, never along a redirect (the browser
// would drop the header cross-origin, but a same-origin hop could still carry it where
// it was not meant to go); on a 401 renews once and replays once when the body can be
// replayed.
async function authFetch(m, allowed, input, init) {
  const req = new Request(input, init == null ? undefined : bare(init));
  if (new URL(req.url).origin !== allowed) {
    throw bad("fetch() sends the token only to the origin of baseUrl");
  }
  const streamed = init != null && typeof ReadableStream !== "undefined" && init.body instanceof ReadableStream;
  const replay = streamed ? null : req.clone();
  const send = (r, t) => {
    const headers = new Headers(r.headers);
    headers.set("Authorization", "Bearer " + t.access_token);
    return fetch(new Request(r, bare({ headers, redirect: "error" })));
  };
  const res = await send(req, await m.getToken());
  if (res.status !== 401 || !replay) return res;
  let fresh;
  try {
    fresh = await m.refresh();
  } catch {
    return res;
  }
  return send(replay, fresh);
}

// Whether `w` is one of this page's frames.
function isFrame(w) {
  for (let i = 0; i < window.frames.length; i++) if (window.frames[i] === w) return true;
  return false;
}

const HELP = `mdh-token devtools:
  mdhToken.status()      state, time left, renewal point, broker calls (token masked)
  mdhToken.refresh()     force a renewal; resolves with status()
  mdhToken.clear()       forget the token here and in other tabs
  mdhToken.logLevel(l)   silent | error | warn | info | debug
  mdhToken.help()        this text`;

const methods = {
  // Pushes the current token (getting one first if needed) and each new one exactly
  // once into MyDataHelps.js, and renews on its tokenWillExpire only when the token
  // really is due. Returns detach(), whose `ready` settles after the first push.
  attachSdk(sdk, options) {
    const base = this.__base(); // throws once the manager stopped on a bug
    const url = baseUrl(options, base);
    const revive = get(options, "revive") ?? true;
    if (typeof revive !== "boolean") throw bad("revive must be a boolean");
    const setToken = get(sdk, "setParticipantAccessToken"), on = get(sdk, "on"), off = get(sdk, "off");
    if (typeof setToken !== "function" || typeof on !== "function" || typeof off !== "function") {
      throw bad("attachSdk expects MyDataHelps (setParticipantAccessToken, on, off)");
    }
    // Revive: MyDataHelps.js 5.7.0's connect() refuses every call once its token is past
    // `tokenExpires` (L1029-1036; setParticipantAccessToken sets it, L1049) and, before
    // its first token, leaves calls waiting for a host app that is not there
    // (L1037-1041). MyDataHelps UI views load once per mount and again only on the SDK
    // event applicationDidBecomeVisible. So the first push after such a gap (at attach,
    // after an expiry, after a clear) raises that event once, through the SDK's own
    // triggerEvent (L335-342: it runs the handlers of `event.type`). Ordinary renewals,
    // made while the SDK's token is still valid, raise nothing.
    let last, sent, until = +get(sdk, "tokenExpires") || 0;
    const push = (t) => {
      const access = get(t, "access_token");
      if (typeof access !== "string" || access === last) return;
      last = access;
      const gap = Date.now() >= until;
      until = Date.now() + t.expires_in * 1000;
      try {
        setToken.call(sdk, (sent = sdkToken(t)), url);
        if (gap && revive) sdk.triggerEvent?.({ type: "applicationDidBecomeVisible" });
      } catch {
        this.__log(WARN, "MyDataHelps threw on a new token");
      }
    };
    // Surveys: MyDataHelps.js 5.7.0 answers a survey frame's GetDelegatedAccessToken
    // with the object it was last given (`mdh.token`) after a getParticipantInfo() that
    // rejects once that token expired, and the survey hangs (startDelegatedSurvey,
    // L1765-1768). This capture listener runs before the SDK's (added by each
    // startSurvey): with a usable token it makes the SDK's copy current, seconds left
    // included; without one it holds the request back and delivers it again once the
    // manager has a token (getToken() now, else its next renewal). At most HELD wait,
    // the newest: the SDK shows one survey at a time, whose frame asks as it loads;
    // the rest is room for other frames of that origin (serveFrames') asking meanwhile.
    const frames = new URL(url).origin;
    const win = typeof window == "object" ? window : null;
    let held = [], again;
    const deliver = () => {
      for (const ev of held.splice(0)) {
        again = new MessageEvent("message", { data: ev.data, origin: ev.origin, source: ev.source });
        win.dispatchEvent(again);
      }
      again = null;
    };
    const onFrame = (ev) => {
      if (ev === again || ev.origin !== frames || get(ev.data, "name") !== "GetDelegatedAccessToken") return;
      const t = this.peek();
      if (t) {
        push(t);
        if (sent) sent.expires_in = t.expires_in;
        return;
      }
      ev.stopImmediatePropagation();
      if (held.push(ev) > HELD) held.shift();
      this.getToken().catch(() => this.__log(WARN, "a survey waits for a token"));
    };
    win?.addEventListener("message", onFrame, true);
    // Before its first token, MyDataHelps.js's connect() asks its host app for one by
    // posting { name: "GetDelegatedAccessToken", messageID } to window.parent (L1007-1026,
    // L1488-1493), which at the top level is the page itself. Delivered once a push made
    // the SDK standalone (it then accepts its own origin, L1386), that request reaches
    // setActionResult (L343-347) as the host's answer: the SDK drops the token it was
    // just given (`mdh.token = null`) and rejects the waiting call with undefined. Its
    // message listener was added before ours, so it is filtered here: a request is never
    // an answer (answers carry `success`). The waiting call then waits, as it does when
    // the request is refused; revive re-runs the views.
    const answer = get(sdk, "setActionResult");
    const filter = function (data) {
      if (get(data, "name") !== "GetDelegatedAccessToken" || get(data, "success") !== undefined) return answer.apply(this, arguments);
    };
    try {
      if (typeof answer == "function") sdk.setActionResult = filter;
    } catch {}
    // Every push stacks a never-cleared timer in MyDataHelps.js 5.7, hence `last`.
    const unsubscribe = [
      this.on("token", (t) => {
        push(t);
        if (held.length) queueMicrotask(deliver);
      }),
      this.on("cleared", () => (until = 0)),
    ];
    // Only while a token is held: MyDataHelps.js never clears the timer of an earlier
    // token, and after clear() (a sign-out) that timer must not fetch a new one.
    const willExpire = () => this.peek() && this.__nudge();
    try {
      on.call(sdk, "tokenWillExpire", willExpire);
    } catch {}
    const current = this.peek();
    const ready = current === null ? this.getToken().then((t) => (push(t), true)) : (push(current), Promise.resolve(true));
    const detach = once(() => {
      unsubscribe.map((f) => f());
      win?.removeEventListener("message", onFrame, true);
      held = [];
      try {
        if (sdk.setActionResult === filter) sdk.setActionResult = answer;
      } catch {}
      try {
        off.call(sdk, "tokenWillExpire", willExpire);
      } catch {}
    });
    detach.ready = quiet(ready);
    this.__onDestroy(detach);
    return detach;
  },

  // Answers GetDelegatedAccessToken from frames whose origin is exactly in `origins`,
  // posting to that origin only (MyDataHelps.js posts to "*"; we never do).
  serveFrames(options) {
    const base = this.__base();
    const list = own(options, "origins");
    if (!Array.isArray(list) || !list.every((o) => typeof o === "string")) {
      throw bad("serveFrames needs origins: a list of exact origins");
    }
    const url = baseUrl(options, base);
    if (list.length === 0) throw bad('serveFrames needs origins: a list like ["https://mydatahelps.org"]');
    const origins = list.map(exactOrigin);
    if (origins.includes(null)) {
      throw bad('serveFrames origins must be exact origins (scheme://host[:port]), never "*"');
    }
    const participant = own(options, "participantId");
    const anyWindow = own(options, "anyWindow");
    if (anyWindow !== undefined && typeof anyWindow !== "boolean") throw bad("anyWindow must be a boolean");
    if (participant !== undefined && typeof participant !== "string") throw bad("participantId must be a string");
    if (typeof window === "undefined") throw bad("serveFrames needs a window");
    const onMessage = (ev) => {
      if (!origins.includes(ev.origin)) {
        this.__log(DEBUG, "ignored a message from an origin not in serveFrames' list");
        return;
      }
      const source = ev.source;
      if (get(ev.data, "name") !== "GetDelegatedAccessToken" || !source) return;
      // A frame of this page, not any window at a listed origin (a popup, an opener).
      if (!anyWindow && !isFrame(source)) {
        this.__log(DEBUG, "ignored a token request from a window that is not a frame of this page");
        return;
      }
      this.getToken().then(
        (t) => {
          const msg = { name: "DelegatedAccessTokenResponse", accessToken: sdkToken(t), baseUrl: url };
          if (participant !== undefined) msg.participantID = participant;
          if (typeof source.postMessage === "function") source.postMessage(msg, ev.origin);
        },
        () => this.__log(WARN, "could not answer a frame: no token"),
      );
    };
    window.addEventListener("message", onMessage);
    const stop = once(() => window.removeEventListener("message", onMessage));
    this.__onDestroy(stop);
    return stop;
  },

  // fetch with Authorization: Bearer … for the origin of baseUrl.
  fetch(input, init) {
    let allowed;
    try {
      allowed = new URL(this.__base()).origin;
    } catch (e) {
      return Promise.reject(e);
    }
    return authFetch(this, allowed, input, init);
  },
};

// `globalThis[name]` with status/refresh/clear/logLevel/help, removed on destroy().
// Nothing it prints or returns contains the token.
function devtools(m, name) {
  const status = () => {
    const s = m.status();
    console.table(s);
    return s;
  };
  const o = {
    status,
    refresh: () =>
      quiet(
        m.refresh().then(status, (e) => {
          status();
          throw e;
        }),
      ),
    clear: () => m.clear(),
    logLevel(l) {
      try {
        m.setLogLevel(l);
        return true;
      } catch {
        console.warn("mdh-token: logLevel takes silent, error, warn, info or debug");
        return false;
      }
    },
    help: () => console.info(HELP),
  };
  globalThis[name] = o;
  m.__onDestroy(() => {
    if (globalThis[name] === o) delete globalThis[name];
  });
}

// For src/js/entry.js (through the wasm, which is the one module that imports this one):
// the methods to put on TokenManager.prototype, and the devtools installer.
export function integrations() {
  return [methods, devtools];
}
