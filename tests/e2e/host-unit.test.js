// A host team's own unit tests (tests/apps/host-unit): Vitest 4 + React Testing Library
// under jsdom and under happy-dom, and Jest 30 + jsdom, each testing a small component
// tree (TokenProvider + attachSdk against mdh-token/testing's fake SDK, fed by its
// scripted broker) with the real wasm manager, read from its file: URL, and renewals
// driven by the runner's fake timers. mdh-token is `npm pack`ed into the app first.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, packageBuilt } from "./harness.js";
import { installPacked } from "../support/packed.js";

const APP = path.join(ROOT, "tests/apps/host-unit");
const skip = (!packageBuilt() && "package not built: run npm run build")
  || (!fs.existsSync(path.join(APP, "node_modules")) && "test app not installed: run bash scripts/setup.sh");
const SUITE = [
  "the real manager in a test DOM: TokenProvider + attachSdk feed the SDK, the tree renders the participant",
  "createTokenManager() itself: getToken, status, fetch-free broker function",
  "renewals without waiting: two hours of 10-minute tokens on the runner's fake timers",
  "a failing broker: backoff, then a token once it recovers (scripted failures and latency)",
  "sign-out: clear() empties the state, the SDK keeps no renewal going",
  "the SDK as a loader (sdk={() => import(…)}), and a loader that fails reported as sdk_unavailable",
];
let tmp;

before(() => {
  if (skip) return;
  installPacked(APP);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mdh-token-host-unit-"));
});

// Runs a runner in the app; resolves its JSON report (and output, for failures).
function run(args, report) {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: APP, env: { ...process.env, CI: "1", NO_COLOR: "1" }, maxBuffer: 64 << 20, timeout: 240_000 },
      (err, stdout, stderr) => {
        const json = fs.existsSync(report) ? JSON.parse(fs.readFileSync(report, "utf8")) : null;
        resolve({ code: err ? err.code ?? 1 : 0, out: `${stdout}\n${stderr}`, json });
      });
  });
}
const passed = (json) => json.testResults.flatMap((f) => f.assertionResults.filter((a) => a.status === "passed").map((a) => a.title));

test("Vitest 4 + React Testing Library, jsdom and happy-dom: the host's suite passes with the real manager", { skip }, async () => {
  const report = path.join(tmp, "vitest.json");
  const r = await run(["node_modules/vitest/vitest.mjs", "run", "--reporter=json", `--outputFile=${report}`], report);
  assert.equal(r.code, 0, r.out.slice(-4000));
  // Both projects ran the whole suite: each name twice.
  assert.deepEqual(passed(r.json).sort(), [...SUITE, ...SUITE].sort());
  assert.equal(r.json.numFailedTests, 0);
});

test("Jest 30 + jsdom (native ESM, mdh-token/testing in setupFiles): the host's suite passes with the real manager", { skip }, async () => {
  const report = path.join(tmp, "jest.json");
  const r = await run(["--experimental-vm-modules", "node_modules/jest/bin/jest.js", "--json", `--outputFile=${report}`], report);
  assert.equal(r.code, 0, r.out.slice(-4000));
  assert.deepEqual(passed(r.json).sort(), [...SUITE].sort());
});
