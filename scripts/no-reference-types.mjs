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
// The section is read by the engine's own parser (WebAssembly.Module.customSections),
// and its one byte flipped in place: re-emitting the module (binaryen) before
// wasm-bindgen reads it would re-encode all of it. Fails unless the result has exactly
// one such section and no "+reference-types" in it.
//
// usage: node scripts/no-reference-types.mjs <in.wasm> <out.wasm>
import fs from "node:fs";

const [input, output] = process.argv.slice(2);
const bytes = fs.readFileSync(input);
const fail = (msg) => {
  console.error(`no-reference-types: ${msg}`);
  process.exit(1);
};
const sections = (b) => WebAssembly.Module.customSections(new WebAssembly.Module(b), "target_features").map((s) => Buffer.from(s));
// Without the section wasm-bindgen would guess "externref" from its runtime's exports.
const found = sections(bytes);
if (found.length !== 1) fail(`expected one target_features section, found ${found.length}`);
// An entry is a prefix byte ("+" used, "-" disallowed), the name's length and the name
// (tool-conventions/Linking.md).
const used = Buffer.from("+\x0freference-types", "latin1");
const at = found[0].indexOf(used);
if (at >= 0) {
  const file = bytes.indexOf(found[0]);
  if (file < 0 || bytes.indexOf(found[0], file + 1) >= 0) fail("the target_features section is not found exactly once in the file");
  bytes[file + at] = 0x2d; // "-"
}
const after = sections(bytes);
if (after.length !== 1 || after[0].includes(used)) fail("reference-types is still marked used");
fs.writeFileSync(output, bytes);
