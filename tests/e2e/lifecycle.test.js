// Lifecycle in the browser: storage modes, sleep-proof renewal, bounded retries,
// events and cross-tab single flight — the built package in Debian's Chromium against
// the scripted broker of the harness. Synchronisation is bounded polling on observable
// state (`until`), never a fixed sleep; the only waits without a condition are "quiet
// windows" that check that something does NOT happen, and they are named as such.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  sharedBrowser, openPage, createManager, until, assertNoLeak, packageBuilt, storageDump, destroyAndCount,
} from "./harness.js";

const skip = !packageBuilt() && "package not built: run npm run build";
// keepAlive: false — every broker request on a fresh connection, so that Chromium
// never silently resends a POST whose reused socket was dropped.
const suite = sharedBrowser({ before, after, assert, skip }, { keepAlive: false });
const newContext = (t) => suite.newContext(t);
const closeContext = (c) => suite.closeContext(c);

// The harness keeps every issued token (for the leak checks); index this test's own.
let base = 0;
function reset(lifetime) {
  suite.server.reset(lifetime);
  base = suite.server.state.issued.length;
}
const issued = (i) => suite.server.state.issued[base + i];

/** Observes for `ms` that nothing happens (a negative check, not synchronisation). */
async function quietWindow(ms) {
  await new Promise((r) => setTimeout(r, ms));
}

const tok = (page) => page.evaluate(() => window.tm.peek()?.access_token ?? null);
const events = (page, name) => page.evaluate((n) => window.events.filter((e) => !n || e.name === n), name);
const warnings = (page) => page.logs.filter((l) => l.startsWith("warning:"));

// ---------------------------------------------------------------------------------
// 1. Storage modes
// ---------------------------------------------------------------------------------

for (const storage of ["session", "local"]) {
  test(`storage "${storage}": the token survives a reload with no new broker call`, { skip }, async (t) => {
    reset();
    const ctx = await newContext(t);
    const page = await openPage(ctx, suite.server);
    await createManager(page, { storage, crossTab: false });
    const first = await page.evaluate(() => window.tm.getToken().then((t) => t.access_token));
    assert.equal(suite.server.state.calls.length, 1);
    const stored = await storageDump(page);
    assert.equal(stored.filter((s) => s.startsWith(`${storage}:mdh-token=`)).length, 1, stored.join("\n"));

    await page.reload();
    await createManager(page, { storage, crossTab: false });
    const r = await page.evaluate(async () => ({
      peek: window.tm.peek()?.access_token ?? null,
      got: (await window.tm.getToken()).access_token,
      st: window.tm.status(),
    }));
    assert.equal(r.peek, first, "restored synchronously at creation");
    assert.equal(r.got, first);
    assert.equal(suite.server.state.calls.length, 1, "no broker call after the reload");
    assert.equal(r.st.storage, storage);
    assert.equal(r.st.brokerCalls, 0);
    assert.equal(r.st.state, "valid");
    assert.deepEqual(warnings(page), []);
    await closeContext(ctx);
  });
}

test(`storage "memory": a reload calls the broker again and Web Storage never holds the token`, { skip }, async (t) => {
  reset();
  const ctx = await newContext(t);
  const page = await openPage(ctx, suite.server);
  await createManager(page, { storage: "memory", crossTab: false });
  const first = await page.evaluate(() => window.tm.getToken().then((t) => t.access_token));
  await page.evaluate(() => window.tm.refresh());
  assert.equal(suite.server.state.calls.length, 2);
  const dump1 = await storageDump(page);
  await page.reload();
  await createManager(page, { storage: "memory", crossTab: false });
  assert.equal(await tok(page), null, "nothing restored");
  const second = await page.evaluate(() => window.tm.getToken().then((t) => t.access_token));
  assert.equal(suite.server.state.calls.length, 3, "a new broker call after the reload");
  assert.notEqual(second, first);
  const dump2 = await storageDump(page);
  for (const dump of [dump1, dump2]) {
    assert.deepEqual(dump, [], "sessionStorage and localStorage are empty");
    assertNoLeak(assert, suite.server, dump);
  }
  assert.equal(await page.evaluate(() => window.tm.status().storage), "memory");
  await closeContext(ctx);
});

