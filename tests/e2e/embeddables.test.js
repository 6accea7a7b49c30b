// The MyDataHelps Embeddables flows end to end, with the real MyDataHelps.js 5.7.0 on
// the page and an emulated MyDataHelps origin (tests/e2e/mdh-origin.js: another
// loopback origin, as `baseUrl`): embedded surveys that ask the SDK for the token, and
// EHR connection (connectExternalAccount) through a popup or a full-page redirect to an
// emulated provider on a third origin. Synchronisation is bounded polling (`until`).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startServer, launch, openPage, createManager, until, assertNoLeak, packageBuilt, pageFaults,
} from "./harness.js";
import { startMdh } from "./mdh-origin.js";

const skip = !packageBuilt() && "package not built: run npm run build";
const SDK = "/node_modules/@careevolution/mydatahelps-js/MyDataHelps.js";
const routes = {};
let server, mdh, browser;
const printed = [];
const contexts = new Set();

before(async () => {
  if (skip) return;
  server = await startServer({ keepAlive: false, routes });
  mdh = await startMdh(server.state);
  for (const storage of ["memory", "session", "local"]) {
    routes[`/app-${storage}.html`] = { body: appPage(storage, mdh.base) };
  }
  browser = await launch();
});
after(async () => {
  if (skip) return;
  for (const c of contexts) await closeContext(c);
  assertNoLeak(assert, server, printed);
  await browser.close();
  await mdh.close();
  await server.close();
});

/** A fresh browser context whose every page (popups too) is watched for leaks and faults. */
async function newContext(t) {
  const c = await browser.newContext();
  contexts.add(c);
  c.on("page", (p) => {
    if (p.logs) return;
    p.logs = [];
    p.on("console", (m) => p.logs.push(`${m.type()}: ${m.text()}`));
    p.on("pageerror", (e) => p.logs.push(`pageerror: ${e.message}`));
  });
  t.after(() => closeContext(c));
  return c;
}
async function closeContext(c) {
  if (!contexts.delete(c)) return;
  for (const p of c.pages()) {
    printed.push(...(p.logs ?? []));
    const faults = await pageFaults(p).catch(() => []);
    assert.deepEqual(faults, [], "no page error or unhandled rejection");
  }
  await c.close();
}

let first = 0;
function reset(lifetime) {
  server.reset(lifetime);
  mdh.reset();
  first = server.state.issued.length;
}
const issuedHere = () => server.state.issued.slice(first);
/** Seconds the MyDataHelps side still accepts `token` at epoch ms `at`. */
const serverLeft = (token, at) => (server.state.expiry.get(token) - at) / 1000;

// ---------------------------------------------------------------------------------
// Surveys: MyDataHelps.startSurvey(name) in standalone mode
// ---------------------------------------------------------------------------------

/** A page with the real MyDataHelps.js fed by attachSdk; `window.pushes` lists the tokens pushed. */
async function sdkPage(t, options = {}) {
  const ctx = await newContext(t);
  const page = await openPage(ctx, server);
  await createManager(page, { crossTab: false, baseUrl: mdh.base, ...options });
  await page.evaluate(async (sdkUrl) => {
    await import(sdkUrl);
    const sdk = window.MyDataHelps;
    window.pushes = [];
    const original = sdk.setParticipantAccessToken.bind(sdk);
    sdk.setParticipantAccessToken = (tok, base) => {
      window.pushes.push({ token: tok.access_token, at: Date.now() });
      return original(tok, base);
    };
    window.finished = [];
    sdk.on("surveyDidFinish", (e) => window.finished.push(e.surveyName));
    await window.tm.attachSdk(sdk).ready;
  }, SDK);
  return page;
}

