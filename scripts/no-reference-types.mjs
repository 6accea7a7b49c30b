// Marks "reference-types" as not used ("-") in the wasm's `target_features` section, so
// that wasm-bindgen keeps JS values in its JS-side heap array instead of an externref
// table. Why: JavaScriptCore of the Safari 16 era (WPE WebKit 2.38) traps with
// "RuntimeError: Out of bounds table access" on valid `table.get`s of that table once its
// baseline wasm JIT (BBQ) compiles the code; see scripts/build.sh.
//
// rustc already builds our crates with `-reference-types` (scripts/build.sh), but the
// precompiled core/alloc of the wasm32-unknown-unknown target carry "+reference-types",
// and the linker merges it into the section, which is what wasm-bindgen reads
// (0.2.130: cli-support `target_feature()`; it has no command-line switch for this).
//
// usage: node scripts/no-reference-types.mjs <in.wasm> <out.wasm>
import fs from "node:fs";

const [input, output] = process.argv.slice(2);
const bytes = fs.readFileSync(input);
const fail = (msg) => {
  console.error(`no-reference-types: ${msg}`);
  process.exit(1);
};
let at = 8; // after the magic number and version
const leb = () => {
  let value = 0;
  let shift = 0;
  let byte;
  do {
    byte = bytes[at++];
    value |= (byte & 0x7f) << shift;
    shift += 7;
  } while (byte & 0x80);
  return value >>> 0;
};
let sections = 0;
while (at < bytes.length) {
  const id = bytes[at++];
  const end = leb() + at;
  if (id === 0) {
    const nameLength = leb();
    const name = bytes.subarray(at, at + nameLength).toString();
    at += nameLength;
    if (name === "target_features") {
      sections++;
      // vec(prefix byte, name): "+" used, "-" disallowed (tool-conventions/Linking.md).
      for (let n = leb(); n > 0; n--) {
        const prefix = at++;
        const length = leb();
        if (bytes.subarray(at, at + length).toString() === "reference-types") bytes[prefix] = 0x2d; // "-"
        at += length;
      }
    }
  }
  at = end;
}
// Without the section wasm-bindgen would guess "externref" from its runtime's exports.
if (sections !== 1) fail(`expected one target_features section, found ${sections}`);
fs.writeFileSync(output, bytes);