const THROWING = {
  "Storage methods throw": () => {
    for (const m of ["getItem", "setItem", "removeItem"]) {
      Storage.prototype[m] = function () { throw new DOMException("denied", "SecurityError"); };
    }
  },
  "the storage getters throw": () => {
    for (const name of ["sessionStorage", "localStorage"]) {
      Object.defineProperty(window, name, { get() { throw new DOMException("denied", "SecurityError"); } });
    }
  },
};
for (const [label, init] of Object.entries(THROWING)) {
  for (const storage of ["session", "local"]) {
    test(`storage "${storage}" when ${label}: falls back to memory with exactly one warning`, { skip }, async (t) => {
      reset();
      const ctx = await newContext(t);
      const page = await openPage(ctx, suite.server, { beforeGoto: (p) => p.addInitScript(init) });
      await createManager(page, { storage, crossTab: false });
      const r = await page.evaluate(async () => {
        const a = await window.tm.getToken();
        const b = await window.tm.refresh();
        const c = await window.tm.getToken();
        window.tm.clear();
        const d = await window.tm.getToken();
        return { a: a.access_token, b: b.access_token, c: c.access_token, d: d.access_token, st: window.tm.status() };
      });
      assert.equal(r.st.storage, "memory");
      assert.ok(r.a.startsWith("tk") && r.b !== r.a && r.c === r.b && r.d !== r.c, "getToken/refresh/clear still work");
      assert.equal(suite.server.state.calls.length, 3);
      const w = warnings(page);
      assert.equal(w.length, 1, `exactly one warning line:\n${w.join("\n")}`);
      assert.match(w[0], /^warning: mdh-token: storage is not available/);
      await closeContext(ctx);
    });
  }
}

// ---------------------------------------------------------------------------------
// 2. Cross-tab single flight: one broker call per renewal, however many tabs
// ---------------------------------------------------------------------------------

const RENEWALS = 5;
const measured = {};

/** `n` pages of one browser context, memory storage, crossTab: true, 4 s tokens (renewal every 2 s). */
async function renewalRun(t, n) {
  reset(4);
  const ctx = await newContext(t);
  const pages = [];
  for (let i = 0; i < n; i++) pages.push(await openPage(ctx, suite.server));
  await Promise.all(pages.map((p) => createManager(p, { crossTab: true })));
  // Every tab asks at once: the Web Lock lets one of them call the broker.
  const first = await Promise.all(pages.map((p) => p.evaluate(() => window.tm.getToken().then((t) => t.access_token))));
  assert.equal(new Set(first).size, 1, "all tabs got the same first token");
  // Wait (bounded) for renewal number RENEWALS to reach every tab, and no tab to be mid-renewal.
  await until(async () => {
    const want = issued(RENEWALS);
    if (!want) return false;
    for (const p of pages) {
      const s = await p.evaluate(() => ({ t: window.tm.peek()?.access_token, state: window.tm.status().state }));
      if (s.t !== want || s.state !== "valid") return false;
    }
    return true;
  }, { timeout: 30_000, what: `${RENEWALS} renewals in ${n} tab(s)` });
  const calls = suite.server.state.calls.map((c) => c.at);
  const maxOpen = suite.server.state.maxOpen;
  const perTab = await destroyAndCount(pages);
  await closeContext(ctx);
  return { calls, maxOpen, perTab };
}

for (const n of [1, 3]) {
  test(`cross-tab: ${n} tab(s) over ${RENEWALS} renewals of 4 s tokens make exactly one broker call per renewal`, { skip, timeout: 60_000 }, async (t) => {
    const r = await renewalRun(t, n);
    measured[n] = r.calls.length;
    assert.equal(r.calls.length, 1 + RENEWALS, `broker calls: ${r.calls.length}`);
    assert.equal(r.maxOpen, 1, "never two broker requests at once");
    // One call per renewal period: consecutive calls ~2 s apart, never a duplicate.
    const gaps = r.calls.slice(1).map((t, i) => t - r.calls[i]);
    for (const g of gaps) assert.ok(g >= 1500 && g <= 3500, `renewal gaps ${gaps.join(", ")} ms`);
    assert.equal(r.perTab.reduce((a, t) => a + t.calls, 0), 1 + RENEWALS, "per-tab brokerCalls add up to the server's count");
    for (const t of r.perTab) {
      assert.equal(t.tokens, 1 + RENEWALS, "every tab adopted every token once");
      assert.equal(t.expired, 0);
      assert.equal(t.errors, 0);
    }
    if (n === 3) console.log(`# broker calls: 1 tab ${measured[1]}, 3 tabs ${measured[3]} over ${RENEWALS} renewals (max concurrent ${r.maxOpen})`);
  });
}

