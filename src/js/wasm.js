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
async function compile() {
  const url = wasmUrl();
  // A file: URL is a test runner's DOM (jsdom, happy-dom) in Node, whose fetch reads no
  // files: read it with Node's fs, reached at run time (no import a bundler would follow).
  if (url.protocol == "file:") {
    const fs = globalThis.process?.getBuiltinModule?.("fs");
    if (!fs) throw tokenError("unsupported_environment", "Node 20.16+ reads " + url);
    return WebAssembly.compile(fs.readFileSync(url));
  }
  const res = fetch(url);
  const bytes = async (e) => {
    // (When the fetch itself failed, `await res` rethrows that same error.)
    const r = await res, type = r.headers.get("content-type");
    // A page instead of the wasm: a dev server's fallback for a file it does not have.
    if (/^text\/html/.test(type)) {
      throw tokenError("unsupported_environment",
        `${url} is a web page, not the wasm (Vite dev server? add optimizeDeps: { exclude: ["mdh-token"] })`);
    }
    if (!r.ok) throw tokenError("wasm_unavailable", `${url}: HTTP ${r.status}`, r.status);
    if (e && (r.bodyUsed || /^application\/wasm/.test(type))) throw e;
    return WebAssembly.compile(await r.arrayBuffer());
  };
  return WebAssembly.compileStreaming ? WebAssembly.compileStreaming(res).catch(bytes) : bytes();
}

let compiling;

// Whether this is a page or a worker, where mdh-token runs (a server-side render has
// neither); asked each time.
export const inBrowser = () => typeof window !== "undefined" || typeof WorkerGlobalScope !== "undefined";

// The compiled module, once per page. A failed load (offline, CSP, a 404, cut-off
// bytes) is not kept: the next call fetches again. What failed underneath (a TypeError
// of fetch, a CompileError) becomes a TokenError's `cause`.
export function compiled() {
  return (compiling ??= compile().catch((e) => {
    compiling = undefined;
    if (e.name == "TokenError") throw e;
    const t = tokenError("wasm_unavailable", "the wasm did not load");
    t.cause = e;
    throw t;
  }));
}

// In a page or a worker (never on a server): start now. A failure here is reported by
// the first createTokenManager(), which tries again (compile() is async: nothing throws here).
if (inBrowser()) compiled().catch(() => {});
