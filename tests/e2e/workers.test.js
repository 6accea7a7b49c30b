// createTokenManager in a dedicated module Web Worker and in a module Service Worker
// (Chromium), sharing renewals with the origin's page through the same Web Lock and
// BroadcastChannel: a worker uploads device data with tokens.fetch while the page's
// MyDataHelps.js (attachSdk) calls the API, and the two use one token and one broker
// call per renewal. The MyDataHelps API is the emulated origin of tests/e2e/mdh-origin.js.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { sharedBrowser, openPage, createManager, until, packageBuilt } from "./harness.js";
import { startMdh } from "./mdh-origin.js";

const skip = !packageBuilt() && "package not built: run npm run build";
const SDK = "/node_modules/@careevolution/mydatahelps-js/MyDataHelps.js";
const RENEWALS = 4;
const LIFETIME = 4; // s: renewal at 2 s (half the lifetime)

// The worker side, the same for both kinds: a manager, an upload every 200 ms while
// `uploading`, and a log the test reads with worker.evaluate.
const COMMON = `
import { createTokenManager } from "/pkg/mdh_token.js";
const q = new URL(location.href).searchParams;
const base = q.get("base");
self.log = { uploads: [], events: [] };
self.ready = createTokenManager({ broker: "/broker", baseUrl: base, logLevel: "info", ...JSON.parse(q.get("options") || "{}") });
self.ready.then((tm) => {
  self.tm = tm;
  for (const n of ["token", "expired", "error"]) tm.on(n, () => self.log.events.push(n));
});
self.upload = async (i) => {
  const tm = await self.ready;
  try {
    const r = await tm.fetch(base + "api/v1/delegated/devicedata", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([{ type: "Steps", value: String(i), source: self.constructor.name }]),
    });
    self.log.uploads.push(r.status);
  } catch (e) {
    self.log.uploads.push(e.code || String(e));
  }
};
`;
const WORKER = COMMON + `
let i = 0;
self.start = () => { self.timer = setInterval(() => self.upload(i++), 200); };
self.stop = () => clearInterval(self.timer);
if (q.get("start")) self.start();
`;
// A service worker lives while it has events: the page's messages keep it up here.
const SERVICE_WORKER = COMMON + `
self.addEventListener("install", (e) => e.waitUntil(self.skipWaiting()));
self.addEventListener("activate", (e) => e.waitUntil(self.clients.claim()));
self.addEventListener("message", (e) => e.waitUntil(self.upload(e.data)));
`;

let mdh;
const suite = sharedBrowser({ before, after, assert, skip }, {
  keepAlive: false,
  routes: {
    "/upload-worker.js": { type: "text/javascript", body: WORKER },
    "/upload-sw.js": { type: "text/javascript", body: SERVICE_WORKER },
  },
}, async ({ server }) => {
  mdh = await startMdh(server.state);
});
after(() => mdh?.close());

// Its pages', workers' and service workers' console is kept for the leak check (ctx.workerLogs).
const newContext = (t) => suite.newContext(t);

let first = 0;
function reset(lifetime) {
  suite.server.reset(lifetime);
  mdh.reset();
  first = suite.server.state.issued.length;
}
const issuedHere = () => suite.server.state.issued.slice(first);
const workerUrl = (path, params = {}) => `${path}?${new URLSearchParams({ base: mdh.base, ...params })}`;

/** A page with MyDataHelps.js fed by attachSdk, calling getParticipantInfo() every 250 ms. */
async function sdkPage(ctx) {
  const page = await openPage(ctx, suite.server);
  await createManager(page, { baseUrl: mdh.base });
  await page.evaluate(async (sdkUrl) => {
    await import(sdkUrl);
    const sdk = window.MyDataHelps;
    await window.tm.attachSdk(sdk).ready;
    window.sdkResults = [];
    window.sdkTimer = setInterval(() => {
      sdk.getParticipantInfo().then(() => window.sdkResults.push("ok"), (e) => window.sdkResults.push(String(e)));
    }, 250);
  }, SDK);
  return page;
}

/** Starts a module worker on `page`; resolves once its script ran (`self.ready` exists). */
async function startWorker(page, url) {
  const workerP = page.waitForEvent("worker");
  await page.evaluate((u) => { window.uploader = new Worker(u, { type: "module" }); }, url);
  const worker = await workerP;
  // The "worker" event comes when the worker exists, maybe before its module ran.
  await until(() => worker.evaluate(() => self.ready !== undefined), { what: "the worker's script ran" });
  return worker;
}