/** Opens a survey and resolves with what its frame received (bounded). */
async function takeSurvey(page, name) {
  await page.evaluate((n) => window.MyDataHelps.startSurvey(n), name);
  const frame = await until(() => page.frames().find((f) => f.url().includes("/survey?")), { what: "the survey frame" });
  const answer = await until(() => frame.evaluate(() => window.answers?.[0]), { what: `survey "${name}" received a token` });
  const loaded = await until(() => page.evaluate(() => {
    const c = document.getElementById("mydatahelps-survey-modal").className;
    return c.includes("loaded") && c;
  }), { what: "SurveyWindowInitialized reached the SDK" });
  await frame.evaluate(() => window.finish());
  await until(() => page.evaluate(() => !document.getElementById("mydatahelps-survey-modal")), { what: "the survey modal closed" });
  return { answer, url: frame.url(), loaded };
}

/** The checks every survey answer must pass: the token is live and the newest one. */
function assertLive(answer, name) {
  assert.equal(answer.api, 200, `${name}: MyDataHelps accepted the token the survey got`);
  assert.equal(answer.keys, "access_token,expires_in,token_type");
  assert.equal(answer.participantID, "p-1");
  assert.equal(answer.baseUrl, mdh.base);
  assert.equal(answer.origin, server.url, "posted by the page");
  // The newest token issued before the frame got it: current, not an older one.
  const issuedBefore = issuedHere().filter((tk) => server.state.expiry.get(tk) - server.state.lifetime * 1000 <= answer.at);
  assert.equal(answer.access_token, issuedBefore.at(-1), `${name}: the current token`);
  // expires_in is the seconds left when it was handed over, not at the last push.
  const left = serverLeft(answer.access_token, answer.at);
  assert.ok(left > 0 && answer.expires_in <= left + 0.5 && answer.expires_in >= left - 2,
    `${name}: expires_in ${answer.expires_in} vs ${left.toFixed(1)} s really left`);
}

test("surveys opened right after a renewal and later in that token's life get the current token with its true seconds left", { skip, timeout: 60_000 }, async (t) => {
  reset(10); // renewal 3 s before expiry: at 7 s
  const page = await sdkPage(t, { renewBeforeSeconds: 3 });
  await until(() => page.evaluate(() => window.pushes.length >= 2), { timeout: 20_000, what: "a renewal reached the SDK" });
  const right = await takeSurvey(page, "Right after");
  assertLive(right.answer, "right after a renewal");
  assert.ok(new URL(right.url).pathname.endsWith("/mdh//survey"), `MyDataHelps.js 5.7.0 opens ${right.url}`);
  assert.equal(new URL(right.url).searchParams.get("surveyName"), "Right after");
  assert.ok(right.loaded.includes("loaded"), "SurveyWindowInitialized reached the SDK");
  // Same token, a few seconds on: the SDK still holds the object pushed at renewal.
  const pushed = await page.evaluate(() => window.pushes.length);
  await until(() => page.evaluate(() => window.tm.peek().expires_in <= 5), { what: "the token is 5 s into its life" });
  const later = await takeSurvey(page, "Later");
  assertLive(later.answer, "later in the token's life");
  assert.equal(await page.evaluate(() => window.pushes.length), pushed, "no extra push for it");
  assert.deepEqual(await page.evaluate(() => window.finished), ["Right after", "Later"]);
});

test("a survey opened after a recovered expiry gap gets a fresh live token", { skip, timeout: 60_000 }, async (t) => {
  reset(6);
  // One attempt per renewal, then a 60 s pause: the token expires with nothing pending.
  const page = await sdkPage(t, { retry: { maxAttempts: 1, maxDelayMs: 60_000 } });
  server.state.script.push({ status: 503 });
  await until(() => page.evaluate(() => window.events.some((e) => e.name === "expired")), { timeout: 20_000, what: "the token expired" });
  const sdkError = await page.evaluate(() => window.MyDataHelps.getParticipantInfo().then(() => null, (e) => String(e)));
  assert.equal(sdkError, "access token is expired or invalid", "the gap is real: MyDataHelps.js refuses");
  assert.equal(server.state.calls.length, 2);
  // The broker is back (the script is empty); the manager is still in its pause.
  const { answer } = await takeSurvey(page, "After the gap");
  assertLive(answer, "after the gap");
  assert.equal(answer.access_token, issuedHere()[1], "a new token");
  assert.equal(server.state.calls.length, 3, "one broker call, made for the survey");
  assert.ok(await page.evaluate(() => window.MyDataHelps.getParticipantInfo().then((p) => p.participantID === "p-1")), "the SDK works again");
});

