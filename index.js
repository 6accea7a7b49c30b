// mdh-token: the package entry. It initialises the wasm once (located next to this
// file with `new URL(..., import.meta.url)`, which bundlers understand) and creates
// managers. All logic lives in the wasm.
import init, { TokenManager } from "./pkg/mdh_token.js";

let ready;

/** @type {import("./index").createTokenManager} */
export async function createTokenManager(options) {
  ready ??= init({ module_or_path: new URL("./pkg/mdh_token_bg.wasm", import.meta.url) });
  await ready;
  return TokenManager.create(options);
}

export { TokenManager };
