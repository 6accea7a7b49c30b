// Tier 3's runner: every tests/**/*.test.js in its own `node --test` process, a few at a
// time. The files share nothing that would make them wait for each other: each starts
// its own servers on port 0, its own browser (a Chromium, or WebDriver servers on free
// ports and an Xvfb that picks a free display), its own redis-server and temp folders.
// Most of their time is waiting on real timers (tokens of a few seconds renewing),
// so running several at once fills the gaps instead of adding to the load.
//
// Each file's output is printed whole when it ends (no interleaving), then a table of
// wall times, slowest first, so the next person can see where the time goes.
//
//   node scripts/run-tests.mjs [dir-or-file …]   default: tests/
//   MDH_TEST_JOBS=n                               files at once (default 3)
//   --skip FILE                                   leave a file out (repeatable)
//   --results FILE                                also write the results as JSON
//   --summary FILE …                              no run: the table and totals of
//                                                 earlier --results files together
//
// scripts/test.sh starts the files that mostly wait on real timers (the soak, the
// cross-tab renewals) in a run of their own beside tiers 1 and 2, then the rest; its
// --summary adds up both.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const jobs = Math.max(1, Number(process.env.MDH_TEST_JOBS ?? 3) || 1);

// The slowest files first (as the table this prints measured them, and the ones that
// build apps), so that the pool does not end on a long file alone; the others in path
// order.
const FIRST = [
  "tests/e2e/soak.test.js",
  "tests/broker/sim.test.js",
  "tests/e2e/nextjs.test.js",
  "tests/engines/engines.test.js",
  "tests/e2e/embeddables.test.js",
  "tests/e2e/lifecycle.test.js",
  "tests/e2e/packaging.test.js",
  "tests/e2e/mydatahelps-ui.test.js",
  "tests/e2e/host-unit.test.js",
  "tests/e2e/crosstab.test.js",
  "tests/e2e/integrations.test.js",
  "tests/e2e/faults.test.js",
];

function find(p) {
  const abs = path.resolve(ROOT, p);
  if (fs.statSync(abs).isFile()) return [abs];
  return fs.readdirSync(abs, { recursive: true })
    .map((f) => path.join(abs, f))
    // tests/apps/ holds host apps with their own runners (Vitest, Jest), which the files
    // here drive (tests/e2e/host-unit.test.js): not node:test files.
    .filter((f) => f.endsWith(".test.js") && !f.split(path.sep).includes("node_modules") && !rel(f).startsWith("tests/apps/"));
}
const rel = (f) => path.relative(ROOT, f).split(path.sep).join("/");

// Arguments: paths, and the options above.
const paths = [], skip = new Set();
let resultsFile, summary;
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === "--skip") skip.add(rel(path.resolve(ROOT, process.argv[++i])));
  else if (a === "--results") resultsFile = process.argv[++i];
  else if (a === "--summary") {
    summary = process.argv.slice(i + 1);
    break;
  } else if (a.startsWith("--")) throw new Error(`run-tests: unknown option ${a}`);
  else paths.push(a);
}

function report(results, label) {
  const total = (k) => results.reduce((a, r) => a + r[k], 0);
  console.log(`\n== ${label}`);
  for (const r of [...results].sort((a, b) => b.seconds - a.seconds)) {
    console.log(`${r.seconds.toFixed(1).padStart(7)} s  ${r.ok ? "ok  " : "FAIL"}  ${r.file}  (${r.pass} passed, ${r.fail} failed, ${r.skipped} skipped)`);
  }
  console.log(`tests: ${total("pass")} passed, ${total("fail")} failed, ${total("skipped")} skipped`);
  const failed = results.filter((r) => !r.ok);
  if (failed.length) {
    console.log(`FAILED: ${failed.map((r) => r.file).join(" ")}`);
    process.exitCode = 1;
  }
}

if (summary) {
  // A --results file that is missing or empty is a run that did not finish: a failure.
  const results = summary.flatMap((f) => {
    try {
      return JSON.parse(fs.readFileSync(f, "utf8"));
    } catch {
      return [{ file: `(the run that was to write ${f})`, seconds: 0, ok: false, pass: 0, fail: 0, skipped: 0 }];
    }
  });
  report(results, `tier 3: ${results.length} files`);
  process.exit();
}

const all = [...new Set((paths.length ? paths : ["tests"]).flatMap(find))].filter((f) => !skip.has(rel(f))).sort();
const rank = (f) => (FIRST.includes(rel(f)) ? FIRST.indexOf(rel(f)) : FIRST.length);
const queue = all.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));

// Stopped (scripts/test.sh ends early when a tier fails): the files' processes, and the
// browsers and servers they started, end with it.
const children = new Set();
for (const sig of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.on(sig, () => {
    for (const c of children) c.kill("SIGTERM");
    process.exit(1);
  });
}

const results = [];
function runFile(file) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ["--test", "--test-reporter=tap", file], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (code, signal) => {
      children.delete(child);
      const seconds = (Date.now() - t0) / 1000;
      const count = (k) => Number(out.match(new RegExp(`^# ${k} (\\d+)$`, "m"))?.[1] ?? 0);
      const r = { file: rel(file), seconds, ok: code === 0, pass: count("pass"), fail: count("fail"), skipped: count("skipped") };
      results.push(r);
      process.stdout.write(`\n== ${r.file}: ${r.ok ? "ok" : `FAILED (exit ${code ?? signal})`}, ${seconds.toFixed(1)} s\n${out}`);
      resolve();
    });
  });
}

const t0 = Date.now();
await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, async () => {
  while (queue.length) await runFile(queue.shift());
}));

if (resultsFile) fs.writeFileSync(resultsFile, JSON.stringify(results));
report(results, `tier 3: ${results.length} files, ${jobs} at a time, ${((Date.now() - t0) / 1000).toFixed(1)} s wall`);