test("a survey opened while the broker is down gets its token as soon as the manager has one", { skip, timeout: 60_000 }, async (t) => {
  reset(6);
  // One attempt per renewal, then a 2 s pause before the next automatic one.
  const page = await sdkPage(t, { retry: { maxAttempts: 1, maxDelayMs: 2_000 } });
  server.state.script.push(...Array(100).fill({ status: 503 })); // down
  await until(() => page.evaluate(() => window.events.some((e) => e.name === "expired")), { timeout: 20_000, what: "the token expired" });
  await page.evaluate(() => window.MyDataHelps.startSurvey("During the gap"));
  const frame = await until(() => page.frames().find((f) => f.url().includes("/survey?")), { what: "the survey frame" });
  const calls = server.state.calls.length;
  await until(() => server.state.calls.length >= calls + 2, { what: "two more broker calls while down" });
  assert.deepEqual(await frame.evaluate(() => window.answers ?? []), [], "nothing to hand out yet");
  server.state.script.length = 0; // back
  const answer = await until(() => frame.evaluate(() => window.answers?.[0]), { what: "the survey received a token" });
  assertLive(answer, "during the gap");
  assert.equal(answer.access_token, issuedHere()[1], "the first token after the gap");
  await frame.evaluate(() => window.finish());
  await until(() => page.evaluate(() => window.finished.length === 1), { what: "surveyDidFinish" });
});

test("while there is no token, at most 4 survey token requests wait (the newest) and are delivered once one comes", { skip, timeout: 60_000 }, async (t) => {
  reset(6);
  const page = await sdkPage(t, { retry: { maxAttempts: 1, maxDelayMs: 2_000 } });
  server.state.script.push(...Array(100).fill({ status: 503 })); // down
  await until(() => page.evaluate(() => window.events.some((e) => e.name === "expired")), { timeout: 20_000, what: "the token expired" });
  // Listeners added after attachSdk's: a held request never reaches them, its
  // re-delivery (dispatched by the page: not isTrusted) does.
  await page.evaluate(() => {
    window.replayed = [];
    addEventListener("message", (e) => {
      if (!e.isTrusted && e.data?.name === "GetDelegatedAccessToken") window.replayed.push(e.data.n ?? "first");
      if (e.data?.name === "FloodDone") window.floodDone = true;
    }, true);
  });
  await page.evaluate(() => window.MyDataHelps.startSurvey("Flood"));
  const frame = await until(() => page.frames().find((f) => f.url().includes("/survey?")), { what: "the survey frame" });
  // The frame asked once as it loaded; now 50 more, then a marker (messages from one
  // window arrive in order).
  await frame.evaluate(() => {
    for (let n = 1; n <= 50; n++) parent.postMessage({ name: "GetDelegatedAccessToken", n }, "*");
    parent.postMessage({ name: "FloodDone" }, "*");
  });
  await until(() => page.evaluate(() => window.floodDone), { what: "the page received all 51 requests" });
  assert.deepEqual(await page.evaluate(() => window.replayed), [], "all held: no token yet");
  server.state.script.length = 0; // back
  // Re-delivery is one synchronous loop: once one is seen, all are.
  const replayed = await until(() => page.evaluate(() => window.replayed.length && window.replayed), { what: "the held requests were delivered" });
  assert.deepEqual(replayed, [47, 48, 49, 50]);
  const answer = await until(() => frame.evaluate(() => window.answers?.[0]), { what: "the survey received a token" });
  assertLive(answer, "after the flood");
  await frame.evaluate(() => window.finish());
  await until(() => page.evaluate(() => window.finished.length === 1), { what: "surveyDidFinish" });
});

