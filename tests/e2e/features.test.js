// The shipped wasm uses no reference types: JavaScriptCore of the Safari 16 era (WPE
// WebKit 2.38) traps with "Out of bounds table access" on wasm-bindgen's externref table
// (scripts/build.sh). binaryen validates it with the features the build allows, which
// leave reference types out; a module with an externref table fails the same check.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, packageBuilt } from "./harness.js";

const bin = (n) => path.join(ROOT, "node_modules/.bin", n);
// The build's own list (one home: scripts/build.sh), e.g. `features=(--enable-bulk-memory …)`.
const features = /\nfeatures=\(([^)]*)\)/.exec(fs.readFileSync(path.join(ROOT, "scripts/build.sh"), "utf8"))[1].split(/\s+/).filter(Boolean);
const validates = (wasm) => {
  try {
    execFileSync(bin("wasm-opt"), [...features, wasm, "-o", os.devNull], { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
};

test("the shipped wasm validates without reference types, and an externref table would not", { skip: !packageBuilt() && "package not built" }, (t) => {
  assert.ok(!features.includes("--enable-reference-types"), features.join(" "));
  assert.ok(features.includes("--enable-bulk-memory"), "the list was read");
  assert.ok(validates(path.join(ROOT, "pkg/mdh_token_bg.wasm")), "pkg/mdh_token_bg.wasm uses only the build's features");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mdh-features-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, "x.wat"), `(module (table (export "t") 4 externref)
    (func (export "f") (param i32) (result externref) (table.get 0 (local.get 0))))`);
  execFileSync(bin("wasm-as"), ["--enable-reference-types", path.join(dir, "x.wat"), "-o", path.join(dir, "x.wasm")]);
  assert.equal(validates(path.join(dir, "x.wasm")), false, "the check refuses an externref table");
});
