// The broker POST as the built package sends it, in Chromium: a JSON body saying why
// ({"reason": initial | scheduled | forced | expired}, what mdh-token/broker caches by) with
// Content-Type: application/json (what its CSRF guard requires), beside the app's headers.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { sharedBrowser, openPage, createManager, until, packageBuilt } from "./harness.js";

const skip = !packageBuilt() && "package not built: run npm run build";
const suite = sharedBrowser({ before, after, assert, skip }, { keepAlive: false });

const reasons = () => suite.server.state.calls.map((c) => JSON.parse(c.body).reason);

async function wake(page) {
  await page.evaluate(() => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
    document.dispatchEvent(new Event("visibilitychange"));
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "visible" });
    document.dispatchEvent(new Event("visibilitychange"));
  });
}

test("each broker POST carries {reason} as JSON: initial, forced, scheduled, expired", { skip }, async (t) => {
  suite.server.reset(3600);
  const ctx = await suite.newContext(t);
  const page = await openPage(ctx, suite.server, { beforeGoto: (p) => p.clock.install() });
  await createManager(page, { crossTab: false, headers: { "X-CSRF": "abc" } });
  const first = await page.evaluate(() => window.tm.getToken());
  await page.evaluate(() => window.tm.refresh());
  assert.deepEqual(reasons(), ["initial", "forced"]);
  for (const c of suite.server.state.calls) {
    assert.equal(c.headers["content-type"], "application/json");
    assert.equal(c.headers.accept, "application/json");
    assert.equal(c.headers["x-csrf"], "abc", "the app's own headers still go along");
    assert.deepEqual(Object.keys(JSON.parse(c.body)), ["reason"], "nothing else in the body");
  }
  // Into the renewal window (the device slept): a scheduled renewal.
  const second = await page.evaluate(() => window.tm.peek());
  assert.notEqual(second.access_token, first.access_token);
  await page.clock.setSystemTime(second.expires_at - 100_000);
  await wake(page);
  await until(() => suite.server.state.calls.length === 3, { what: "the scheduled renewal" });
  assert.equal(reasons()[2], "scheduled");
  // Past expiry: an expired renewal.
  await until(async () => (await page.evaluate(() => window.tm.status().state)) === "valid", { what: "the renewed token" });
  const third = await page.evaluate(() => window.tm.peek());
  await page.clock.setSystemTime(third.expires_at + 3600_000);
  await wake(page);
  await until(() => suite.server.state.calls.length === 4, { what: "the expired renewal" });
  assert.deepEqual(reasons(), ["initial", "forced", "scheduled", "expired"]);
});

test("with participant, the body names it too (the broker refuses a page bound to someone else)", { skip }, async (t) => {
  suite.server.reset(3600);
  const ctx = await suite.newContext(t);
  const page = await openPage(ctx, suite.server);
  await createManager(page, { crossTab: false, participant: "p-ada/1" });
  await page.evaluate(() => window.tm.getToken());
  assert.deepEqual(JSON.parse(suite.server.state.calls[0].body), { reason: "initial", participant: "p-ada/1" });
  // A 403 from the broker (participant_mismatch) is final: the page lets go and stops.
  suite.server.state.script.push({ status: 403, body: { error: "participant_mismatch" } });
  const code = await page.evaluate(() => window.tm.refresh().then(() => "resolved", (e) => e.code));
  assert.equal(code, "broker_rejected");
  assert.equal(await page.evaluate(() => window.tm.peek()), null);
});