/** Which tokens the API saw, per caller, in order of first use; and every refusal. */
function apiUse() {
  const by = (p) => [...new Set(mdh.log.api.filter((c) => c.path === p).map((c) => c.token))];
  return { sdk: by("participant"), uploads: by("devicedata"), refused: mdh.log.api.filter((c) => !c.ok).length };
}

/** Waits for RENEWALS renewals seen by both sides, stops them, and checks the sharing. */
async function sharedRun(page, side, stopSide, name) {
  await until(async () => {
    const want = issuedHere()[RENEWALS];
    if (!want) return false;
    const p = await page.evaluate(() => window.tm.peek()?.access_token);
    const w = await side.evaluate(() => self.tm?.peek()?.access_token);
    return p === want && w === want;
  }, { timeout: 40_000, what: `${RENEWALS} renewals seen by the page and the ${name}` });
  await stopSide();
  const pageSide = await page.evaluate(() => {
    clearInterval(window.sdkTimer);
    return { calls: window.tm.status().brokerCalls, results: window.sdkResults };
  });
  const workerSide = await side.evaluate(() => ({ calls: self.tm.status().brokerCalls, log: self.log, crossTab: self.tm.status().crossTab }));
  const calls = suite.server.state.calls.length;
  const use = apiUse();
  const issued = issuedHere();
  assert.equal(calls, 1 + RENEWALS, `broker calls: ${calls}`);
  assert.equal(suite.server.state.maxOpen, 1, "never two broker requests at once");
  assert.equal(pageSide.calls + workerSide.calls, calls, "the page's and the worker's brokerCalls add up");
  assert.deepEqual(workerSide.crossTab, { broadcastChannel: true, webLocks: true });
  assert.equal(use.refused, 0, "MyDataHelps refused no request");
  assert.ok(pageSide.results.length > 0 && pageSide.results.every((r) => r === "ok"), "every SDK call succeeded");
  assert.ok(workerSide.log.uploads.length > 0 && workerSide.log.uploads.every((s) => s === 200), `uploads: ${workerSide.log.uploads}`);
  assert.deepEqual(workerSide.log.events, Array(1 + RENEWALS).fill("token"), "the worker adopted every token once");
  // One token at a time for both: each used the tokens in issue order, and every token
  // but the last (which may have been live only a moment) served both.
  for (const [who, seq] of Object.entries({ sdk: use.sdk, uploads: use.uploads })) {
    assert.deepEqual(seq, issued.filter((t) => seq.includes(t)), `${who}: tokens in issue order`);
  }
  for (const t of issued.slice(0, RENEWALS)) {
    assert.ok(use.sdk.includes(t) && use.uploads.includes(t), "a token served both the SDK and the uploads");
  }
  console.log(`# ${name} + page: ${calls} broker calls over ${RENEWALS} renewals of ${LIFETIME} s tokens `
    + `(page ${pageSide.calls}, ${name} ${workerSide.calls}); ${workerSide.log.uploads.length} uploads, `
    + `${pageSide.results.length} SDK calls, 0 refused`);
}

test(`a dedicated Web Worker and the page share one token and one broker call per renewal (${RENEWALS} renewals)`, { skip, timeout: 90_000 }, async (t) => {
  reset(LIFETIME);
  const ctx = await newContext(t);
  const page = await sdkPage(ctx);
  // The page holds a token before the worker starts: the worker gets it from the page
  // (the broker-call count below has no room for a call of its own).
  const worker = await startWorker(page, workerUrl("/upload-worker.js", { start: "1" }));
  await sharedRun(page, worker, () => worker.evaluate(() => self.stop()), "worker");
});

test(`a Service Worker and the page share one token and one broker call per renewal (${RENEWALS} renewals)`, { skip, timeout: 90_000 }, async (t) => {
  reset(LIFETIME);
  const ctx = await newContext(t);
  const page = await sdkPage(ctx);
  const swP = ctx.waitForEvent("serviceworker");
  await page.evaluate(async (url) => {
    const reg = await navigator.serviceWorker.register(url, { type: "module", scope: "/" });
    const sw = reg.installing || reg.waiting || reg.active;
    await new Promise((r) => {
      if (sw.state === "activated") r();
      sw.addEventListener("statechange", () => sw.state === "activated" && r());
    });
    let i = 0;
    window.swTimer = setInterval(() => sw.postMessage(i++), 200);
  }, workerUrl("/upload-sw.js"));
  const sw = ctx.serviceWorkers()[0] ?? (await swP);
  await sharedRun(page, sw, () => page.evaluate(() => clearInterval(window.swTimer)), "service worker");
  await page.evaluate(() => navigator.serviceWorker.getRegistrations().then((rs) => Promise.all(rs.map((r) => r.unregister()))));
});

