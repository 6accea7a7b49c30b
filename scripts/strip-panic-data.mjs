// Blanks the panic payload in the linked wasm's data: the panic locations (file, line,
// column), the source paths they name and the panic messages of core and alloc.
//
// Why it is safe: that data is read only when a panic is formatted, through the
// `PanicInfo` handed to the panic handler, and the shipped wasm has one handler
// (src/lib.rs, no libstd, no hook) that reads nothing of it: it stops the managers with
// an `internal` error and traps. So the bytes can be anything; zeros compress to
// nothing, and wasm-opt's memory packing drops the longer runs. Stable Rust has no
// switch for this (`-Zlocation-detail=none` and `panic_immediate_abort` are nightly),
// and LLVM keeps the data: core's `panic_fmt` stores its arguments into the
// `PanicInfo`, so they look used when dead arguments are removed, before inlining shows
// the handler ignores them.
//
// What is blanked, and only that:
// - `core::panic::Location`s: 16 bytes, 4-aligned, { file pointer, file length, line,
//   column }, whose pointer names a NUL-terminated path ending in ".rs" of that length
//   (Location's layout since Rust 1.83); and those paths.
// - The messages below, exactly as core and alloc spell them (a list for this
//   toolchain, rust-toolchain.toml), and the format templates made of them (their length
//   bytes, argument marks and shorter pieces).
// The wasm-bindgen messages that are thrown to JS ("closure invoked recursively…") are
// not panics and stay.
//
// It fails, rather than blank less, when what it expects is not there: no Location
// found (their layout moved), a segment it cannot place in the file, or, after the
// blanking, a source path or a text that reads like a core panic message left in the
// data (the toolchain spells one differently: add it to the list).
//
// usage: node scripts/strip-panic-data.mjs <in.wasm> <out.wasm>
import binaryen from "binaryen";
import fs from "node:fs";

const MESSAGES = [
  "slice index starts at ", "index out of bounds: the len is ",
  "range start index ", "range end index ",
  "memory allocation of ", "removal index (is ", ") should be < len (is ",
  "insertion index (is ", "swap_remove index (is ",
  "Tried to shrink to a larger capacity", "capacity overflow",
  "attempt to calculate the remainder with a divisor of zero",
  "attempt to divide by zero",
  "RefCell already mutably borrowed", "RefCell already borrowed",
  "called `Option::unwrap()` on a `None` value",
  "called `Result::unwrap()` on an `Err` value",
];
// Short pieces, blanked only inside a template made of listed pieces.
const PIECES = new Set([...MESSAGES, " but ends at ", " but the index is ",
  " out of range for slice of length ", " bytes failed", ")"]);

const [input, output] = process.argv.slice(2);
const bytes = Buffer.from(fs.readFileSync(input));
const fail = (msg) => {
  console.error(`strip-panic-data: ${msg}`);
  process.exit(1);
};

// Active data segments, read by binaryen: [address, file offset, length]. The bytes
// are blanked in place in the file (re-emitting the module before wasm-bindgen reads it
// would re-encode all of it), so each segment's bytes must occur once in the file.
const mod = binaryen.readBinary(bytes);
const segments = [];
for (let i = 0; i < mod.getNumDataSegments(); i++) {
  const seg = mod.getDataSegmentInfo(mod.getDataSegmentByIndex(i));
  if (seg.passive) continue;
  const data = Buffer.from(seg.data);
  const off = bytes.indexOf(data);
  if (data.length < 16 || off < 0 || bytes.indexOf(data, off + 1) >= 0) {
    fail(`data segment ${seg.name} (${data.length} B) is not found exactly once in the file`);
  }
  segments.push([seg.offset >>> 0, off, data.length]);
}
mod.dispose();
if (segments.length === 0) fail("no active data segment");

// File offset of the address range [a, a + n), or -1 when no one segment holds it.
const locate = (a, n) => {
  for (const [addr, off, len] of segments) if (a >= addr && a + n <= addr + len) return off + (a - addr);
  return -1;
};
const blank = new Set(); // file offsets
let locations = 0, paths = new Map(), messages = 0;

for (const [addr, off, len] of segments) {
  for (let a = (addr + 3) & ~3; a + 16 <= addr + len; a += 4) {
    const o = off + (a - addr);
    const ptr = bytes.readUInt32LE(o), n = bytes.readUInt32LE(o + 4);
    const line = bytes.readUInt32LE(o + 8), col = bytes.readUInt32LE(o + 12);
    if (n < 4 || n > 1024 || line < 1 || line > 1e6 || col < 1 || col > 1e4) continue;
    const p = locate(ptr, n + 1);
    if (p < 0 || bytes[p + n] !== 0) continue;
    const path = bytes.toString("latin1", p, p + n);
    if (!/^[\x21-\x7e]+\.rs$/.test(path)) continue;
    for (let k = 0; k < 16; k++) blank.add(o + k);
    for (let k = 0; k < n; k++) blank.add(p + k);
    paths.set(path, (paths.get(path) ?? 0) + 1);
    locations++;
    a += 12;
  }
  for (const m of MESSAGES) {
    const text = Buffer.from(m, "latin1");
    const seg = bytes.subarray(off, off + len);
    for (let i = seg.indexOf(text); i >= 0; i = seg.indexOf(text, i + 1)) {
      for (let k = 0; k < text.length; k++) blank.add(off + i + k);
      messages++;
      // The first piece of a format template (core's `fmt::Arguments` encoding: a
      // length byte then the text, 0xC0 for an argument, 0 at the end): the whole
      // template, when every text in it is a listed piece and it has an argument.
      if (i === 0 || seg[i - 1] !== text.length) continue;
      let j = i - 1, args = 0, ok = true;
      while (ok && j < seg.length && seg[j] !== 0) {
        const b = seg[j];
        if (b === 0xc0) {
          args++;
          j++;
        } else if (b < 0x80 && j + 1 + b <= seg.length) {
          ok = PIECES.has(seg.toString("latin1", j + 1, j + 1 + b));
          j += 1 + b;
        } else {
          ok = false; // another encoding, or not a template: leave it
        }
      }
      if (ok && args > 0 && j < seg.length) for (let k = i - 1; k < j; k++) blank.add(off + k);
    }
  }
}
if (locations === 0) fail("no core::panic::Location found: has its layout changed? (see the comment above)");
for (const o of blank) bytes[o] = 0;
// What must be gone now: every source path, and anything that reads like a core or
// alloc panic message (a wording this list does not know yet).
const RESIDUE = /[\w./-]+\.rs\b|out of (bounds|range)|index (starts|out)|capacity overflow|memory allocation|attempt to [a-z]|already (mutably )?borrowed|called `|should be < len|index \(is|Tried to shrink/;
for (const [, off, len] of segments) {
  const left = RESIDUE.exec(bytes.toString("latin1", off, off + len));
  if (left) fail(`a panic text is left in the data: ${JSON.stringify(left[0])}: add its message to MESSAGES`);
}
fs.writeFileSync(output, bytes);
console.log(`strip-panic-data: blanked ${blank.size} B: ${locations} locations in ${paths.size} files, ${messages} message pieces`);
