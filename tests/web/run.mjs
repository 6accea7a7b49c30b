// Tier 2's runner: cargo runs it for a wasm32-unknown-unknown test binary
// (.cargo/config.toml), as `node tests/web/run.mjs <test.wasm> [filter]`.
//
// The test binary is the shipped no_std build of the crate (its #[panic_handler], its
// allocator, no reference types) with the tests of tests/web/ linked in. It cannot use
// wasm-bindgen-test: that runtime defines a #[panic_handler] of its own, with or
// without std, which would stand in for the crate's. So the tests export two
// functions, `tier2_tests()` (their names) and `tier2_run(name)` (a promise), and this
// runner does what wasm-bindgen-test-runner does for them: it marks reference types as
// unused in the wasm (scripts/no-reference-types.mjs, as scripts/build.sh does),
// generates the glue with the wasm-bindgen CLI, serves both on loopback, and runs the
// tests in a page in headless Chromium, then in headless Firefox ESR, over WebDriver
// (tests/support/browsers.js starts the drivers). MDH_TIER2_ENGINES=firefox runs one.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { openSession } from "../support/browsers.js";
import { until } from "../support/poll.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const ENGINES = { chromium: "Chromium", firefox: "Firefox ESR" };
// One test may take this long (the page gives up on it and goes on with the next).
const TEST_TIMEOUT_MS = 30_000;

const [wasm, ...rest] = process.argv.slice(2);
if (!wasm) {
  console.error("usage: node tests/web/run.mjs <test.wasm> [filter]");
  process.exit(2);
}
// libtest's flags (`cargo test -- --nocapture`) mean nothing here; a word is a filter.
const filter = rest.find((a) => !a.startsWith("-")) ?? "";
const engines = (process.env.MDH_TIER2_ENGINES ?? Object.keys(ENGINES).join(",")).split(",").map((s) => s.trim()).filter(Boolean);
for (const e of engines) if (!ENGINES[e]) throw new Error(`MDH_TIER2_ENGINES: unknown engine ${e} (known: ${Object.keys(ENGINES).join(", ")})`);

