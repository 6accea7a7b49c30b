// The package's JS entry, bundled by scripts/build.sh with the wasm-bindgen glue and
// its snippets into pkg/mdh_token.js (so `./mdh_token_bg.wasm` below is next to the
// bundle); index.js re-exports createTokenManager from there. It initialises the wasm
// once (`new URL(..., import.meta.url)`, which bundlers understand) and creates
// managers. The lifecycle lives in the wasm; the integrations (attachSdk, serveFrames,
// fetch, devtools: src/web/integrations.js) are JS methods over the public API.
import init, { TokenManager } from "../pkg/mdh_token.js";

// The glue too, for the tests and the bench (wasm memory, instanceof checks).
export { init as default, TokenManager };

let ready, devtools;
const { getToken, peek } = TokenManager.prototype;

// MyDataHelps.js's connectExternalAccount popup comes back to this page with
// ?connectExternalAccount=…&messageID=…&success=…, where its constructor posts the
// result to the opener (or a BroadcastChannel) and closes the window (5.7.0 L1361,
// L1788-1806; the same test). A manager there is passive: memory, no channel, no lock,
// no timer-driven renewal, and getToken()/refresh() reject with code "passive" instead
// of calling the broker.
const PASSIVE = { storage: "memory", crossTab: false, autoRefresh: false };
function passive() {
  try {
    const q = new URLSearchParams(document.location.search);
    return !!(q.get("connectExternalAccount") && q.get("messageID") && q.get("success"));
  } catch {
    return false; // no document: a worker
  }
}
const refuse = () =>
  Promise.reject(
    Object.assign(new Error("mdh-token: passive on a connectExternalAccount return page: no broker call here"), {
      name: "TokenError",
      code: "passive",
      status: 0,
    }),
  );

/** @type {import("../index").createTokenManager} */
export async function createTokenManager(options) {
  // A failed load (offline, CSP) is not cached: the next call tries again.
  ready ??= init({ module_or_path: new URL("./mdh_token_bg.wasm", import.meta.url) }).then(
    () => {
      let methods;
      [methods, devtools] = TokenManager.__integrations();
      Object.assign(TokenManager.prototype, methods);
    },
    (e) => {
      ready = undefined;
      throw e;
    },
  );
  await ready;
  // Hot path: the wasm publishes a token object with the wall time until which
  // handing it out again is exactly what it would do (and withdraws it on any change),
  // so most getToken()/peek() calls never cross into wasm (see bench/).
  let token = null, from = 0, until = 0;
  const inert = passive() && typeof options == "object" && options !== null && !Array.isArray(options);
  // A copy of the own properties (the only ones read as options) with PASSIVE's on top.
  const m = TokenManager.create(inert ? { ...options, ...PASSIVE } : options, (t, u) => {
    token = t;
    from = Date.now();
    until = u;
  });
  const fresh = () => {
    const now = Date.now();
    return token !== null && now < until && now >= from;
  };
  m.getToken = () => (fresh() ? Promise.resolve(token) : getToken.call(m));
  m.peek = () => (fresh() ? token : peek.call(m));
  if (inert) {
    m.getToken = m.refresh = refuse;
    m.__nudge = () => {};
  }
  const name = m.__devtools();
  if (name) devtools(m, name);
  return m;
}
