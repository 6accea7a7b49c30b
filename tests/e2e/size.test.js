// Size check: the bytes the package ships to a browser (gzip -9 of each file it ships,
// wasm + JS, summed: bench/size.js) must stay within the budget of the performance
// issue. A size is deterministic, so it is tested; timings stay in `npm run bench`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { shippedSize } from "../../bench/size.js";
import { packageBuilt } from "./harness.js";

const BUDGET = 30_000;

test(`the shipped package stays within ${BUDGET} B gzip`, { skip: !packageBuilt() && "package not built" }, async () => {
  const s = await shippedSize();
  console.log(`# shipped size: ${s.total} B gzip (wasm ${s.wasm}, JS ${s.js}); budget ${BUDGET}`);
  assert.ok(s.total <= BUDGET, `shipped ${s.total} B gzip > ${BUDGET} B`);
});
