// mdh-token: the package entry. The code is in pkg/mdh_token.js (src/js/entry.js bundled
// with the wasm glue by scripts/build.sh), next to the wasm it loads.
export { createTokenManager } from "./pkg/mdh_token.js";