// ---------------------------------------------------------------------------------
// EHR connect: MyDataHelps.connectExternalAccount(provider, { openNewWindow })
// ---------------------------------------------------------------------------------

/**
 * The host app, as one page serves both the app and the popup's return: it creates the
 * manager first, then loads MyDataHelps.js (whose constructor, on the popup's return
 * URL, posts to the opener and closes the window: L1361, L1788-1806). What the return
 * page saw is reported on a BroadcastChannel before the SDK closes it.
 */
function appPage(storage, base) {
  return `<!doctype html><meta charset="utf-8"><title>app</title><body><button id="connect">Connect</button>
<script type="module">
import { createTokenManager } from "/pkg/mdh_token.js";
const returning = new URLSearchParams(location.search).has("connectExternalAccount");
const boot = (window.boot = { returning, url: location.href });
window.reports = [];
new BroadcastChannel("ConnectExternalAccount").onmessage = (e) => (window.bcResult = e.data);
const reports = new BroadcastChannel("test-report");
reports.onmessage = (e) => window.reports.push(e.data);
const tm = (window.tm = await createTokenManager({ broker: "/broker", storage: ${JSON.stringify(storage)}, baseUrl: ${JSON.stringify(base)} }));
boot.peekAtStart = tm.peek() !== null;
window.events = [];
for (const n of ["token", "expired", "error"]) tm.on(n, () => window.events.push(n));
if (returning) {
  boot.getToken = await tm.getToken().then(() => "token", (e) => e.name + ":" + e.code);
  boot.callsAtGetToken = tm.status().brokerCalls;
  boot.refresh = await tm.refresh().then(() => "token", (e) => e.code);
  boot.fetch = await tm.fetch(${JSON.stringify(base + "api/v1/delegated/participant")}).then(() => "sent", (e) => e.code);
  boot.peek = tm.peek() !== null;
  boot.status = tm.status();
  reports.postMessage(boot);
}
const { default: MyDataHelps } = await import(${JSON.stringify(SDK)});
window.pushes = [];
const set = MyDataHelps.setParticipantAccessToken.bind(MyDataHelps);
MyDataHelps.setParticipantAccessToken = (t, b) => { window.pushes.push(t.access_token); return set(t, b); };
const detach = tm.attachSdk(MyDataHelps);
boot.ready = await detach.ready.then(() => "ready", (e) => e.code);
boot.sdk = await MyDataHelps.getParticipantInfo().then((p) => p.participantID, (e) => String(e));
boot.brokerCalls = tm.status().brokerCalls;
document.getElementById("connect").onclick = () => {
  window.connected = MyDataHelps.connectExternalAccount(7, { openNewWindow: window.popupMode === true })
    .then(() => "connected", (e) => "failed: " + e);
  window.connected.then((r) => (window.outcome = r));
};
</script>`;
}

async function appReady(page) {
  return until(() => page.evaluate(() => window.boot?.sdk && window.boot), { what: "the app booted" });
}

