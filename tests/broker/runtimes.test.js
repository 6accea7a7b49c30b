// The broker outside Node: Deno and Bun (both from the npm registry, devDependencies) import
// broker/index.js and serve the page's POST against the emulator started here, with a
// PKCS#1 key (so the PKCS#8 wrapping runs on their Web Crypto).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { ACCOUNT, ADA, PKCS1_PEM, startEmulator, assertNoSecret } from "./helpers.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const bin = (name) => path.join(ROOT, "node_modules/.bin", name);
const SCRIPT = path.join(ROOT, "tests/broker/runtime-check.js");

const RUNTIMES = {
  // Network only to loopback, environment read-only: what the broker needs and no more.
  Deno: [bin("deno"), ["run", "--no-prompt", "--allow-net=127.0.0.1", "--allow-env", SCRIPT], /^deno 2\./],
  Bun: [bin("bun"), [SCRIPT], /^bun 1\./],
};

for (const [name, [cmd, args, version]] of Object.entries(RUNTIMES)) {
  test(`${name} runs the broker: cached, forced and cross-site answers as on Node`, async (t) => {
    const mdh = await startEmulator(t);
    // No update check, telemetry or crash upload: this machine reaches only loopback and registries.
    const quiet = { DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1", DO_NOT_TRACK: "1", NO_COLOR: "1" };
    const env = { ...process.env, ...quiet, MDH_TOKEN_URL: mdh.tokenUrl, MDH_ACCOUNT: ACCOUNT, MDH_KEY: PKCS1_PEM, MDH_PARTICIPANT: ADA };
    // Asynchronous on purpose: the emulator answering it lives in this process.
    const { stdout } = await promisify(execFile)(cmd, args, { cwd: ROOT, env, encoding: "utf8", timeout: 60_000 });
    const out = JSON.parse(stdout.trim().split("\n").pop());
    console.log(`# ${out.runtime}`);
    assert.match(out.runtime, version);
    assert.deepEqual(out.statuses, [200, 200, 200, 403]);
    assert.equal(out.cacheControl, "no-store");
    assert.equal(out.tokens[1], out.tokens[0], "scheduled got the cached token");
    assert.notEqual(out.tokens[2], out.tokens[0], "forced got a new one");
    for (const tok of out.tokens) assert.equal(await mdh.whose(tok), ADA);
    assert.equal(mdh.emulator.stats.clientCredentials, 1, "the emulator verified its RS256 assertion");
    assert.equal(mdh.emulator.stats.delegatedParticipant, 2);
    assertNoSecret(assert, out.logs, mdh.secrets());
    // Sealed under this runtime's Web Crypto: the cached answer above was opened from it.
    assert.ok(out.sealed, "every value written was sealed");
    assertNoSecret(assert, [out.written], mdh.secrets());
  });
}
