// npm's conventions for what the package ships: the tarball holds exactly the files
// meant for hosts (LICENSE and CHANGELOG.md among them, no source, test or build
// leftovers), publint and arethetypeswrong find nothing (their one expected remark is
// explained in docs/bundlers.md), and each entry's module namespace is exactly the
// values its type declarations export: no test hook or raw wasm export a host could
// call without a type saying it exists.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import ts from "typescript";
import { ROOT, packageBuilt } from "../e2e/harness.js";

const skip = !packageBuilt() && "package not built: run npm run build";
const bin = (name) => path.join(ROOT, "node_modules/.bin", name);

// What a host installs: nothing else. README.md and package.json npm adds by itself; the
// broker is shipped as a folder of modules (package.json "files": "broker/"): those git
// tracks there, and nothing untracked.
const BROKER = execFileSync("git", ["ls-files", "broker"], { cwd: ROOT, encoding: "utf8" }).trim().split("\n");
const SHIPPED = [
  ...BROKER,
  "CHANGELOG.md",
  "LICENSE",
  "README.md",
  "index.d.ts",
  "package.json",
  "pkg/errors.js",
  "pkg/mdh_token.js",
  "pkg/mdh_token_bg.wasm",
  "react/index.d.ts",
  "react/index.js",
  "testing/index.d.ts",
  "testing/index.js",
].sort();

let tmp, tgz, packed;
before(() => {
  if (skip) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mdh-token-conventions-"));
  // --ignore-scripts: pack what is built (prepack would only rebuild the same bytes).
  const out = execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", tmp], { cwd: ROOT, encoding: "utf8" });
  [packed] = JSON.parse(out);
  tgz = path.join(tmp, packed.filename);
});
after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

test("npm pack ships exactly the files meant for hosts", { skip }, () => {
  assert.deepEqual(packed.files.map((f) => f.path).sort(), SHIPPED);
  const license = fs.readFileSync(path.join(ROOT, "LICENSE"), "utf8");
  assert.match(license, /^MIT License\n\nCopyright \(c\) \d{4} the mdh-token authors\n/);
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
  assert.equal(manifest.license, "MIT");
  const changelog = fs.readFileSync(path.join(ROOT, "CHANGELOG.md"), "utf8");
  assert.match(changelog, /^## Unreleased$/m);
  assert.match(changelog, new RegExp(`^## ${manifest.version.replaceAll(".", "\\.")} - \\d{4}-\\d{2}-\\d{2}$`, "m"), "the manifest's version has a CHANGELOG entry");
});

test("publint finds nothing in the tarball (strict: warnings count)", { skip }, () => {
  const r = spawnSync(bin("publint"), ["run", tgz, "--strict"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /All good!/, r.stdout);
});

test("arethetypeswrong: every entry's types resolve for ESM importers and bundlers", { skip }, () => {
  // --profile esm-only: the package is ESM only (docs/bundlers.md, "CommonJS"), so a
  // require() from CommonJS resolving to ESM is the design, not a mistake in the types.
  const r = spawnSync(bin("attw"), [tgz, "--profile", "esm-only", "--format", "json"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const { analysis } = JSON.parse(r.stdout);
  // The JSON lists the profile's ignored resolutions too: those may only say that.
  const cjs = ["node10", "node16-cjs"];
  const problems = analysis.problems ?? [];
  assert.deepEqual(problems.filter((p) => !cjs.includes(p.resolutionKind)), [], JSON.stringify(problems, null, 1));
  assert.deepEqual([...new Set(problems.map((p) => p.kind))].filter((k) => k !== "CJSResolvesToESM"), []);
  assert.deepEqual(Object.keys(analysis.entrypoints).sort(), [".", "./broker", "./package.json", "./react", "./testing"]);
});

// The value exports (functions, classes, constants: not interfaces or types) that each
// declaration file declares; one TypeScript program for them all.
const DTS = ["index.d.ts", "react/index.d.ts", "broker/index.d.ts", "testing/index.d.ts"];
let declared;
function declaredValues(dts) {
  if (!declared) {
    const files = DTS.map((f) => path.join(ROOT, f));
    const program = ts.createProgram(files, { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext });
    const checker = program.getTypeChecker();
    declared = Object.fromEntries(DTS.map((f, i) => [f, checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(files[i])))
      .filter((s) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s).flags & ts.SymbolFlags.Value)
      .map((s) => s.name)
      .sort()]));
  }
  return declared[dts];
}

for (const [entry, dts] of [["mdh-token", "index.d.ts"], ["mdh-token/react", "react/index.d.ts"], ["mdh-token/broker", "broker/index.d.ts"], ["mdh-token/testing", "testing/index.d.ts"]]) {
  test(`import * from "${entry}" is exactly what ${dts} declares`, { skip }, async () => {
    const declared = declaredValues(dts);
    assert.ok(declared.length > 0, `${dts} declares values`);
    // The package imports itself by name (package.json "exports"), as a host does.
    const actual = Object.keys(await import(entry)).sort();
    assert.deepEqual(actual, declared);
  });
}
