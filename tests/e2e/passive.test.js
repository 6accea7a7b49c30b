// When a manager is passive. MyDataHelps.js 5.7.0's connectExternalAccount popup comes
// back to the app's page with ?connectExternalAccount=true&messageID=N&success=…, where
// the SDK posts the result to window.opener (or, with no opener, on
// BroadcastChannel("ConnectExternalAccount")) and closes the window (L1788-1807); a
// manager there must take no part. The URL alone is a link anyone can send, bookmark or
// reload: only the popup flow's own marks make a page passive (see popupReturn() in
// src/js/integrations.js). Every other page with such a URL is a normal manager: its
// token from local storage at once, getToken() working.
//
// Origins: the app is http://127.0.0.1:PORT; the same server reached as
// http://localhost:PORT plays a hostile site.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { sharedBrowser, openPage, createManager, packageBuilt } from "./harness.js";

const skip = !packageBuilt() && "package not built: run npm run build";
const s = sharedBrowser({ before, after, assert, skip });
const RETURN = "/?connectExternalAccount=true&messageID=1&success=true";

/** A context in which the app already holds a token in local storage (one broker call). */
async function withStoredToken(t) {
  s.server.reset();
  const ctx = await s.browser.newContext();
  t.after(async () => {
    for (const p of ctx.pages()) s.printed.push(...(p.logs ?? []));
    await ctx.close();
  });
  const app = await openPage(ctx, s.server);
  await createManager(app, { storage: "local" });
  await app.evaluate(() => window.tm.getToken());
  assert.equal(s.server.state.calls.length, 1);
  return { ctx, app };
}

/** Collects a page's console like openPage does (for popups, which openPage did not make). */
function watch(page) {
  page.logs = [];
  page.on("console", (m) => page.logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => page.logs.push(`pageerror: ${e.message}`));
  return page;
}

/** Creates a local-storage manager on `page` and tells how it behaves. */
async function probe(page) {
  await createManager(page, { storage: "local" });
  return page.evaluate(async () => {
    const peek = window.tm.peek() !== null;
    const getToken = await window.tm.getToken().then(() => "token", (e) => e.code);
    const s = window.tm.status();
    return { peek, getToken, brokerCalls: s.brokerCalls, storage: s.storage, opener: !!window.opener };
  });
}

const NORMAL = { peek: true, getToken: "token", brokerCalls: 0, storage: "local" };

/** Opens `url` from `from` with window.open, as MyDataHelps.js opens its popup; resolves with the popup. */
async function openFrom(ctx, from, url, features = "") {
  const popupP = ctx.waitForEvent("page");
  await from.evaluate(([u, f]) => { window.popup = window.open(u, "_blank", f); }, [url, features]);
  const popup = watch(await popupP);
  await popup.waitForLoadState();
  return popup;
}

test("a hostile site's window.open of the return URL gets a normal manager (token from local storage)", { skip }, async (t) => {
  const { ctx, app } = await withStoredToken(t);
  await app.close();
  const evil = watch(await ctx.newPage());
  await evil.goto(s.server.url.replace("127.0.0.1", "localhost") + "/");
  const victim = await openFrom(ctx, evil, s.server.url + RETURN);
  const r = await probe(victim);
  assert.equal(r.opener, true, "opened with an opener, of another origin");
  assert.deepEqual({ ...r, opener: undefined }, { ...NORMAL, opener: undefined });
  assert.equal(s.server.state.calls.length, 1, "no broker call: the stored token");
});

test("a bookmark of the return URL, and its reload, are normal managers", { skip }, async (t) => {
  const { ctx, app } = await withStoredToken(t);
  await app.close();
  const page = watch(await ctx.newPage());
  await page.goto(s.server.url + RETURN);
  assert.deepEqual(await probe(page), { ...NORMAL, opener: false });
  await page.reload();
  assert.deepEqual(await probe(page), { ...NORMAL, opener: false });
  assert.equal(s.server.state.calls.length, 1);
});

test("the real popup (window.open from the app's page) is passive and calls no broker; its reload too", { skip }, async (t) => {
  const { ctx, app } = await withStoredToken(t);
  const popup = await openFrom(ctx, app, RETURN);
  const want = { peek: false, getToken: "passive", brokerCalls: 0, storage: "memory", opener: true };
  assert.deepEqual(await probe(popup), want);
  // A reload keeps the opener: still the popup.
  await popup.reload();
  assert.deepEqual(await probe(popup), want);
  assert.equal(s.server.state.calls.length, 1, "only the app's own call");
});

