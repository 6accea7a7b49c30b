// What holds the JS in src/js/ and the Rust in step: the order of the options' answer
// (options.js's ORDER, Opt in src/facade.rs and what options() returns), the limits'
// one home (src/core/token.rs, passed to JS as arguments), and a type check of the JS
// the wasm calls (tsc --checkJs) plus a syntax check of every module.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ORDER, options } from "../../src/js/options.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const read = (f) => fs.readFileSync(path.join(ROOT, f), "utf8");
const js = fs.readdirSync(path.join(ROOT, "src/js")).filter((f) => f.endsWith(".js"));

test("options.js answers in its ORDER, and Opt in src/facade.rs lists the same slots in the same order", () => {
  const body = read("src/facade.rs").match(/enum Opt \{([^}]*)\}/)[1];
  const variants = body.split(",").map((v) => v.trim()).filter(Boolean);
  const camel = (name) => name.split(".").pop().replace(/^./, (c) => c.toUpperCase());
  assert.deepEqual(variants, ORDER.map(camel));
  // Every option set to a value of its own: each comes back in its slot.
  const broker = async () => ({});
  const o = {
    broker, headers: { "x-app": "1" }, storageKey: "key", participant: "p 1", credentials: "omit", storage: "local",
    logLevel: "debug", renewBeforeSeconds: 7, timeoutMs: 8, crossTab: false, autoRefresh: true,
    baseUrl: "https://example.test/", devtools: "dt", retry: { baseDelayMs: 3, maxAttempts: 4, maxDelayMs: 5 },
  };
  const a = options(o);
  assert.equal(a.length, ORDER.length);
  const want = {
    broker, storageKey: "key", "retry.baseDelayMs": 3, participant: "p 1", credentials: 2, storage: 2, logLevel: 4,
    renewBeforeSeconds: 7, timeoutMs: 8, "retry.maxAttempts": 4, "retry.maxDelayMs": 5, crossTab: false,
    autoRefresh: true, baseUrl: "https://example.test/", devtools: "dt", scope: "=p%201",
  };
  for (const [k, v] of Object.entries(want)) assert.equal(a[ORDER.indexOf(k)], v, k);
  assert.equal(a[ORDER.indexOf("headers")].get("x-app"), "1");
});

test("the limits the JS applies have one home, src/core/token.rs, and reach JS as arguments", () => {
  const token = read("src/core/token.rs");
  assert.match(token, /pub const MAX_TOKEN_LEN: usize = 16384;/);
  assert.match(token, /pub const MAX_BODY_BYTES: usize = 65_536;/);
  for (const f of js) {
    const src = read(`src/js/${f}`);
    for (const n of ["16384", "16385", "65536", "65_536"]) assert.ok(!src.includes(n), `src/js/${f} copies the limit ${n}`);
  }
  const rs = read("src/web/bindings.rs");
  assert.match(rs, /MAX_TOKEN_LEN as u32 \+ 1/);
  assert.match(rs, /MAX_BODY_BYTES as u32/);
});

test("no JS in Rust strings: every wasm-bindgen import names a JS module (src/js/, tests/web/)", () => {
  for (const dir of ["src", "src/web", "src/core", "tests/web"]) {
    for (const f of fs.readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith(".rs"))) {
      assert.ok(!read(`${dir}/${f}`).includes("inline_js"), `${dir}/${f} has inline_js`);
    }
  }
});

test("every module in src/js/ parses (node --check), and the typed ones pass tsc --checkJs", () => {
  for (const f of js) execFileSync(process.execPath, ["--check", path.join(ROOT, "src/js", f)], { stdio: "pipe" });
  const tsc = path.join(ROOT, "node_modules/.bin/tsc");
  try {
    execFileSync(tsc, ["-p", path.join(ROOT, "src/js")], { stdio: "pipe" });
  } catch (e) {
    assert.fail(`tsc --checkJs src/js:\n${e.stdout}`);
  }
});

// The modules of one folder and whom each imports (`use super::x`, `crate::web::x`,
// `super::x::`), and the types each declares.
function modules(dir) {
  const files = fs.readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith(".rs") && f !== "mod.rs");
  const text = Object.fromEntries(files.map((f) => [f.slice(0, -3), read(`${dir}/${f}`)]));
  const names = Object.keys(text);
  const edges = Object.fromEntries(names.map((m) => [m, names.filter((o) => o !== m && new RegExp(`(super|crate::(web|core))::${o}\\b`).test(text[m]))]));
  return { text, names, edges };
}

for (const dir of ["src/web", "src/core"]) {
  test(`${dir}: no import cycle, and no impl of a type declared in another file`, () => {
    const { text, names, edges } = modules(dir);
    // A module reaches itself through its imports: a cycle.
    for (const start of names) {
      const seen = new Set(), todo = [...edges[start]];
      while (todo.length) {
        const m = todo.pop();
        assert.notEqual(m, start, `${dir}: ${start} imports itself through ${[...seen].join(", ")}`);
        if (!seen.has(m)) { seen.add(m); todo.push(...edges[m]); }
      }
    }
    const declared = {};
    for (const m of names) for (const [, t] of text[m].matchAll(/^\s*(?:pub(?:\([^)]*\))?\s+)?(?:struct|enum)\s+(\w+)/gm)) declared[t] ??= m;
    for (const m of names) {
      for (const [, t] of text[m].matchAll(/^impl(?:<[^>]*>)?\s+(\w+)\s*\{/gm)) {
        assert.ok(!declared[t] || declared[t] === m, `${dir}/${m}.rs has an impl of ${t}, declared in ${declared[t]}.rs`);
      }
    }
  });
}
