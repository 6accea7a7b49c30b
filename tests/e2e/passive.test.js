// When a manager is passive. MyDataHelps.js 5.7.0's connectExternalAccount popup comes
// back to the app's page with ?connectExternalAccount=true&messageID=N&success=…, where
// the SDK posts the result to window.opener (or, with no opener, on
// BroadcastChannel("ConnectExternalAccount")) and closes the window (L1788-1807); a
// manager there must take no part. The URL alone is a link anyone can send, bookmark or
// reload: a page is passive only with an opener of its own origin, which only the
// origin's own script can make (passive() in src/js/entry.js). Every other page with
// such a URL is a normal manager: its token from local storage at once, getToken()
// working.
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

test("a popup without an opener (a provider's COOP severs it) is a normal page: the stored token, no broker call", { skip }, async (t) => {
  const { ctx, app } = await withStoredToken(t);
  const popup = await openFrom(ctx, app, RETURN, "noopener");
  assert.deepEqual(await probe(popup), { ...NORMAL, opener: false });
  assert.equal(s.server.state.calls.length, 1);
});