for (const coop of [false, true]) {
  const how = coop ? "a provider that severs the opener (COOP), so MyDataHelps.js answers on its BroadcastChannel" : "a popup";
  const page = coop ? "is a normal page that needs no broker call of its own" : "makes no broker call and takes no part";
  test(`EHR connect through ${how}: the return page ${page}; the opener stays alive`, { skip, timeout: 60_000 }, async (t) => {
    reset(8); // the opener renews every 4 s while the popup is away
    mdh.coop = coop;
    const ctx = await newContext(t);
    const opener = await openPage(ctx, server, { path: "/app-memory.html" });
    const boot = await appReady(opener);
    assert.equal(boot.sdk, "p-1");
    await opener.evaluate(() => (window.popupMode = true));
    const popupP = ctx.waitForEvent("page");
    await opener.click("#connect");
    const popup = await popupP;
    await popup.waitForURL(/\/provider\/authorize/);
    // While the participant is at the provider, the opener renews as usual.
    await until(() => opener.evaluate(() => window.pushes.length >= 2), { timeout: 20_000, what: "the opener renewed meanwhile" });
    const callsBefore = server.state.calls.length;
    await popup.click("#allow");
    if (coop) {
      // No opener: MyDataHelps.js 5.7.0 posts on BroadcastChannel("ConnectExternalAccount")
      // (L1799-1802), which nothing in 5.7.0 listens to; the test page does.
      const msg = await until(() => opener.evaluate(() => window.bcResult), { what: "the SDK's BroadcastChannel answer" });
      assert.deepEqual(msg, { name: "ConnectExternalAccountResponse", messageID: 1, success: true });
    } else {
      await until(() => opener.evaluate(() => window.outcome), { what: "connectExternalAccount settled in the opener" });
      assert.equal(await opener.evaluate(() => window.outcome), "connected");
    }
    await until(() => popup.isClosed(), { what: "MyDataHelps.js closed the popup" });
    const [report] = await until(() => opener.evaluate(() => window.reports.length && window.reports), { what: "the return page's report" });
    assert.match(report.url, /\/app-memory\.html\?connectExternalAccount=true&messageID=1&success=true$/);
    assert.equal(mdh.log.connects[0].finalRedirectPath, `${server.url}/app-memory.html?connectExternalAccount=true&messageID=1&success=%SUCCESSVALUE%`);
    if (coop) {
      // No opener, so nothing tells this page from a link to its URL: a normal manager,
      // which gets the opener's token over the channel, with no broker call (the one it
      // makes is the refresh() this test page asks for).
      assert.deepEqual([report.getToken, report.refresh, report.fetch], ["token", "token", "sent"]);
      assert.equal(report.callsAtGetToken, 0);
      assert.equal(report.status.brokerCalls, 1);
    } else {
      assert.equal(report.getToken, "TokenError:passive");
      assert.equal(report.refresh, "passive");
      assert.equal(report.fetch, "passive");
      assert.equal(report.peek, false);
      assert.equal(report.status.brokerCalls, 0);
      assert.deepEqual(report.status.crossTab, { broadcastChannel: false, webLocks: false });
      assert.equal(report.status.storage, "memory");
    }
    // Every other broker call was the opener's; the passive return page's visit cost none.
    const openerCalls = await opener.evaluate(() => window.tm.status().brokerCalls);
    assert.equal(server.state.calls.length, openerCalls + report.status.brokerCalls);
    assert.ok(server.state.calls.length - callsBefore <= 1 + report.status.brokerCalls, "at most the opener's own next renewal during the return");
    // The opener's token and SDK are alive: it keeps renewing and the SDK keeps working.
    const pushed = await opener.evaluate(() => window.pushes.length);
    await until(() => opener.evaluate((n) => window.pushes.length > n, pushed), { timeout: 20_000, what: "a renewal after the return" });
    const after = await opener.evaluate(async () => ({
      sdk: await window.MyDataHelps.getParticipantInfo().then((p) => p.participantID, String),
      events: window.events,
    }));
    assert.equal(after.sdk, "p-1");
    assert.ok(!after.events.includes("expired") && !after.events.includes("error"), after.events.join(","));
    console.log(`# EHR popup${coop ? " (COOP)" : ""}: ${server.state.calls.length} broker calls (return page: ${report.status.brokerCalls})`);
  });
}