// The popup flow without an opener: a provider that sends Cross-Origin-Opener-Policy
// severs it, and MyDataHelps.js answers on its BroadcastChannel instead. What marks it
// is the messageID that attachSdk recorded when the app's MyDataHelps.js started the
// popup. The stand-in SDK below does what 5.7.0's connectExternalAccount does with
// { openNewWindow: true }: takes `currentMessageID++` as the message id (L655, L1632)
// and opens the popup, which comes back to `?connectExternalAccount=true&messageID=…`;
// "noopener" plays the severed opener.
async function startConnect(app, { id = 5 } = {}) {
  await app.evaluate((id) => {
    window.sdk = {
      currentMessageID: id,
      setParticipantAccessToken() {},
      on() {},
      off() {},
      connectExternalAccount(provider, o) {
        const messageID = this.currentMessageID++;
        if (o?.openNewWindow) window.open(`/?connectExternalAccount=true&messageID=${messageID}&success=true`, "_blank", "noopener");
        return new Promise(() => {});
      },
    };
    window.sdkConnect = window.sdk.connectExternalAccount;
    window.detach = window.tm.attachSdk(window.sdk);
  }, id);
}

test("a popup with no opener (COOP) and the messageID the app started is passive once: its reload is a normal page", { skip }, async (t) => {
  const { ctx, app } = await withStoredToken(t);
  await startConnect(app);
  const popupP = ctx.waitForEvent("page");
  await app.evaluate(() => { window.sdk.connectExternalAccount(7, { openNewWindow: true }); });
  const popup = watch(await popupP);
  await popup.waitForLoadState();
  assert.match(popup.url(), /messageID=5&/);
  assert.deepEqual(await probe(popup), { peek: false, getToken: "passive", brokerCalls: 0, storage: "memory", opener: false });
  await popup.reload();
  assert.deepEqual(await probe(popup), { ...NORMAL, opener: false });
  assert.equal(s.server.state.calls.length, 1);
});

test("while the app's popup is away, a link without an opener and another messageID is a normal page", { skip }, async (t) => {
  const { ctx, app } = await withStoredToken(t);
  await startConnect(app, { id: 5 });
  await app.evaluate(() => { window.sdk.connectExternalAccount(7, {}); }); // no popup: messageID 5 is not recorded
  const popupP = ctx.waitForEvent("page");
  await app.evaluate(() => { window.sdk.connectExternalAccount(7, { openNewWindow: true }); }); // records 6
  await (await popupP).close();
  for (const id of [5, 7, 1]) {
    const page = watch(await ctx.newPage());
    await page.goto(s.server.url + `/?connectExternalAccount=true&messageID=${id}&success=true`);
    assert.deepEqual(await probe(page), { ...NORMAL, opener: false }, `messageID ${id}`);
    await page.close();
  }
  // Those links left the app's record alone: its own popup's return is still passive.
  const back = watch(await ctx.newPage());
  await back.goto(s.server.url + "/?connectExternalAccount=true&messageID=6&success=true");
  assert.equal((await probe(back)).getToken, "passive");
  assert.equal(s.server.state.calls.length, 1);
});

test("the app's popup record lasts 15 minutes: a return without an opener after that is a normal page", { skip }, async (t) => {
  const { ctx, app } = await withStoredToken(t);
  await startConnect(app, { id: 3 });
  const popupP = ctx.waitForEvent("page");
  await app.evaluate(() => { window.sdk.connectExternalAccount(7, { openNewWindow: true }); });
  await (await popupP).close();
  const late = watch(await ctx.newPage());
  await late.clock.install({ time: Date.now() + 15 * 60_000 + 5_000 });
  await late.goto(s.server.url + "/?connectExternalAccount=true&messageID=3&success=true");
  const r = await late.evaluate(async () => {
    const { createTokenManager } = await import("/pkg/mdh_token.js");
    const tm = await createTokenManager({ broker: "/broker", storage: "local" });
    return tm.status().storage; // passive is memory
  });
  assert.equal(r, "local");
});

test("detach() gives MyDataHelps its own connectExternalAccount back", { skip }, async (t) => {
  const { app } = await withStoredToken(t);
  await startConnect(app);
  const r = await app.evaluate(() => {
    const wrapped = window.sdk.connectExternalAccount !== window.sdkConnect;
    window.detach();
    return { wrapped, restored: window.sdk.connectExternalAccount === window.sdkConnect };
  });
  assert.deepEqual(r, { wrapped: true, restored: true });
});