// ---------------------------------------------------------------------------------
// 3 and 4. clear() across tabs; a new tab gets the token from its peers
// ---------------------------------------------------------------------------------

for (const storage of ["memory", "local"]) {
  test(`clear() in one tab clears the others (${storage})`, { skip }, async (t) => {
    reset();
    const ctx = await newContext(t);
    const pages = [await openPage(ctx, suite.server), await openPage(ctx, suite.server), await openPage(ctx, suite.server)];
    await Promise.all(pages.map((p) => createManager(p, { storage })));
    await pages[0].evaluate(() => window.tm.getToken());
    await Promise.all(pages.slice(1).map((p) => p.evaluate(() => window.tm.getToken())));
    const token = issued(0);
    assert.equal(suite.server.state.calls.length, 1);
    for (const p of pages) assert.equal(await tok(p), token);
    if (storage === "local") {
      const dump = await storageDump(pages[1]);
      assert.ok(dump.some((s) => s.startsWith("local:mdh-token=") && s.includes(token)), "stored in localStorage");
    }
    await pages[1].evaluate(() => window.tm.clear());
    for (const p of pages) {
      await until(async () => (await events(p, "cleared")).length === 1, { what: "a cleared event in every tab" });
      assert.equal(await tok(p), null);
      assert.equal(await p.evaluate(() => window.tm.status().state), "empty");
    }
    for (const p of pages) assert.deepEqual(await storageDump(p), [], "no entry left in Web Storage");
    // The cleared token is not served again: the next getToken asks the broker.
    const next = await pages[2].evaluate(() => window.tm.getToken().then((x) => x.access_token));
    assert.notEqual(next, token);
    assert.equal(suite.server.state.calls.length, 2);
    await closeContext(ctx);
  });
}

test("a new tab in memory mode gets the current token from its peers without a broker call", { skip }, async (t) => {
  reset();
  const ctx = await newContext(t);
  const a = await openPage(ctx, suite.server);
  await createManager(a, {});
  const older = await a.evaluate(() => window.tm.getToken().then((x) => x.access_token));
  await a.evaluate(() => window.tm.refresh());
  const current = issued(1);
  assert.equal(suite.server.state.calls.length, 2);
  const b = await openPage(ctx, suite.server);
  await createManager(b, {});
  assert.equal(await tok(b), null, "memory mode: nothing stored to restore");
  const r = await b.evaluate(async () => {
    const t = await window.tm.getToken();
    return { t: t.access_token, calls: window.tm.status().brokerCalls, reason: window.events.map((e) => e.name) };
  });
  assert.equal(r.t, current, "the peer's current token, not an older one");
  assert.notEqual(r.t, older);
  assert.equal(r.calls, 0);
  assert.deepEqual(r.reason, ["token"]);
  assert.equal(suite.server.state.calls.length, 2, "no broker call");
  await closeContext(ctx);
});

// ---------------------------------------------------------------------------------
// 5. Sleep: timers that did not run, then the page becomes visible again
// ---------------------------------------------------------------------------------

async function sleepingPage(t) {
  reset(3600);
  const ctx = await newContext(t);
  const page = await openPage(ctx, suite.server, { beforeGoto: (p) => p.clock.install() });
  await createManager(page, { crossTab: false });
  const token = await page.evaluate(() => window.tm.getToken());
  assert.equal(suite.server.state.calls.length, 1);
  return { ctx, page, token };
}
async function becomeVisible(page) {
  await page.evaluate(() => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
    document.dispatchEvent(new Event("visibilitychange"));
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "visible" });
    document.dispatchEvent(new Event("visibilitychange"));
  });
}

