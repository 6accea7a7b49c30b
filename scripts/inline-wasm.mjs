// Puts the wasm inside the bundle, so that a page loads mdh-token in one request instead
// of two in a row (the wasm's request could only start once the bundle ran):
//
//   node scripts/inline-wasm.mjs pkg/mdh_token_bg.wasm pkg/mdh_token.js
//
// src/js/wasm.js reads the wasm from the placeholder string "__MDH_TOKEN_WASM__"; here
// each one becomes a call to a function declared at the end of the bundle, which returns
// the wasm gzipped with zopfli and written in base64. The engine decompresses it
// (DecompressionStream); an engine without one fetches pkg/mdh_token_bg.wasm, which stays.
//
// Why these choices (gzip -9 of the bundle, bench/size.js's measure, on the 0.1.0 build):
// - base64 of the gzipped wasm, not the wasm's own bytes: the server's gzip cannot
//   compress a base64 text of raw bytes well (+4.9 kB against the separate file), and a
//   latin-1 text of them costs +1.2 kB (bytes above 0x7f take two in UTF-8);
// - zopfli, not zlib: 15,329 B against 16,282 B for the same wasm, which pays for base64's
//   6 bits a character;
// - at the end of the bundle, not where the string is read: GNU gzip's blocks then hold
//   the JS and the base64 text mostly apart (23,777 B against 24,510 B at the start).
//
// Fails (exit 1, nothing written) when the placeholder is missing, when the function's
// name is already taken, or when the text does not decompress to the very same wasm.
import fs from "node:fs";
import zlib from "node:zlib";
import zopfli from "@gfx/zopfli";

const PLACEHOLDER = '"__MDH_TOKEN_WASM__"';
const NAME = "mdhTokenWasm";

const [wasmPath, bundlePath] = process.argv.slice(2);
if (!wasmPath || !bundlePath) {
  console.error("usage: node scripts/inline-wasm.mjs WASM BUNDLE");
  process.exit(2);
}
const wasm = fs.readFileSync(wasmPath);
const bundle = fs.readFileSync(bundlePath, "utf8");
const uses = bundle.split(PLACEHOLDER).length - 1;
if (uses === 0) fail(`${bundlePath} has no ${PLACEHOLDER} (src/js/wasm.js reads the wasm from it)`);
if (new RegExp(`\\b${NAME}\\b`).test(bundle)) fail(`${bundlePath} already uses the name ${NAME}`);
// 100 iterations: 23 B of the bundle's gzip less than zopfli's default 15, for 0.3 s more
// (500 saved 1 B more and took 2 s more).
const gz = Buffer.from(await zopfli.gzipAsync(wasm, { numiterations: 100 }));
if (!zlib.gunzipSync(gz).equals(wasm)) fail("the gzip does not decompress to the wasm");
const b64 = gz.toString("base64");
const out = bundle.split(PLACEHOLDER).join(`${NAME}()`).trimEnd() + `\nfunction ${NAME}(){return"${b64}"}\n`;
fs.writeFileSync(bundlePath, out);
console.log(`inline-wasm: ${wasm.length} B of wasm as ${b64.length} characters (zopfli gzip ${gz.length} B), ${uses} use(s)`);

function fail(why) {
  console.error(`inline-wasm: ${why}`);
  process.exit(1);
}
