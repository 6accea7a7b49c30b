// Soak: ≥ 100 renewals of 2-second tokens in one page (default options: memory storage,
// crossTab on) while every 7th broker call fails with a 503. Checks that no renewal is
// missed (no `expired`, each token replaced before it expired), that broker requests
// never overlap, and that memory stays flat: the wasm linear memory, the JS values the
// wasm holds (live slots of the glue's value array), and the JS heap after GC.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  sharedBrowser, openPage, createManager, until, assertNoLeak, packageBuilt, pageFaults, wasmStats,
} from "./harness.js";

const skip = !packageBuilt() && "package not built: run npm run build";
const RENEWALS = 100;
const FAIL_EVERY = 7;
const suite = sharedBrowser({ before, after, assert, skip }, { lifetime: 2, keepAlive: false });

/** JS heap in use after a full GC, through the DevTools protocol. */
async function heapAfterGc(cdp) {
  await cdp.send("HeapProfiler.collectGarbage");
  return (await cdp.send("Runtime.getHeapUsage")).usedSize;
}

/** wasm stats sampled while no renewal is under way (in-flight calls hold a few values). */
async function quietStats(page) {
  return until(async () => {
    const busy = await page.evaluate(() => window.tm.status().state !== "valid");
    if (busy) return false;
    const s = await wasmStats(page);
    const still = await page.evaluate(() => window.tm.status().state === "valid");
    return still && s;
  }, { what: "a moment between renewals" });
}

test(`soak: ${RENEWALS} renewals of 2 s tokens with a 503 every ${FAIL_EVERY}th call`, { skip, timeout: 200_000 }, async (t) => {
  const started = Date.now();
  suite.server.reset(2);
  for (let i = 1; i <= 3 * RENEWALS; i++) suite.server.state.script.push(i % FAIL_EVERY === 0 ? { status: 503 } : { status: 200 });
  const ctx = await suite.newContext(t);
  const page = await openPage(ctx, suite.server);
  const cdp = await ctx.newCDPSession(page);
  await createManager(page, { logLevel: "warn", retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 200 } });
  await page.evaluate(() => {
    window.tokens = [];
    window.tm.on("token", (t) => window.tokens.push({ at: Date.now(), expiresAt: t.expires_at }));
  });
  await page.evaluate(() => window.tm.getToken());

  const tokenCount = () => page.evaluate(() => window.tokens.length);
  await until(async () => (await tokenCount()) >= 10, { timeout: 30_000, what: "warm-up renewals" });
  const early = { ...(await quietStats(page)), heap: await heapAfterGc(cdp), renewals: (await tokenCount()) - 1 };

  await until(async () => (await tokenCount()) >= RENEWALS + 1, { timeout: 170_000, interval: 250, what: `${RENEWALS} renewals` });
  const late = { ...(await quietStats(page)), heap: await heapAfterGc(cdp), renewals: (await tokenCount()) - 1 };

  // Stop between renewals (checked and done in one task), so that no call is in flight.
  const r = await until(() => page.evaluate(() => {
    const st = window.tm.status();
    if (st.state !== "valid") return null;
    window.tm.destroy();
    return {
      tokens: window.tokens,
      events: window.events.map((e) => ({ name: e.name, code: e.code, status: e.status, retryAt: e.retryAt })),
      st,
    };
  }), { what: "a moment between renewals" });
  const calls = suite.server.state.calls.length;
  const failures = r.events.filter((e) => e.name === "error");
  const renewals = r.tokens.length - 1;
  const gaps = r.tokens.slice(1).map((x, i) => x.at - r.tokens[i].at);
  const secs = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`# soak: ${renewals} renewals, ${calls} broker calls (${failures.length} failed with 503 and were retried), ` +
    `max concurrent ${suite.server.state.maxOpen}, renewal period ${Math.min(...gaps)}–${Math.max(...gaps)} ms, ${secs} s`);
  console.log(`# soak memory (after ${early.renewals} → ${late.renewals} renewals): wasm ${early.memoryBytes} → ${late.memoryBytes} B, ` +
    `wasm-held JS values ${early.jsValues} → ${late.jsValues}, JS heap after GC ${early.heap} → ${late.heap} B`);

  assert.ok(renewals >= RENEWALS);
  assert.equal(r.events.filter((e) => e.name === "expired").length, 0, "no token expired");
  // Each token was replaced before it expired.
  for (let i = 1; i < r.tokens.length; i++) {
    assert.ok(r.tokens[i].at < r.tokens[i - 1].expiresAt, `token ${i - 1} expired before its renewal`);
  }
  assert.equal(suite.server.state.maxOpen, 1, "never two broker requests at once");
  // One call per renewal, plus one retry per scripted 503.
  assert.equal(failures.length, Math.floor(calls / FAIL_EVERY), `${failures.length} failures in ${calls} calls`);
  assert.equal(calls, 1 + renewals + failures.length);
  for (const e of failures) {
    assert.deepEqual([e.code, e.status, typeof e.retryAt], ["broker_failed", 503, "number"]);
  }
  assert.equal(r.st.brokerCalls, calls);
  // Flat memory.
  assert.equal(late.memoryBytes, early.memoryBytes, "wasm linear memory did not grow");
  assert.ok(late.jsValues <= early.jsValues + 2, `JS values held by the wasm: ${early.jsValues} → ${late.jsValues}`);
  assert.ok(late.heap - early.heap < 1_000_000, `JS heap grew by ${late.heap - early.heap} B`);
  assert.deepEqual(await pageFaults(page), []);
  assertNoLeak(assert, suite.server, page.logs);
});