test("sleep past the renewal point: becoming visible renews at once", { skip }, async (t) => {
  const { ctx, page, token } = await sleepingPage(t);
  // The wall clock jumps 3500 s (inside the 120 s window); performance.now() and the
  // timers do not move, as when a device sleeps.
  await page.clock.setSystemTime(token.expires_at - 100_000);
  assert.equal(suite.server.state.calls.length, 1, "nothing happened before the page woke");
  const t0 = Date.now();
  await becomeVisible(page);
  await until(() => suite.server.state.calls.length === 2, { timeout: 5000, what: "a renewal on visibilitychange" });
  const latency = Date.now() - t0;
  await until(async () => (await tok(page)) === issued(1), { timeout: 5000, what: "the new token" });
  const ev = await events(page);
  assert.deepEqual(ev.map((e) => e.name), ["token", "expiring", "token"]);
  const r = await page.evaluate(() => window.tm.getToken());
  assert.equal(r.access_token, issued(1));
  assert.ok(r.expires_in > 3590, `fresh token: ${r.expires_in}`);
  assert.ok(latency < 5000, `renewed ${latency} ms after waking (the next timer was 30 s away)`);
  await closeContext(ctx);
});

test("sleep past expiry: waking emits expired and renews with a fresh token", { skip }, async (t) => {
  const { ctx, page, token } = await sleepingPage(t);
  await page.clock.setSystemTime(token.expires_at + 2 * 3600_000);
  assert.equal(suite.server.state.calls.length, 1);
  // peek() checks the wall clock too: the expired token is never handed out.
  assert.equal(await tok(page), null);
  await becomeVisible(page);
  await until(() => suite.server.state.calls.length === 2, { timeout: 5000, what: "a renewal on visibilitychange" });
  await until(async () => (await tok(page)) === issued(1), { timeout: 5000, what: "the new token" });
  const ev = (await events(page)).map((e) => e.name);
  assert.equal(ev.filter((e) => e === "expired").length, 1, ev.join(","));
  assert.deepEqual(ev.slice(-2), ["expired", "token"]);
  const r = await page.evaluate(() => ({ t: window.tm.peek(), now: Date.now(), st: window.tm.status() }));
  assert.ok(r.t.expires_at > r.now + 3590_000, "fresh token after the jump");
  assert.equal(r.st.state, "valid");
  assert.equal(r.st.lastError, null);
  await closeContext(ctx);
});

// ---------------------------------------------------------------------------------
// 6. Retries
// ---------------------------------------------------------------------------------

test("retries: backoff within bounds, Retry-After honoured, errors carry code/status/retryAt, success resolves the waiter", { skip }, async (t) => {
  reset();
  const ctx = await newContext(t);
  const page = await openPage(ctx, suite.server);
  const retry = { baseDelayMs: 100, maxDelayMs: 1500 };
  await createManager(page, { crossTab: false, timeoutMs: 400, retry });
  suite.server.state.script.push({ status: 503 }, { status: 429, headers: { "retry-after": "1" } }, { hang: true }, { drop: true });
  const r = await page.evaluate(() => window.tm.getToken().then((t) => ({ ok: t.access_token }), (e) => ({ code: e.code })));
  assert.equal(r.ok, issued(0), "the final success resolves the waiting getToken");
  const at = suite.server.state.calls.map((c) => c.at);
  assert.equal(at.length, 5);
  const gaps = at.slice(1).map((t, i) => t - at[i]);
  console.log(`# backoff schedule (ms between broker calls; 503, 429 Retry-After: 1, hang 400 ms, drop): ${gaps.join(", ")}`);
  const SLACK = 250;
  // Full jitter over min(max, base·2^(n−1)): 100, 200, 400, 800 ms ceilings.
  assert.ok(gaps[0] <= 100 + SLACK, `after 503: ${gaps[0]}`);
  assert.ok(gaps[1] >= 1000 && gaps[1] <= 1000 + SLACK, `after Retry-After: 1: ${gaps[1]}`);
  assert.ok(gaps[2] >= 400 && gaps[2] <= 400 + 400 + SLACK, `after a 400 ms timeout: ${gaps[2]}`);
  assert.ok(gaps[3] <= 800 + SLACK, `after a dropped connection: ${gaps[3]}`);
  const errs = await events(page, "error");
  assert.deepEqual(errs.map((e) => [e.code, e.status]), [
    ["broker_failed", 503], ["broker_failed", 429], ["broker_timeout", 0], ["broker_unreachable", 0],
  ]);
  errs.forEach((e, i) => {
    assert.equal(typeof e.retryAt, "number", "retryAt announces the next attempt");
    // The next call reaches the server at (or just after) the announced time.
    assert.ok(at[i + 1] >= e.retryAt - 5 && at[i + 1] <= e.retryAt + SLACK, `retryAt ${e.retryAt} vs call ${at[i + 1]}`);
  });
  assert.equal(suite.server.state.maxOpen, 1);
  const st = await page.evaluate(() => window.tm.status());
  assert.deepEqual([st.state, st.lastError, st.nextAttemptAt, st.brokerCalls], ["valid", null, null, 5]);
  await closeContext(ctx);
});

