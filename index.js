// mdh-token: the package entry. It initialises the wasm once (located next to this
// file with `new URL(..., import.meta.url)`, which bundlers understand) and creates
// managers. All logic lives in the wasm.
import init, { TokenManager } from "./pkg/mdh_token.js";

let ready;

/** @type {import("./index").createTokenManager} */
export async function createTokenManager(options) {
  // A failed load (offline, CSP) is not cached: the next call tries again.
  ready ??= init({ module_or_path: new URL("./pkg/mdh_token_bg.wasm", import.meta.url) }).catch((e) => {
    ready = undefined;
    throw e;
  });
  await ready;
  return TokenManager.create(options);
}

// The class is not part of the typed API: create managers with createTokenManager.
