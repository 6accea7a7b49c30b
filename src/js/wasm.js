// The wasm: compiled from the moment the package is imported. entry.js imports this
// module first, so in the bundle (scripts/build.sh) its load is the first thing the
// module's evaluation starts, before the glue's and the entry's own set-up.
//
// It travels inside the bundle (scripts/inline-wasm.mjs): a page loads one file, and
// the engine decompresses the wasm (DecompressionStream: Chrome 80, Firefox 113, Safari
// 16.4). An engine without DecompressionStream fetches pkg/mdh_token_bg.wasm, the same
// bytes, next to the bundle.
import { tokenError } from "./errors.js";

// scripts/inline-wasm.mjs replaces this string, in the bundle, with the wasm: gzipped
// (zopfli), in base64.
const INLINE = "__MDH_TOKEN_WASM__";

// The wasm's bytes from INLINE. Straight through the stream's writer and reader: a
// Response around the stream (`new Response(stream).arrayBuffer()`) took 1.5-3.5 ms more
// in Chromium, on the path of every page's start-up.
async function inflate() {
  let bytes = Uint8Array.fromBase64?.(INLINE);
  if (!bytes) {
    const text = atob(INLINE);
    bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  }
  const gunzip = new DecompressionStream("gzip");
  const writer = gunzip.writable.getWriter(), reader = gunzip.readable.getReader();
  // A failure shows in read(); these two would report it again, unhandled.
  writer.write(bytes).catch(() => {});
  writer.close().catch(() => {});
  const parts = [];
  let size = 0;
  for (let r; !(r = await reader.read()).done; size += r.value.length) parts.push(r.value);
  const wasm = new Uint8Array(size);
  size = 0;
  for (const p of parts) wasm.set(p, size), (size += p.length);
  return wasm;
}

// The wasm, next to the bundle. Vite's dev server pre-bundles dependencies into
// node_modules/.vite/deps/ without the wasm (vitejs/vite#8427) and answers its
// index.html there instead: from there, take the one in the installed package.
function wasmUrl() {
  const url = new URL("./mdh_token_bg.wasm", import.meta.url);
  return /\/\.vite\/deps\//.test(url.pathname) ? new URL("../../mdh-token/pkg/mdh_token_bg.wasm", url) : url;
}

// Compiles the wasm from the bundle; without DecompressionStream, fetches it and
// compiles it while it streams in. Compiled from the bytes instead where the engine
// cannot stream (no compileStreaming) or the server sends another type than
// application/wasm (compileStreaming refuses that before reading the body).
async function compile() {
  if (typeof DecompressionStream == "function") return WebAssembly.compile(await inflate());
  const url = wasmUrl();
  // A file: URL is a test runner's DOM in Node that has no DecompressionStream (Jest's
  // jsdom), whose fetch reads no files: read it with Node's fs, reached at run time (no import a bundler would follow).
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
