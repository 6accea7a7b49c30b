// The package's JS entry, bundled by scripts/build.sh with the wasm-bindgen glue and
// its snippets into pkg/mdh_token.js, with the wasm inside (src/js/wasm.js, whose
// `./mdh_token_bg.wasm` for engines without DecompressionStream is next to the bundle);
// package.json's exports name that bundle. It initialises the wasm once and creates
// managers. The lifecycle lives in the wasm; the integrations (attachSdk, serveFrames,
// fetch, devtools: src/js/integrations.js) are JS methods over the public API.
// First: its evaluation starts loading the wasm (src/js/wasm.js).
import { compiled, inBrowser } from "./wasm.js";
import { initSync, TokenManager } from "../../pkg/mdh_token.js";
import { devtools, methods, WARN } from "./integrations.js";

// The module exports createTokenManager alone, as index.d.ts declares: nothing of the
// wasm's own exports or the glue is reachable through it (the bench finds the wasm
// memory from outside, mdh-token/react imports its TokenError from pkg/errors.js,
// mdh-token/testing's loadWasm() loads through createTokenManager).
let ready, warned;
const { getToken, peek } = TokenManager.prototype;

// The one TokenError constructor.
import { tokenError as fail } from "./errors.js";
import { own } from "./options.js";
// For a place mdh-token cannot run.
const unsupported = (detail) => fail("unsupported_environment", detail);

// MyDataHelps.js's connectExternalAccount popup (openNewWindow) comes back to this page
// with ?connectExternalAccount=…&messageID=…&success=…, where its constructor posts the
// result to window.opener (with no opener, on a BroadcastChannel) and closes the window
// (5.7.0 L653-726, L1788-1807). A manager there is passive: memory, no channel, no lock,
// no timer-driven renewal, and getToken()/refresh() reject with code "passive" instead
// of calling the broker. The URL alone is a link anyone can send, bookmark or reload:
// passive needs an opener of this origin too, which only this origin's own script can
// make (reading `opener.origin` throws for any other). A popup whose opener a provider's
// Cross-Origin-Opener-Policy severed is a normal page, as short-lived as the SDK makes
// it: its token comes from storage or the other tabs.
function passive() {
  try {
    const q = new URLSearchParams(document.location.search);
    return q.get("connectExternalAccount") && q.get("messageID") && q.get("success") && opener.origin === origin;
  } catch {
    return false; // no document (a worker), or no opener of this origin
  }
}
// The options as read (own properties; a getter that throws reads as undefined, as in
// own() of options.js), with the passive ones on top.
function passiveOptions(o) {
  const c = {};
  try {
    for (const k of Object.keys(o)) {
      try {
        c[k] = o[k];
      } catch {}
    }
  } catch {}
  return Object.assign(c, { storage: "memory", crossTab: false, autoRefresh: false });
}
const refuse = () => Promise.reject(fail("passive", "passive on a connectExternalAccount return page: no broker call here"));

// Instantiates the wasm (compiled by src/js/wasm.js) through the glue's initSync (its
// async init adds a second loader, with a console message) and adds the integrations.
// A failure is not kept: the next createTokenManager() tries again.
function load() {
  return compiled()
    .then((module) => {
      initSync({ module });
      Object.assign(TokenManager.prototype, methods);
    })
    .catch((e) => {
      ready = undefined;
      throw e;
    });
}

// Importing also instantiates the wasm as soon as it is compiled (in a page or a worker;
// never on a server), so that createTokenManager() finds it ready instead of adding a
// round trip. A failure here is not final: load() forgets it, and the first
// createTokenManager() tries again and reports it.
if (inBrowser()) {
  try {
    (ready = load()).catch(() => {});
  } catch {
    ready = undefined; // no fetch here (a test DOM): createTokenManager() reports it
  }
}

/** @type {import("../index").createTokenManager} */
export async function createTokenManager(options) {
  // A page or a worker (a server-side render has neither): importing is side-effect
  // free everywhere, creating is not.
  if (!inBrowser()) {
    throw unsupported("needs a browser page or worker; with SSR, create it on the client (e.g. in useEffect)");
  }
  ready ??= load();
  await ready;
  // Hot path: the wasm publishes a token object with the wall time until which
  // handing it out again is exactly what it would do (and withdraws it on any change),
  // so most getToken()/peek() calls never cross into wasm (see bench/). getToken()
  // hands out one promise per published token: resolving a token object anew on each
  // call costs V8 a lookup of its `then` (≈ 12 ns of ≈ 50). Made at the first call, not
  // in the sink, which the wasm calls mid-work: that lookup may run a getter a page
  // planted on Object.prototype, and the getter may call into the manager.
  let token = null, promise = null, from = 0, until = 0;
  const inert = passive() && typeof options == "object" && options !== null;
  const m = TokenManager.create(inert ? passiveOptions(options) : options, (t, u) => {
    token = t;
    promise = null;
    from = Date.now();
    until = t === null ? 0 : u;
  });
  const fresh = () => {
    const now = Date.now();
    return now < until && now >= from;
  };
  m.getToken = () => (fresh() ? (promise ??= Promise.resolve(token)) : getToken.call(m));
  m.peek = () => (fresh() ? token : peek.call(m));
  if (inert) {
    m.getToken = m.refresh = refuse;
    m.__nudge = () => {};
  }
  // Without participant a manager adopts the token the origin's tabs announce, whoever
  // it belongs to (docs/security.md, Shared devices); a worker outlives sign-outs: say
  // so, once.
  if (!warned && typeof WorkerGlobalScope != "undefined" && own(options, "participant") === undefined) {
    warned = 1;
    m.__log(WARN, "a worker without participant may use another participant's token");
  }
  const name = m.__devtools();
  if (name) devtools(m, name);
  return m;
}