for (const storage of ["memory", "session", "local"]) {
  const want = storage === "memory" ? 1 : 0;
  test(`EHR connect, full-page redirect (${storage}): back from the provider with ${want} broker call${want ? "" : "s"}`, { skip, timeout: 60_000 }, async (t) => {
    reset(600);
    const ctx = await newContext(t);
    const page = await openPage(ctx, server, { path: `/app-${storage}.html` });
    const boot = await appReady(page);
    assert.equal(boot.brokerCalls, 1);
    await page.click("#connect");
    await page.waitForURL(/\/provider\/authorize/);
    assert.equal(mdh.log.connects[0].finalRedirectPath, `${server.url}/app-${storage}.html`);
    await page.click("#allow");
    await page.waitForURL(`${server.url}/app-${storage}.html`);
    const back = await appReady(page);
    assert.equal(back.returning, false);
    assert.equal(back.peekAtStart, storage !== "memory", "a token at once from storage");
    assert.equal(back.brokerCalls, want);
    assert.equal(server.state.calls.length, 1 + want);
    assert.equal(back.sdk, "p-1", "the SDK works on the returned page");
  });
}

for (const storage of ["memory", "local"]) {
  test(`a connectExternalAccount return page is passive (${storage}): no broker call, no channel, no lock, storage untouched`, { skip }, async (t) => {
    reset(600);
    const ctx = await newContext(t);
    const opener = await openPage(ctx, server);
    await createManager(opener, { storage });
    await opener.evaluate(() => window.tm.getToken());
    const stored = await opener.evaluate(() => localStorage.getItem("mdh-token"));
    const popupP = ctx.waitForEvent("page");
    await opener.evaluate(() => { window.popup = window.open("/?connectExternalAccount=true&messageID=4&success=false"); });
    const popup = await popupP;
    await popup.waitForLoadState();
    await createManager(popup, { storage });
    const r = await popup.evaluate(async () => {
      const code = (p) => p.then(() => "resolved", (e) => e.code);
      const sdk = { setParticipantAccessToken() {}, on() {}, off() {} };
      const out = {
        getToken: await code(window.tm.getToken()),
        refresh: await code(window.tm.refresh()),
        ready: await code(window.tm.attachSdk(sdk).ready),
        peek: window.tm.peek() !== null,
        status: window.tm.status(),
        opener: !!window.opener,
      };
      window.tm.clear();
      return out;
    });
    assert.equal(r.opener, true);
    assert.deepEqual([r.getToken, r.refresh, r.ready, r.peek], ["passive", "passive", "passive", false]);
    assert.deepEqual(r.status.crossTab, { broadcastChannel: false, webLocks: false });
    assert.equal(r.status.brokerCalls, 0);
    // The opener sees no second tab: one presence lock, and its renewal asks nobody.
    const held = await opener.evaluate(() => navigator.locks.query().then((s) => s.held.map((l) => l.name).filter((n) => n.startsWith("mdh-token:tab:")).length));
    assert.equal(held, 1);
    await opener.evaluate(() => window.tm.refresh());
    assert.equal(server.state.calls.length, 2, "only the opener's two calls");
    assert.deepEqual(await popup.evaluate(() => window.events.filter((e) => e.name === "token")), [], "the return page adopted nothing");
    assert.equal(await opener.evaluate(() => window.events.filter((e) => e.name === "cleared").length), 0, "its clear() reached nobody");
    if (storage === "local") {
      assert.equal(await opener.evaluate(() => localStorage.getItem("mdh-token") !== null), true);
      assert.notEqual(stored, null);
    }
  });
}

test("a page whose URL only looks like a return (no messageID/success) is a normal manager", { skip }, async (t) => {
  reset(600);
  const ctx = await newContext(t);
  const page = await openPage(ctx, server, { path: "/?connectExternalAccount=true" });
  await createManager(page, {});
  const r = await page.evaluate(async () => ({ t: !!(await window.tm.getToken()), s: window.tm.status() }));
  assert.equal(r.t, true);
  assert.equal(r.s.crossTab.webLocks, true);
  assert.equal(server.state.calls.length, 1);
});