// wasm-bindgen as scripts/build.sh finds it: on PATH, else where `cargo install` put it.
function wasmBindgen() {
  const bin = path.join(process.env.CARGO_HOME ?? path.join(os.homedir(), ".cargo"), "bin", "wasm-bindgen");
  try {
    execFileSync("wasm-bindgen", ["--version"], { stdio: "ignore" });
    return "wasm-bindgen";
  } catch {
    return bin;
  }
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mdh-tier2-"));
process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
const mvp = path.join(dir, "mvp.wasm");
execFileSync(process.execPath, [path.join(ROOT, "scripts/no-reference-types.mjs"), wasm, mvp], { stdio: "inherit" });
execFileSync(wasmBindgen(), ["--target", "web", "--out-dir", path.join(dir, "pkg"), "--out-name", "web", "--no-typescript", mvp], { stdio: "inherit" });
// As in the shipped glue: JS values live in a JS array, not in an externref table.
if (fs.readFileSync(path.join(dir, "pkg/web.js"), "utf8").includes("externref")) throw new Error("the test glue uses reference types");

// The page: records what it threw and logged (WebDriver reports neither), then runs the
// tests one after another from `from`, and leaves the results in `globalThis.__tier2`
// for polling. It stops at the first failure: a trap may have left the wasm instance
// (its futures executor, say) unusable, so the runner goes on in a fresh page.
const PAGE = `<!doctype html><meta charset="utf-8"><title>mdh-token tier 2</title>
<script type="module">
const out = (globalThis.__tier2 = { names: null, results: [], done: false, error: null });
let log = [], stray = [];
const text = (a) => (a instanceof Error ? a.name + ": " + a.message : typeof a === "object" && a ? JSON.stringify(a) : String(a));
for (const level of ["debug", "log", "info", "warn", "error"]) {
  const original = console[level];
  console[level] = function (...args) {
    log.push(level + ": " + args.map(text).join(" "));
    return original.apply(this, args);
  };
}
// A trap or exception nobody caught fails the test that was running, at once (a test
// whose future trapped never settles).
let strayed = () => {};
const uncaught = (what) => (stray.push(what), strayed());
addEventListener("error", (e) => uncaught("uncaught " + describe(e.error ?? e.message)));
addEventListener("unhandledrejection", (e) => uncaught("unhandled rejection " + describe(e.reason)));
// An error's name, message and the first frames of its stack (a Rust panic is a trap,
// "unreachable", without a message: its stack says where).
function describe(e) {
  if (!(e instanceof Error)) return text(e);
  const head = e.name + ": " + e.message;
  // A failed check already says where (tests/web/…:line).
  if (e.message.startsWith("tests/web/")) return head;
  const stack = e.stack?.startsWith(head) ? e.stack.slice(head.length) : (e.stack ?? "");
  return [head, ...stack.split("\\n").filter(Boolean).slice(0, 8)].join("\\n");
}
try {
  const t = await import("./pkg/web.js");
  await t.default({ module_or_path: "./pkg/web_bg.wasm" });
  const query = new URLSearchParams(location.search);
  const filter = query.get("filter") ?? "";
  out.names = t.tier2_tests().filter((n) => n.includes(filter));
  for (let i = Number(query.get("from") ?? 0); i < out.names.length; i++) {
    const name = out.names[i];
    log = [];
    stray = [];
    const start = Date.now();
    let error = null, timer;
    try {
      await Promise.race([
        t.tier2_run(name),
        new Promise((_, fail) => {
          timer = setTimeout(() => fail(new Error("timed out after ${TEST_TIMEOUT_MS} ms")), ${TEST_TIMEOUT_MS});
          strayed = () => fail(new Error(stray.join("\\n")));
        }),
      ]);
    } catch (e) {
      error = describe(e);
    }
    clearTimeout(timer);
    strayed = () => {};
    // Errors that surface a task later still belong to this test.
    await new Promise((r) => setTimeout(r, 0));
    if (!error && stray.length) error = stray.join("\\n");
    out.results.push({ index: i, name, ok: !error, error, ms: Date.now() - start, log: error ? log : [] });
    if (error) break;
  }
} catch (e) {
  out.error = describe(e);
}
out.done = true;
</script>`;

const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm" };
const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname === "/") {
    res.writeHead(200, { "content-type": "text/html", "cache-control": "no-store" });
    return res.end(PAGE);
  }
  const file = path.join(dir, path.normalize(url.pathname));
  if (!file.startsWith(path.join(dir, "pkg") + path.sep) || !fs.existsSync(file)) {
    res.writeHead(404);
    return res.end();
  }
  res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
  fs.createReadStream(file).pipe(res);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const page = (from) => `http://127.0.0.1:${server.address().port}/?filter=${encodeURIComponent(filter)}&from=${from}`;

let failed = 0;
try {
  for (const engine of engines) {
    const started = Date.now();
    const session = await openSession(engine);
    console.log(`\nrunning in ${ENGINES[engine]} ${session.version} (${path.basename(wasm)})`);
    const results = [];
    let names = null;
    try {
      // A fresh page after each failure, from the next test on.
      for (let from = 0, more = true; more; ) {
        let printed = 0, state;
        await session.driver.get(page(from));
        await until(
          async () => {
            state = JSON.parse(await session.driver.executeScript("return JSON.stringify(globalThis.__tier2 ?? null)"));
            for (const r of state?.results.slice(printed) ?? []) {
              printed++;
              results.push(r);
              console.log(`test ${r.name} ... ${r.ok ? "ok" : "FAILED"} (${r.ms} ms)`);
              if (!r.ok) {
                console.log(`  ${r.error.replace(/\n/g, "\n  ")}`);
                for (const l of r.log) console.log(`  console.${l}`);
              }
            }
            return state?.done;
          },
          { timeout: 300_000, interval: 50, what: `the tests in ${ENGINES[engine]}` },
        );
        if (state.error) {
          failed++;
          console.log(`the test page failed in ${ENGINES[engine]}: ${state.error}`);
          break;
        }
        names = state.names;
        const last = state.results.at(-1);
        from = last ? last.index + 1 : names.length;
        more = from < names.length;
      }
    } finally {
      await session.close();
    }
    const passed = results.filter((r) => r.ok).length;
    failed += results.length - passed;
    if (names?.length === 0) {
      failed++;
      console.log(`no test matches "${filter}"`);
    }
    console.log(`${ENGINES[engine]}: ${passed} passed; ${results.length - passed} failed; finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
} finally {
  server.close();
}
process.exit(failed ? 1 : 0);
