// Package tier: the built package imported by a page as users import it, against a
// scripted broker on localhost, in Debian's Chromium.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { browserSuite, createManager, until, assertNoLeak, packageBuilt } from "./harness.js";

const skip = !packageBuilt() && "package not built: run npm run build";
const suite = browserSuite({ before, after, beforeEach, assert, skip });

test("getToken() POSTs to the broker once for many concurrent callers and returns an SDK-ready token", { skip }, async () => {
  await createManager(suite.page, { headers: { "X-CSRF": "abc" }, crossTab: false });
  const r = await suite.page.evaluate(async () => {
    const all = await Promise.all(Array.from({ length: 50 }, () => window.tm.getToken()));
    const t = all[0];
    return {
      same: all.every((x) => x.access_token === t.access_token),
      keys: Object.keys(t).sort(), t, frozen: Object.isFrozen(t), now: Date.now(),
      peek: window.tm.peek()?.access_token === t.access_token,
    };
  });
  assert.equal(suite.server.state.calls.length, 1);
  const call = suite.server.state.calls[0];
  assert.equal(call.headers.accept, "application/json");
  assert.equal(call.headers["x-csrf"], "abc");
  assert.ok(r.same && r.frozen && r.peek);
  assert.deepEqual(r.keys, ["access_token", "expires_at", "expires_in", "token_type"]);
  assert.equal(r.t.token_type, "Bearer");
  assert.equal(r.t.access_token, suite.server.state.issued[0]);
  assert.ok(r.t.expires_in >= 3598 && r.t.expires_in <= 3600, `expires_in ${r.t.expires_in}`);
  // expires_at counts from when the request was sent (at or before the answer).
  assert.ok(r.t.expires_at <= r.now + 3600_000 && r.t.expires_at >= call.at + 3600_000 - 1000);
});

test("peek() is null until a token exists and never calls the broker", { skip }, async () => {
  await createManager(suite.page, { crossTab: false });
  assert.equal(await suite.page.evaluate(() => window.tm.peek()), null);
  assert.equal(suite.server.state.calls.length, 0);
  await suite.page.evaluate(() => window.tm.getToken());
  assert.ok(await suite.page.evaluate(() => window.tm.peek().access_token.startsWith("tk")));
});

test("refresh() forces a new broker call and yields a new token", { skip }, async () => {
  await createManager(suite.page, { crossTab: false });
  const [a, b, c] = await suite.page.evaluate(async () => {
    const a = await window.tm.getToken();
    const [b, c] = await Promise.all([window.tm.refresh(), window.tm.refresh()]);
    return [a.access_token, b.access_token, c.access_token];
  });
  assert.equal(suite.server.state.calls.length, 2, "concurrent refresh() calls share one request");
  assert.notEqual(a, b);
  assert.equal(b, c);
});

test("401 from the broker rejects with TokenError broker_rejected and the next call asks again", { skip }, async () => {
  await createManager(suite.page, { crossTab: false });
  suite.server.state.script.push({ status: 401 });
  const e = await suite.page.evaluate(() => window.tm.getToken().then(() => null, (e) => ({
    name: e.name, code: e.code, status: e.status, isError: e instanceof Error, message: e.message,
  })));
  assert.deepEqual({ ...e, message: undefined }, { name: "TokenError", code: "broker_rejected", status: 401, isError: true, message: undefined });
  assert.match(e.message, /^mdh-token: /);
  const st = await suite.page.evaluate(() => window.tm.status());
  assert.equal(st.state, "empty");
  assert.equal(st.nextAttemptAt, null, "no automatic retry after a rejection");
  assert.equal(suite.server.state.calls.length, 1);
  await suite.page.evaluate(() => window.tm.getToken());
  assert.equal(suite.server.state.calls.length, 2);
});

test("a broker function receives { signal, reason } and its token is used", { skip }, async () => {
  const r = await suite.page.evaluate(async () => {
    const { createTokenManager } = await import("/pkg/mdh_token.js");
    const seen = [];
    const tm = await createTokenManager({
      crossTab: false,
      broker: async ({ signal, reason }) => {
        seen.push({ reason, isSignal: signal instanceof AbortSignal });
        const res = await fetch("/broker", { method: "POST", signal });
        return res.json();
      },
    });
    const t = await tm.getToken();
    await tm.refresh();
    tm.destroy();
    return { seen, ok: t.access_token.startsWith("tk") };
  });
  assert.deepEqual(r.seen, [{ reason: "initial", isSignal: true }, { reason: "forced", isSignal: true }]);
  assert.ok(r.ok);
});