test("401 is final: token cleared, cleared event, no next attempt, no further broker call", { skip }, async (t) => {
  reset();
  const ctx = await newContext(t);
  const page = await openPage(ctx, suite.server);
  await createManager(page, { crossTab: false, retry: { baseDelayMs: 50, maxDelayMs: 300 } });
  await page.evaluate(() => window.tm.getToken());
  suite.server.state.script.push({ status: 401 });
  const r = await page.evaluate(() => window.tm.refresh().then(() => null, (e) => ({ code: e.code, status: e.status, retryAt: e.retryAt ?? null })));
  assert.deepEqual(r, { code: "broker_rejected", status: 401, retryAt: null });
  const st = await page.evaluate(() => window.tm.status());
  assert.equal(st.nextAttemptAt, null);
  assert.equal(st.state, "empty");
  assert.equal(st.lastError, "broker_rejected");
  assert.equal(await tok(page), null);
  assert.deepEqual((await events(page)).map((e) => e.name), ["token", "error", "cleared"]);
  // Quiet window of several maxDelayMs: nothing retries by itself.
  await quietWindow(1000);
  assert.equal(suite.server.state.calls.length, 2, "no further call");
  // Until the app asks again.
  await page.evaluate(() => window.tm.getToken());
  assert.equal(suite.server.state.calls.length, 3);
  await closeContext(ctx);
});

test("a still-valid token keeps being served while its renewal is failing", { skip }, async (t) => {
  reset(8); // renewal due 4 s before expiry; never handed out under 2 s left
  const ctx = await newContext(t);
  const page = await openPage(ctx, suite.server);
  await createManager(page, { crossTab: false, retry: { baseDelayMs: 200, maxDelayMs: 400 } });
  const first = await page.evaluate(() => window.tm.getToken().then((t) => t.access_token));
  suite.server.state.script.push({ status: 503 }, { status: 503 }, { status: 503 });
  await until(async () => (await events(page, "error")).length >= 2, { what: "the renewal failing twice" });
  const during = await page.evaluate(async () => ({
    t: (await window.tm.getToken()).access_token, st: window.tm.status(),
  }));
  assert.equal(during.t, first, "the still-valid token is served");
  assert.ok(["backoff", "renewing"].includes(during.st.state), during.st.state);
  assert.equal(during.st.lastError, "broker_failed");
  assert.ok(during.st.expiresIn >= 2, `${during.st.expiresIn} s left`);
  // The renewal then succeeds before expiry.
  await until(async () => (await tok(page)) === issued(1), { what: "the renewal succeeding" });
  const ev = (await events(page)).map((e) => e.name);
  assert.equal(ev.filter((e) => e === "expired").length, 0, ev.join(","));
  assert.deepEqual(ev, ["token", "expiring", "error", "error", "error", "token"]);
  assert.equal(suite.server.state.calls.length, 5);
  await closeContext(ctx);
});

// ---------------------------------------------------------------------------------
// 7. destroy()
// ---------------------------------------------------------------------------------

