// The docs hold what the types promise, and their links lead somewhere. index.d.ts says
// docs/getting-started.md lists when each TokenError code occurs, so the table there has
// one row per code, no more.
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

// GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
const slug = (h) => h.replace(/`/g, "").trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
const prose = (f) => read(f).replace(/```[^]*?```/g, ""); // links in code blocks are code
const anchors = (f) => new Set([...prose(f).matchAll(/^#+\s+(.*)$/gm)].map((m) => slug(m[1])));

test("every relative link in the README, the CHANGELOG and docs/ names a file that exists, and a heading in it", () => {
  const files = ["README.md", "CHANGELOG.md", "bench/README.md", ...fs.readdirSync(path.join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
  const broken = [];
  let checked = 0;
  for (const f of files) {
    for (const [, url] of prose(f).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(url)) continue; // http:, https:, mailto:
      const [p, anchor] = url.split("#");
      const target = p ? path.posix.normalize(path.posix.join(path.posix.dirname(f), p)) : f;
      checked++;
      if (!fs.existsSync(path.join(ROOT, target))) broken.push(`${f}: ${url} (no ${target})`);
      else if (anchor && target.endsWith(".md") && !anchors(target).has(anchor)) broken.push(`${f}: ${url} (no heading #${anchor})`);
    }
  }
  assert.ok(checked > 50, `links checked: ${checked}`);
  assert.deepEqual(broken, []);
});
