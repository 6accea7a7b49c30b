// Size check: the bytes the package ships to a browser (gzip -9 of each file it ships,
// wasm + JS, summed: bench/size.js) must stay within the budget of the performance
// issue. A size is deterministic, so it is tested; timings stay in `npm run bench`.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { shippedSize } from "../../bench/size.js";
import { ROOT, packageBuilt } from "./harness.js";

// 30,000 B was the budget of the performance issue (issue 7). The identity binding and
// hostile-input fixes (issue 11), attachSdk's revive and the entry's environment checks
// (issue 13), the survey hand-off and passive return page (issue 14) and the broker's
// reason body (issue 12) took the package to 31,404 B, after what dropping reference
// types saved (issue 15); three measured trims (wasm-opt -ocimfs 50, the core's output
// queue as a Vec, a JS deferred for waiting promises) brought it to 30,992 B. Issue 16:
// the wasm really LTO'd, linked without js-sys's JSPI export, its panic payload blanked
// and wasm-opt retuned, against the wasm fetched at import and attachSdk's fix: 26,702 B.
// The ceiling is that plus a small margin (issue 16's budget is 27,000 B).
const BUDGET = 27_000;

test(`the shipped package stays within ${BUDGET} B gzip`, { skip: !packageBuilt() && "package not built" }, async () => {
  const s = await shippedSize();
  console.log(`# shipped size: ${s.total} B gzip (wasm ${s.wasm}, JS ${s.js}); budget ${BUDGET}`);
  assert.ok(s.total <= BUDGET, `shipped ${s.total} B gzip > ${BUDGET} B`);
});

// scripts/strip-panic-data.mjs blanks the panic payload that nothing in the wasm reads
// (src/lib.rs's panic handler ignores its PanicInfo); the messages wasm-bindgen throws
// to JS are not panics and must stay.
test("the shipped wasm carries no panic locations, source paths or core panic messages", { skip: !packageBuilt() && "package not built" }, () => {
  const wasm = fs.readFileSync(path.join(ROOT, "pkg/mdh_token_bg.wasm")).toString("latin1");
  assert.deepEqual(wasm.match(/[\w./-]+\.rs\b/g) ?? [], [], "no source file names");
  for (const m of ["index out of bounds", "RefCell already borrowed", "capacity overflow", "memory allocation of"]) {
    assert.ok(!wasm.includes(m), m);
  }
  assert.ok(wasm.includes("closure invoked recursively or after being dropped"), "wasm-bindgen's thrown messages stay");
  assert.ok(wasm.includes("internal error (a bug in mdh-token); this manager stopped"), "our own messages stay");
});