test("a worker whose renewal gave up tries again at once on the worker's online event", { skip, timeout: 60_000 }, async (t) => {
  reset(LIFETIME);
  const ctx = await newContext(t);
  const page = await openPage(ctx, suite.server);
  const options = JSON.stringify({ crossTab: false, retry: { maxDelayMs: 60_000 } });
  const worker = await startWorker(page, workerUrl("/upload-worker.js", { options }));
  await worker.evaluate(() => self.ready.then((tm) => tm.getToken()).then(() => true));
  // A final error (a 2xx that is no token) ends the renewal: the next attempt is a
  // minute away, or comes with the next wake-up.
  suite.server.state.script.push({ status: 200, body: {} });
  const paused = await until(() => worker.evaluate(() => {
    const s = self.tm.status();
    return s.lastError === "invalid_response" && s.nextAttemptAt - Date.now() > 30_000 && s;
  }), { timeout: 20_000, what: "the worker's renewal gave up" });
  assert.equal(suite.server.state.calls.length, 2, paused.state);
  // Chromium does not fire `online` at workers, though HTML says it should (its
  // worker_global_scope.idl has ononline commented out; mdn/browser-compat-data#14013),
  // and Playwright's offline emulation does not reach them: dispatch it as it should come.
  await worker.evaluate(() => self.dispatchEvent(new Event("online")));
  await until(() => suite.server.state.calls.length === 3, { timeout: 5_000, what: "a broker call right after online" });
  const fresh = await until(() => issuedHere()[1], { what: "the new token" });
  await until(() => worker.evaluate((f) => self.tm.peek()?.access_token === f, fresh), { what: "the new token in the worker" });
});

test("in a worker: session/local storage fall back to memory with one warning; serveFrames needs a window", { skip }, async (t) => {
  reset(600);
  const ctx = await newContext(t);
  const page = await openPage(ctx, suite.server);
  const worker = await startWorker(page, workerUrl("/upload-worker.js", { options: JSON.stringify({ storage: "local" }) }));
  const r = await worker.evaluate(async () => {
    const tm = await self.ready;
    let frames;
    try { tm.serveFrames({ origins: ["https://mydatahelps.org"] }); frames = "accepted"; } catch (e) { frames = e.code + ": " + e.message; }
    let pushed = 0;
    const ready = await tm.attachSdk({ setParticipantAccessToken: () => pushed++, on() {}, off() {} }).ready;
    return { storage: tm.status().storage, frames, ready, pushed, token: (await tm.getToken()).token_type };
  });
  assert.deepEqual(r, { storage: "memory", frames: "invalid_options: mdh-token: serveFrames needs a window", ready: true, pushed: 1, token: "Bearer" });
  const warnings = ctx.workerLogs.filter((l) => l.startsWith("warning:") && l.includes("storage is not available"));
  assert.equal(warnings.length, 1, ctx.workerLogs.join("\n"));
});

test("a worker's managers without participant say so once (warn); with participant, nothing", { skip }, async (t) => {
  reset(600);
  const ctx = await newContext(t);
  const page = await openPage(ctx, suite.server);
  const seen = new Map();
  page.on("worker", (w) => {
    const lines = [];
    seen.set(w, lines);
    w.on("console", (m) => lines.push(`${m.type()}: ${m.text()}`));
  });
  /** The worker's console up to a marker it prints now (console messages arrive in order). */
  const consoleOf = async (w) => {
    await w.evaluate(() => console.log("marker"));
    const lines = seen.get(w);
    await until(() => lines.includes("log: marker"), { what: "the worker's marker" });
    return lines.filter((l) => l.includes("without participant"));
  };
  const anonymous = await startWorker(page, workerUrl("/upload-worker.js"));
  // A second manager in the same worker, and a token: no second line.
  await anonymous.evaluate(async () => {
    await self.ready;
    const { createTokenManager } = await import("/pkg/mdh_token.js");
    await (await createTokenManager({ broker: "/broker", crossTab: false })).getToken();
  });
  const lines = await consoleOf(anonymous);
  assert.equal(lines.length, 1, lines.join("\n"));
  assert.match(lines[0], /^warning: mdh-token: .*participant/);
  const named = await startWorker(page, workerUrl("/upload-worker.js", { options: JSON.stringify({ participant: "ada" }) }));
  await named.evaluate(() => self.ready.then(() => true));
  assert.deepEqual(await consoleOf(named), []);
  // A page without participant is not a worker: nothing there.
  await page.evaluate(() => {
    window.warned = [];
    const warn = console.warn;
    console.warn = (...a) => (window.warned.push(a.join(" ")), warn.apply(console, a));
  });
  await createManager(page, {});
  assert.deepEqual(await page.evaluate(() => window.warned), []);
});