test("invalid options reject createTokenManager with invalid_options", { skip }, async () => {
  const codes = await suite.page.evaluate(async () => {
    const { createTokenManager } = await import("/pkg/mdh_token.js");
    const out = [];
    for (const o of [undefined, {}, { broker: 1 }, { broker: "/b", credentials: "all" }, { broker: "/b", renewBeforeSeconds: -1 }, { broker: "/b", crossTab: "yes" }]) {
      out.push(await createTokenManager(o).then(() => "created", (e) => `${e.name}:${e.code}`));
    }
    return out;
  });
  assert.deepEqual(codes, Array(6).fill("TokenError:invalid_options"));
});

test("status() reports the lifecycle without the token; destroy() stops everything", { skip }, async () => {
  await createManager(suite.page, { crossTab: false, storage: "session" });
  const r = await suite.page.evaluate(async () => {
    const t = await window.tm.getToken();
    const st = window.tm.status();
    window.tm.destroy();
    const after = await window.tm.getToken().then(() => "resolved", (e) => e.code);
    return { st, text: JSON.stringify(st), tok: t.access_token, after, state: window.tm.status().state };
  });
  assert.equal(r.st.state, "valid");
  assert.equal(r.st.brokerCalls, 1);
  assert.equal(r.st.storage, "session");
  assert.equal(r.st.token, r.tok.slice(0, 6) + "…(" + r.tok.length + ")");
  assert.ok(r.st.renewAt < r.st.expiresAt);
  assert.ok(!r.text.includes(r.tok.slice(6, 20)));
  assert.equal(r.after, "destroyed");
  assert.equal(r.state, "destroyed");
});

test("the token never shows up in the console, even at debug level", { skip }, async () => {
  await createManager(suite.page, { logLevel: "debug" });
  await suite.page.evaluate(async () => {
    await window.tm.getToken();
    await window.tm.refresh();
    window.tm.clear();
  });
  await until(() => suite.page.logs.some((l) => l.includes("new token")), { what: "info logs" });
  assertNoLeak(assert, suite.server, suite.page.logs);
});

test("the hot-path cache never outlives a change: clear(), refresh() and destroy() are seen at once", { skip }, async () => {
  await createManager(suite.page, { crossTab: false });
  const r = await suite.page.evaluate(async () => {
    const tm = window.tm;
    const a = await tm.getToken();
    const again = [await tm.getToken(), tm.peek()].every((t) => t === a);
    tm.clear();
    const afterClear = tm.peek();
    const b = await tm.getToken();
    const c = await tm.refresh();
    const afterRefresh = [tm.peek().access_token, (await tm.getToken()).access_token];
    tm.destroy();
    const afterDestroy = [tm.peek(), await tm.getToken().then(() => "resolved", (e) => e.code)];
    return { again, afterClear, changed: a.access_token !== b.access_token && b.access_token !== c.access_token,
      afterRefresh: afterRefresh.every((x) => x === c.access_token), afterDestroy };
  });
  assert.ok(r.again, "the same frozen object is reused while nothing changes");
  assert.equal(r.afterClear, null);
  assert.ok(r.changed);
  assert.ok(r.afterRefresh);
  assert.deepEqual(r.afterDestroy, [null, "destroyed"]);
  assert.equal(suite.server.state.calls.length, 3);
});

test("bad arguments to on() and setLogLevel() throw invalid_options and leave the manager working", { skip }, async () => {
  await createManager(suite.page, { crossTab: false });
  const r = await suite.page.evaluate(async () => {
    const codes = [];
    for (const f of [() => window.tm.on(5, () => {}), () => window.tm.on("token", "x"), () => window.tm.on("nope", () => {}),
      () => window.tm.setLogLevel(3), () => window.tm.setLogLevel("loud")]) {
      try { f(); codes.push("accepted"); } catch (e) { codes.push(e.code); }
    }
    const t = await window.tm.getToken();
    return { codes, ok: t.token_type === "Bearer" };
  });
  assert.deepEqual(r.codes, Array(5).fill("invalid_options"));
  assert.ok(r.ok);
});

test("a listener may unsubscribe itself (and another) from inside an event", { skip }, async () => {
  await createManager(suite.page, { crossTab: false });
  const r = await suite.page.evaluate(async () => {
    const seen = { a: 0, b: 0, c: 0 };
    const offB = window.tm.on("token", () => { seen.b++; });
    const offA = window.tm.on("token", () => { seen.a++; offA(); offB(); offA(); });
    window.tm.on("token", () => { seen.c++; });
    await window.tm.getToken();
    await window.tm.refresh();
    return seen;
  });
  // The first event reaches all three (the list is taken before the calls); after it,
  // a and b are gone and only c hears the second.
  assert.deepEqual(r, { a: 1, b: 1, c: 2 });
});
