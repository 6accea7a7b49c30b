// A token belongs to one participant: a manager created with
// `participant` never restores, adopts or hands out a token of another participant —
// not from storage, not from another tab, not from a page that switched participants —
// in memory, session and local storage modes. The harness broker writes the
// participant (the `x-participant` header) into each token: `tk<who>.<random>`.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { sharedBrowser, openPage, until, packageBuilt, storageDump } from "./harness.js";

const skip = !packageBuilt() && "package not built: run npm run build";
const suite = sharedBrowser({ before, after, assert, skip }, { keepAlive: false });
const context = (t) => suite.newContext(t);

/** Creates `window[name]`, a manager for participant `who`, recording its events. */
function manager(page, name, who, storage, extra = {}) {
  return page.evaluate(async ({ name, who, storage, extra }) => {
    const { createTokenManager } = await import("/pkg/mdh_token.js");
    const m = await createTokenManager({
      broker: "/broker", storage, participant: who, headers: { "x-participant": who }, logLevel: "info", ...extra,
    });
    window[name] = m;
    window[name + "Events"] = [];
    for (const ev of ["token", "cleared"]) m.on(ev, () => window[name + "Events"].push(ev));
    return true;
  }, { name, who, storage, extra });
}
const token = (page, name) => page.evaluate((n) => window[n].getToken().then((t) => t.access_token), name);
const peek = (page, name) => page.evaluate((n) => window[n].peek()?.access_token ?? null, name);
const whose = (tok) => (tok ? tok.slice(2, tok.indexOf(".")) : null);
const entry = (who, extra = {}) => ({
  v: 1, access_token: `tk${who}.planted${"x".repeat(30)}`, issued_at: Date.now() - 1000,
  expires_at: Date.now() + 3_600_000, ...(who ? { p: who } : {}), ...extra,
});
const noTokenOf = async (page, who) => {
  for (const line of await storageDump(page)) assert.ok(!line.includes(`tk${who}.`), `no ${who} token in storage: ${line.slice(0, 40)}`);
};

