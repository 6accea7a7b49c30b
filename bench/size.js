// Shipped-size measurement: the gzip -9 bytes of what mdh-token ships to a browser. Used
// by `npm run bench` (bench/run.js) and tests/e2e/size.test.js.
//
// What counts: every file reached through package.json's `files` list that a browser
// loads — `.js`, `.mjs` and `.wasm` (directories are walked) — on the path every engine
// with DecompressionStream takes: pkg/mdh_token.js, the wasm inside it
// (scripts/inline-wasm.mjs). pkg/mdh_token_bg.wasm, the same wasm as a file, is fetched
// only by an engine without DecompressionStream (Safari before 16.4, Firefox before 113):
// measured on its own as `fallback`, what such an engine loads on top.
// Type declarations (`.d.ts`), the server-only broker (`broker/`, the
// `mdh-token/broker` entry) and anything else in `files` are not shipped to a browser
// and are left out. The React binding (`react/` and the `pkg/errors.js` it imports, the
// `mdh-token/react` entry) is its
// own entry, loaded only by React apps: it is measured on its own
// (`shippedSize({ entry: "react" })`), not in the package's figure. A listed browser
// file that is missing is an error: the
// figure would be wrong, so nothing is returned.
//
// How: each file is compressed on its own, as a server would send it, with GNU gzip
// (`gzip -9 -c FILE`, the method behind the comparators' reference figures: its
// header carries the file name, len(name)+1 bytes), and the per-file sizes are added.
// Where no `gzip` binary exists, Node's zlib at level 9 is used and `method` says so
// (zlib's deflate differs from GNU gzip's: e.g. +666 B on the 0.1.0 wasm).
//
//   import { shippedSize } from "./bench/size.js";
//   const s = shippedSize();  // { method, total, raw, files: [{ path, bytes, gzip }], fallback: { total, files } }
//   node bench/size.js        // prints the same, `--json` for JSON
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const BROWSER_EXT = /\.(m?js|wasm)$/;
// Entries measured apart from the package (own `exports` subpaths): name → path prefixes.
// mdh-token/testing runs in a host's test runner only.
const ENTRIES = { react: ["react/", "pkg/errors.js"], testing: ["testing/"] };
// Entries of `files` that run on the host's server, never in a page.
const SERVER_ONLY = ["broker/"];
// Fetched only where the engine cannot decompress the wasm inside the bundle.
const FALLBACK = ["pkg/mdh_token_bg.wasm"];

let gnuGzip; // undefined = not probed yet
function hasGnuGzip() {
  if (gnuGzip === undefined) {
    const r = spawnSync("gzip", ["--version"], { encoding: "utf8" });
    gnuGzip = r.status === 0 && /gzip/i.test(r.stdout) && !/apple|bsd/i.test(r.stdout);
  }
  return gnuGzip;
}

/** How `gzipSize` measures: "gzip -9 -c" (GNU gzip) or "zlib level 9" (fallback). */
export function gzipMethod() {
  return hasGnuGzip() ? "gzip -9 -c FILE (GNU gzip)" : "node zlib level 9 (no GNU gzip found)";
}

/** gzip -9 size in bytes of one file. */
export function gzipSize(file) {
  if (hasGnuGzip()) {
    const r = spawnSync("gzip", ["-9", "-c", file], { maxBuffer: 256 * 1024 * 1024 });
    if (r.status !== 0) throw new Error(`gzip failed on ${file}: ${String(r.stderr).trim()}`);
    return r.stdout.length;
  }
  return zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;
}

function walk(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/**
 * The files (relative to root, `/`-separated, sorted) that the package ships to a browser;
 * with `entry` ("react"), those of that separate entry instead. The package's own list
 * includes the fallback wasm (see FALLBACK).
 */
export function shippedFiles({ root = ROOT, entry } = {}) {
  const manifest = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
  if (!Array.isArray(manifest.files)) throw new Error("package.json has no `files` list");
  const found = new Set();
  for (const entry of manifest.files) {
    if (SERVER_ONLY.some((dir) => `${entry}/`.startsWith(dir))) continue;
    const abs = path.join(root, entry);
    if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) {
      for (const f of walk(abs)) if (BROWSER_EXT.test(f)) found.add(path.relative(root, f));
    } else if (BROWSER_EXT.test(entry) && !entry.endsWith(".d.ts")) {
      if (!fs.existsSync(abs)) {
        throw new Error(`${entry} is in package.json "files" but missing: build first (bash scripts/build.sh)`);
      }
      found.add(path.relative(root, abs));
    }
    // anything else (index.d.ts, README, ...) is not loaded by a browser
  }
  const all = [...found].map((f) => f.split(path.sep).join("/")).sort();
  if (entry !== undefined) {
    if (!Object.hasOwn(ENTRIES, entry)) throw new Error(`no separate entry ${entry}`);
    return all.filter((f) => ENTRIES[entry].some((p) => f.startsWith(p)));
  }
  const core = all.filter((f) => !Object.values(ENTRIES).flat().some((p) => f.startsWith(p)));
  if (!core.some((f) => f.endsWith(".wasm"))) {
    throw new Error("no .wasm among the shipped files: build first (bash scripts/build.sh)");
  }
  return core;
}

/**
 * gzip -9 bytes of what a browser loads: per file, summed. For the package, `total` is the
 * path of engines with DecompressionStream; `fallback` what the others load on top.
 * @returns {{ method: string, total: number, raw: number,
 *             files: { path: string, bytes: number, gzip: number }[],
 *             fallback?: { total: number, files: { path: string, bytes: number, gzip: number }[] } }}
 */
export function shippedSize({ root = ROOT, entry } = {}) {
  const all = shippedFiles({ root, entry }).map((p) => {
    const abs = path.join(root, p);
    return { path: p, bytes: fs.statSync(abs).size, gzip: gzipSize(abs) };
  });
  const sum = (fs_) => fs_.reduce((a, f) => a + f.gzip, 0);
  const files = all.filter((f) => !FALLBACK.includes(f.path));
  const out = { method: gzipMethod(), total: sum(files), raw: files.reduce((a, f) => a + f.bytes, 0), files };
  if (entry === undefined) {
    const fallback = all.filter((f) => FALLBACK.includes(f.path));
    if (fallback.length !== FALLBACK.length) throw new Error(`${FALLBACK.join(", ")} missing: build first (bash scripts/build.sh)`);
    out.fallback = { total: sum(fallback), files: fallback };
  }
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const s = shippedSize();
  if (process.argv.includes("--json")) {
    console.log(JSON.stringify(s, null, 2));
  } else {
    for (const f of s.files) console.log(`${String(f.gzip).padStart(8)} B gzip  ${String(f.bytes).padStart(8)} B raw  ${f.path}`);
    console.log(`${String(s.total).padStart(8)} B gzip total (the wasm inside pkg/mdh_token.js); ${s.method}`);
    for (const f of s.fallback.files) {
      console.log(`${String(f.gzip).padStart(8)} B gzip  ${String(f.bytes).padStart(8)} B raw  ${f.path} (fetched only without DecompressionStream, not in the total)`);
    }
    for (const entry of Object.keys(ENTRIES)) {
      const e = shippedSize({ entry });
      console.log(`${String(e.total).padStart(8)} B gzip  mdh-token/${entry} (its own entry, not in the total)`);
    }
  }
}
