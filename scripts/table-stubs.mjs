// Fills the function table's dead slots with one function instead of one each.
//
// The linker puts every function whose address is taken into the table, and the
// descriptors wasm-bindgen reads take the address of one closure-invoke shim per closure
// type that any bound JS function names (js-sys binds dozens: Array callbacks, Promise
// executors…). wasm-bindgen removes the descriptors but not the table slots, so wasm-opt
// keeps ~40 functions it cannot call: it empties each to a lone `unreachable` (no
// call_indirect of its type exists), but each keeps its body and its type.
//
// Why one shared function is the same program: the table is neither imported nor
// exported, so only the wasm's own call_indirects read it, and a call_indirect that
// reaches a slot traps whether the slot holds a function that traps at once
// (`unreachable`) or a function of another type (a signature mismatch). So every slot
// whose function is a lone `unreachable` gets the first such function; wasm-opt's
// dead-code pass then drops the others and their types.
//
// usage: node scripts/table-stubs.mjs <in.wasm> <out.wasm>
import binaryen from "binaryen";
import fs from "node:fs";

const [input, output] = process.argv.slice(2);
const mod = binaryen.readBinary(fs.readFileSync(input));
const F = binaryen.Features;
mod.setFeatures(F.MVP | F.BulkMemory | F.BulkMemoryOpt | F.NontrappingFPToInt | F.SignExt |
  F.MutableGlobals | F.Multivalue);
const fail = (msg) => {
  console.error(`table-stubs: ${msg}`);
  process.exit(1);
};

const tables = mod.getNumTables();
if (tables !== 1) fail(`expected one table, got ${tables}`);
const table = binaryen.getTableInfo(mod.getTableByIndex(0));
if (table.module) fail("the table is imported");
for (let i = 0; i < mod.getNumExports(); i++) {
  const e = binaryen.getExportInfo(mod.getExportByIndex(i));
  if (e.kind === binaryen.ExternalTable) fail("the table is exported");
}
const stub = (name) => {
  const f = binaryen.getFunctionInfo(mod.getFunction(name));
  return !f.module && f.vars.length === 0 && binaryen.getExpressionId(f.body) === binaryen.UnreachableId;
};
// The linker writes one active segment at a constant offset.
if (mod.getNumElementSegments() !== 1) fail("expected one element segment");
const seg = binaryen.getElementSegmentInfo(mod.getElementSegmentByIndex(0));
const offset = binaryen.getExpressionInfo(seg.offset);
if (offset.id !== binaryen.ConstId) fail("the element segment has no constant offset");
let shared, replaced = 0;
const data = seg.data.map((name) => {
  if (!stub(name) || name === (shared ??= name)) return name;
  replaced++;
  return shared;
});
// None at all: wasm-bindgen or wasm-opt changed what they leave, and this script is stale.
if (replaced === 0) fail("no table slot holds a second trapping function: nothing to share (see the comment above)");
mod.removeElementSegment(seg.name);
mod.addActiveElementSegment(seg.table, seg.name, data, mod.i32.const(offset.value));
mod.runPasses(["remove-unused-module-elements"]);
if (!mod.validate()) fail("the result does not validate");
fs.writeFileSync(output, mod.emitBinary());
console.log(`table-stubs: ${replaced} table slots share one trapping function`);