for (const storage of ["memory", "session", "local"]) {
  test(`${storage}: the same tab signs in as Ada, then as Ben after a reload: Ben never gets Ada's token`, { skip }, async (t) => {
    suite.server.reset();
    const ctx = await context(t);
    const page = await openPage(ctx, suite.server);
    await manager(page, "tm", "ada", storage);
    assert.equal(whose(await token(page, "tm")), "ada");
    await page.reload();
    await manager(page, "tm", "ben", storage);
    assert.equal(whose(await token(page, "tm")), "ben");
    assert.equal(suite.server.state.calls.length, 2, "Ben's manager made its own broker call");
    await noTokenOf(page, "ada");
  });

  test(`${storage}: a second manager for Ben in the same page clears Ada's manager`, { skip }, async (t) => {
    suite.server.reset();
    const ctx = await context(t);
    const page = await openPage(ctx, suite.server);
    await manager(page, "ada", "ada", storage);
    assert.equal(whose(await token(page, "ada")), "ada");
    await manager(page, "ben", "ben", storage);
    assert.equal(whose(await token(page, "ben")), "ben");
    await until(async () => (await peek(page, "ada")) === null, { what: "Ada's manager letting go of her token" });
    assert.deepEqual(await page.evaluate(() => window.adaEvents), ["token", "cleared"]);
    assert.equal(suite.server.state.calls.length, 2);
    await noTokenOf(page, "ada");
  });

  test(`${storage}: a new tab as Ben while Ada's tab is live calls the broker and clears Ada's tab`, { skip }, async (t) => {
    suite.server.reset();
    const ctx = await context(t);
    const a = await openPage(ctx, suite.server);
    const b = await openPage(ctx, suite.server);
    await manager(a, "tm", "ada", storage);
    assert.equal(whose(await token(a, "tm")), "ada");
    await manager(b, "tm", "ben", storage);
    assert.equal(whose(await token(b, "tm")), "ben");
    assert.equal(suite.server.state.calls.length, 2, "no token came from Ada's tab");
    await until(async () => (await peek(a, "tm")) === null, { what: "Ada's tab letting go of her token" });
    assert.equal(whose(await peek(b, "tm")), "ben");
    await noTokenOf(b, "ada");
  });

  test(`${storage}: a stored entry of another participant (or of none) is never adopted`, { skip }, async (t) => {
    suite.server.reset();
    const ctx = await context(t);
    for (const planted of [entry("ada"), entry("")]) {
      const page = await openPage(ctx, suite.server);
      await page.evaluate((e) => {
        sessionStorage.setItem("mdh-token", JSON.stringify(e));
        localStorage.setItem("mdh-token", JSON.stringify(e));
      }, planted);
      await manager(page, "tm", "ben", storage, { crossTab: false });
      assert.equal(await peek(page, "tm"), null, "nothing restored");
      assert.equal(whose(await token(page, "tm")), "ben");
      if (storage !== "memory") {
        const kept = await page.evaluate((k) => (k === "local" ? localStorage : sessionStorage).getItem("mdh-token"), storage);
        assert.ok(kept === null || JSON.parse(kept).p === "ben", "the foreign entry is gone");
      }
      await page.close();
    }
    assert.equal(suite.server.state.calls.length, 2);
  });

  test(`${storage}: a token from a tab of another participant (or of none) is never adopted`, { skip }, async (t) => {
    suite.server.reset();
    const ctx = await context(t);
    const a = await openPage(ctx, suite.server);
    // Tab A speaks the channel protocol as Ada (and as a manager without participant):
    // it answers every question with her token and broadcasts it unasked.
    await a.evaluate(({ ada, anon }) => {
      // It also poses as a live tab (a presence lock under both the old and the
      // participant's naming), so that Ben's tab asks it before calling the broker.
      for (const n of ["mdh-token:tab:forged", "mdh-token:tab=ben:forged"]) navigator.locks.request(n, () => new Promise(() => {}));
      const ch = new BroadcastChannel("mdh-token");
      window.sendAll = () => {
        for (const e of [ada, anon]) ch.postMessage({ t: "token", e: { ...e, issued_at: Date.now(), expires_at: Date.now() + 7_200_000 }, p: e.p });
      };
      ch.onmessage = (m) => {
        if (m.data && m.data.t === "ask") {
          for (const e of [ada, anon]) ch.postMessage({ t: "token", e, n: m.data.n, p: e.p });
        }
      };
    }, { ada: entry("ada"), anon: entry("") });
    const b = await openPage(ctx, suite.server);
    await manager(b, "tm", "ben", storage);
    assert.equal(whose(await token(b, "tm")), "ben");
    assert.equal(suite.server.state.calls.length, 1, "Ben's tab called the broker");
    await a.evaluate(() => window.sendAll());
    // A later token of Ben's, broadcast after Ada's: it arrives after hers, so once it
    // is adopted hers had her chance and was refused.
    await a.evaluate((e) => new BroadcastChannel("mdh-token").postMessage({ t: "token", e: { ...e, issued_at: Date.now(), expires_at: Date.now() + 3_000_000 }, p: "ben" }), entry("ben"));
    await until(async () => (await peek(b, "tm"))?.startsWith("tkben.planted"), { what: "Ben's tab adopting Ben's broadcast token" });
    assert.deepEqual(await b.evaluate(() => window.tmEvents), ["token", "token"], "Ben's tab adopted only Ben's tokens");
    await noTokenOf(b, "ada");
  });
}

test("participant must be a non-empty string", { skip }, async (t) => {
  const ctx = await context(t);
  const page = await openPage(ctx, suite.server);
  const codes = await page.evaluate(async () => {
    const { createTokenManager } = await import("/pkg/mdh_token.js");
    const out = [];
    for (const participant of ["", 42, {}, null]) {
      out.push(await createTokenManager({ broker: "/broker", participant }).then(() => "created", (e) => e.code));
    }
    return out;
  });
  assert.deepEqual(codes, ["invalid_options", "invalid_options", "invalid_options", "invalid_options"]);
});
