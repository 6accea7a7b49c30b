// The docs hold what the types promise: index.d.ts says docs/getting-started.md lists when
// each TokenError code occurs, so the table there has one row per code, no more.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "../e2e/harness.js";

const read = (f) => fs.readFileSync(path.join(ROOT, f), "utf8");

test("docs/getting-started.md's error table has a row for every TokenErrorCode of index.d.ts, and no other", () => {
  const types = read("index.d.ts");
  // From the type's first line to its last member, `| "…";` (its doc comments hold `;`s).
  const union = types.match(/export type TokenErrorCode =[^]*?"\s*;/)[0];
  const codes = [...union.matchAll(/\|\s*"([a-z_]+)"/g)].map((m) => m[1]).sort();
  assert.ok(codes.length >= 10, `codes read from index.d.ts: ${codes.join(" ")}`);
  const doc = read("docs/getting-started.md");
  const table = doc.slice(doc.indexOf("| code | when | retried? |"));
  const rows = [...table.slice(0, table.search(/\n\n/)).matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]).sort();
  assert.deepEqual(rows, codes);
});
