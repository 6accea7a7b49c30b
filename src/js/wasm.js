// The wasm: fetched and compiled from the moment the package is imported. entry.js
// imports this module first, so in the bundle (scripts/build.sh) the fetch is the first
// thing the module's evaluation does, before the glue's and the entry's own set-up.
import { tokenError } from "./errors.js";

// The wasm, next to the bundle. Vite's dev server pre-bundles dependencies into
// node_modules/.vite/deps/ without the wasm (vitejs/vite#8427) and answers its
// index.html there instead: from there, take the one in the installed package.
function wasmUrl() {
  const url = new URL("./mdh_token_bg.wasm", import.meta.url);
  return /\/\.vite\/deps\//.test(url.pathname) ? new URL("../../mdh-token/pkg/mdh_token_bg.wasm", url) : url;
}

// Fetches the wasm and compiles it while it streams in. Compiled from the bytes instead
// where the engine cannot stream (no compileStreaming) or the server sends another type
// than application/wasm (compileStreaming refuses that before reading the body).
function compile() {
  const url = wasmUrl(), res = fetch(url);
  const bytes = async (e) => {
    // (When the fetch itself failed, `await res` rethrows that same error.)
    const r = await res, type = r.headers.get("content-type");
    // A page instead of the wasm: a dev server's fallback for a file it does not have.
    if (/^text\/html/.test(type)) {
      throw tokenError("unsupported_environment",
        `${url} is a web page, not the wasm (Vite dev server? add optimizeDeps: { exclude: ["mdh-token"] })`);
    }
    if (!r.ok) throw new Error(`mdh-token: ${url}: HTTP ${r.status}`);
    if (e && (r.bodyUsed || /^application\/wasm/.test(type))) throw e;
    return WebAssembly.compile(await r.arrayBuffer());
  };
  return WebAssembly.compileStreaming ? WebAssembly.compileStreaming(res).catch(bytes) : bytes();
}

let compiling;

// Whether this is a page or a worker, where mdh-token runs (a server-side render has
// neither); asked each time.
export const inBrowser = () => typeof window !== "undefined" || typeof WorkerGlobalScope !== "undefined";

// The compiled module, once per page. A failed load (offline, CSP, a 404) is not kept:
// the next call fetches again. Throws where there is no fetch (a test DOM).
export function compiled() {
  return (compiling ??= compile().catch((e) => {
    compiling = undefined;
    throw e;
  }));
}

// In a page or a worker (never on a server): start now. A failure here is reported by
// the first createTokenManager(), which tries again.
if (inBrowser()) {
  try {
    compiled().catch(() => {});
  } catch {}
}