test("destroy() rejects later calls with code destroyed and stops broker calls", { skip }, async (t) => {
  reset(2); // renewals every second
  const ctx = await newContext(t);
  const page = await openPage(ctx, suite.server);
  const r = await page.evaluate(async () => {
    const { createTokenManager } = await import("/pkg/mdh_token.js");
    const mk = (who) => createTokenManager({ broker: "/broker", crossTab: false, storageKey: who, headers: { "x-who": who } });
    window.gone = await mk("gone");
    window.control = await mk("control");
    await window.gone.getToken();
    await window.control.getToken();
    window.gone.destroy();
    window.gone.destroy(); // idempotent
    const codes = [];
    for (const f of [() => window.gone.getToken(), () => window.gone.refresh()]) {
      codes.push(await f().then(() => "resolved", (e) => `${e.name}:${e.code}`));
    }
    let onErr;
    try { window.gone.on("token", () => {}); } catch (e) { onErr = e.code; }
    return { codes, onErr, peek: window.gone.peek(), state: window.gone.status().state, clear: (window.gone.clear(), "ok") };
  });
  assert.deepEqual(r.codes, ["TokenError:destroyed", "TokenError:destroyed"]);
  assert.equal(r.onErr, "destroyed");
  assert.equal(r.state, "destroyed");
  const byWho = (w) => suite.server.state.calls.filter((c) => c.headers["x-who"] === w).length;
  assert.equal(byWho("gone"), 1);
  // The control manager renews every second; after three of its renewals, the
  // destroyed one (same token lifetime) would have renewed too.
  await until(() => byWho("control") >= 4, { what: "three renewals of the control manager" });
  assert.equal(byWho("gone"), 1, "the destroyed manager made no broker call");

  // destroy() during a request: the waiter is rejected and the request aborted.
  suite.server.state.script.push({ hang: true });
  const pending = page.evaluate(async () => {
    const { createTokenManager } = await import("/pkg/mdh_token.js");
    const tm = await createTokenManager({ broker: "/broker", crossTab: false, storageKey: "hang", timeoutMs: 60_000 });
    const p = tm.getToken().then(() => "resolved", (e) => e.code);
    window.destroyHang = () => tm.destroy();
    return p;
  });
  await until(() => suite.server.state.calls.some((c) => !c.headers["x-who"]), { what: "the hanging request" });
  await until(() => suite.server.state.open >= 1, { what: "the hanging request to be open" });
  const openBefore = suite.server.state.open;
  await page.evaluate(() => window.destroyHang());
  assert.equal(await pending, "destroyed");
  await until(() => suite.server.state.open < openBefore, { what: "the request to be aborted" });
  await page.evaluate(() => window.control.destroy());
  await closeContext(ctx);
});

test("clear() while the broker call is out aborts it and lets go of the cross-tab lock; the next getToken() goes through", { skip }, async (t) => {
  reset(3600);
  const ctx = await newContext(t);
  const page = await openPage(ctx, suite.server);
  suite.server.state.script.push({ hang: true });
  const held = () => page.evaluate(async () => (await navigator.locks.query()).held.map((l) => l.name));
  const pending = page.evaluate(async () => {
    const { createTokenManager } = await import("/pkg/mdh_token.js");
    // crossTab (default): the attempt takes the Web Lock `abort-lock:refresh`.
    window.tm = await createTokenManager({ broker: "/broker", storageKey: "abort-lock", timeoutMs: 60_000 });
    return window.tm.getToken().then(() => "resolved", (e) => e.code);
  });
  await until(() => suite.server.state.open >= 1, { what: "the hanging request to be open" });
  assert.ok((await held()).includes("abort-lock:refresh"), "the attempt holds the lock while the call is out");
  const openBefore = suite.server.state.open;
  await page.evaluate(() => window.tm.clear());
  assert.equal(await pending, "cleared");
  await until(() => suite.server.state.open < openBefore, { what: "the request to be aborted" });
  await until(async () => !(await held()).includes("abort-lock:refresh"), { what: "the lock to be released" });
  const token = await page.evaluate(() => window.tm.getToken().then((x) => x.access_token));
  assert.equal(token, issued(0), "the next call gets the broker's next token");
  await page.evaluate(() => window.tm.destroy());
  await closeContext(ctx);
});
