// Test harness for the package tier: a local server that serves the built package and
// a scripted broker, and a Chromium (Debian's, found by tests/support/browsers.js, never
// a download) driven by playwright-core. Every page gets a console/page-error collector, so each test can
// prove that no issued token leaked.
import http from "node:http";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "../support/browsers.js";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html", ".json": "application/json" };

export function packageBuilt() {
  return fs.existsSync(path.join(ROOT, "pkg/mdh_token_bg.wasm"));
}

/**
 * Serves `/pkg/**` (the package: `/pkg/mdh_token.js`), a blank test page at `/` and a scripted broker at `POST /broker`.
 * `routes` adds fixed answers (`{ "/app.js": { type: "text/javascript", body } }`);
 * `keepAlive: false` closes every connection after its answer, so that Chromium never
 * resends a request on a reused socket (it does so once when a reused socket dies,
 * which would consume an extra `{ drop: true }` step).
 * `api(url)` may answer an authorised delegated API request with its own JSON body
 * (undefined: the default participant answer).
 */
export async function startServer({ lifetime = 3600, csp = null, routes = {}, keepAlive = true, api = () => undefined } = {}) {
  const state = {
    lifetime,
    script: [],          // queued answers; empty = a healthy token
    calls: [],           // { at, headers, body }
    issued: [],          // every access_token handed out
    open: 0, maxOpen: 0, // concurrent broker requests
    csp,
    expiry: new Map(),   // token → server-side expiry (epoch ms)
    revoked: new Set(),
    apiCalls: [],        // delegated API requests
  };
  const sockets = new Set();
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, "http://x");
    if (!keepAlive) res.shouldKeepAlive = false;
    if (url.pathname === "/broker" && req.method === "POST") return broker(req, res);
    if (Object.hasOwn(routes, url.pathname)) {
      const r = routes[url.pathname];
      const headers = { "content-type": r.type ?? "text/html" };
      if (state.csp && headers["content-type"] === "text/html") headers["content-security-policy"] = state.csp;
      res.writeHead(r.status ?? 200, headers);
      return res.end(r.body);
    }
    if (url.pathname.startsWith("/mdh/api/v1/delegated/")) return delegated(req, res, url);
    if (url.pathname === "/frame.html") {
      // A stand-in for an embedded MyDataHelps frame: asks the parent for a token and
      // records what comes back.
      res.writeHead(200, { "content-type": "text/html" });
      return res.end(`<!doctype html><script>
        window.answers = [];
        addEventListener("message", (e) => window.answers.push({ origin: e.origin, data: e.data }));
        (window.opener || parent).postMessage({ name: "GetDelegatedAccessToken" }, "*");
      </script>`);
    }
    if (url.pathname === "/" || url.pathname === "/page.html") {
      const headers = { "content-type": "text/html" };
      if (state.csp) headers["content-security-policy"] = state.csp;
      res.writeHead(200, headers);
      return res.end(`<!doctype html><meta charset="utf-8"><title>mdh-token test</title><body>test page</body>`);
    }
    if (url.pathname === "/go") {
      res.writeHead(302, { location: url.searchParams.get("to") });
      return res.end();
    }
    if (url.pathname === "/redirect-target") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify(token()));
    }
    const rel = path.normalize(decodeURIComponent(url.pathname)).replace(/^[/\\]+/, "");
    const allowed = rel === "index.js" || rel.startsWith("pkg" + path.sep) || rel.startsWith("node_modules" + path.sep);
    const file = path.join(ROOT, rel);
    if (!allowed || !file.startsWith(ROOT) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404);
      return res.end("not found");
    }
    // CORS open for the package files: sandboxed (opaque-origin) frames load them too.
    const headers = { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", "access-control-allow-origin": "*" };
    res.writeHead(200, headers);
    fs.createReadStream(file).pipe(res);
  });
  server.on("connection", (s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });

  // The MyDataHelps delegated API, as far as the SDK tests need it: a valid,
  // unexpired, unrevoked bearer token or 401.
  async function delegated(req, res, url) {
    let body = "";
    for await (const chunk of req) body += chunk;
    const auth = req.headers.authorization ?? "";
    const tok = auth.startsWith("Bearer ") ? auth.slice(7) : "";
    const exp = state.expiry.get(tok);
    state.apiCalls.push({ at: Date.now(), path: url.pathname, ok: false, method: req.method });
    if (exp === undefined || Date.now() >= exp || state.revoked.has(tok)) {
      res.writeHead(401, { "content-type": "application/json" });
      return res.end(JSON.stringify({ error: "invalid_token" }));
    }
    state.apiCalls.at(-1).ok = true;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(api(url) ?? { participantID: "p-1", participantIdentifier: "PT-1", demographics: { firstName: "Ada" }, echo: body }));
  }

  // `who` (the request's `x-participant` header) is written into the token, so tests can
  // tell whose token a page holds: `tk` + who + `.` + random.
  function token(who = "") {
    const access_token = "tk" + (who ? who + "." : "") + crypto.randomBytes(30).toString("base64url");
    state.issued.push(access_token);
    state.expiry.set(access_token, Date.now() + state.lifetime * 1000);
    return { access_token, expires_in: state.lifetime, token_type: "Bearer" };
  }

  async function broker(req, res) {
    let body = "";
    for await (const chunk of req) body += chunk;
    state.calls.push({ at: Date.now(), headers: req.headers, body });
    state.open++;
    state.maxOpen = Math.max(state.maxOpen, state.open);
    res.on("close", () => state.open--);
    const who = req.headers["x-participant"] ?? "";
    const step = state.script.shift() ?? { status: 200 };
    if (step.delayMs) await new Promise((r) => setTimeout(r, step.delayMs));
    if (step.hang) return; // never answers; the client must time out
    if (step.drop) return req.socket.destroy();
    if (step.redirect) {
      res.writeHead(302, { location: step.redirect });
      return res.end();
    }
    const status = step.status ?? 200;
    let payload = step.body;
    if (payload === undefined) payload = status === 200 ? token(who) : { error: "scripted" };
    if (typeof payload === "function") payload = payload(() => token(who));
    const text = typeof payload === "string" ? payload : JSON.stringify(payload);
    res.writeHead(status, { "content-type": step.contentType ?? "application/json", "cache-control": "no-store", ...step.headers });
    res.end(text);
  }

  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    state,
    reset(lifetime = 3600) {
      Object.assign(state, { lifetime, script: [], calls: [], open: 0, maxOpen: 0, apiCalls: [] });
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

export async function launch() {
  return launchChromium();
}

/** Keeps what a page printed or threw in `page.logs` (once per page). */
function watch(page) {
  if (page.logs) return page;
  page.logs = [];
  page.on("console", (m) => page.logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => page.logs.push(`pageerror: ${e.message}\n${e.stack ?? ""}`));
  return page;
}

/**
 * A page on the test server with a collector of everything it printed or threw.
 * `beforeGoto(page)` runs before the navigation (init scripts, `page.clock.install()`).
 */
export async function openPage(context, server, { path: p = "/", beforeGoto = null } = {}) {
  const page = watch(await context.newPage());
  // Unhandled promise rejections, as the page sees them (window.__unhandled).
  await page.addInitScript(() => {
    window.__unhandled = [];
    window.addEventListener("unhandledrejection", (e) => {
      const r = e.reason;
      window.__unhandled.push(String((r && (r.code || r.message)) || r));
    });
  });
  if (beforeGoto) await beforeGoto(page);
  await page.goto(server.url + p);
  return page;
}

/** Creates `window.tm` on the page; `options` may name `broker: "/broker"` and more. */
export async function createManager(page, options = {}) {
  return page.evaluate(async (opts) => {
    const { createTokenManager } = await import("/pkg/mdh_token.js");
    window.events = [];
    window.tm = await createTokenManager({ broker: "/broker", logLevel: "info", ...opts });
    for (const name of ["token", "expiring", "expired", "error", "cleared"]) {
      window.tm.on(name, (p) => window.events.push({
        name, at: Date.now(),
        code: p && p.code, status: p && p.status, retryAt: p && p.retryAt,
      }));
    }
    return true;
  }, options);
}

export { until } from "../support/poll.js";

/** No issued token, nor any 40-character piece of one, in what the pages printed or threw. */
export function assertNoLeak(assert, server, texts) {
  const hay = texts.join("\n");
  for (const t of server.state.issued) {
    for (let i = 0; i + 40 <= t.length; i += 1) {
      if (hay.includes(t.slice(i, i + 40))) assert.fail(`token material leaked: ${t.slice(0, 6)}… found in page output`);
    }
  }
}

/** Lines the page threw (uncaught errors) and its unhandled rejections. */
export async function pageFaults(page) {
  const errors = page.logs.filter((l) => l.startsWith("pageerror:"));
  const unhandled = page.isClosed() ? [] : await page.evaluate(() => window.__unhandled ?? []);
  return [...errors, ...unhandled.map((u) => `unhandledrejection: ${u}`)];
}

/**
 * Destroys each page's manager (`window.tm`, made by createManager) and returns, per
 * page, its broker calls and the `token`, `expired` and `error` events it heard.
 */
export async function destroyAndCount(pages) {
  const perTab = [];
  for (const p of pages) {
    perTab.push(await p.evaluate(() => {
      window.tm.destroy();
      const count = (name) => window.events.filter((e) => e.name === name).length;
      return { calls: window.tm.status().brokerCalls, tokens: count("token"), expired: count("expired"), errors: count("error") };
    }));
  }
  return perTab;
}

/** Every sessionStorage/localStorage entry of the page, as text. */
export async function storageDump(page) {
  return page.evaluate(() => {
    const out = [];
    for (const [name, area] of [["session", sessionStorage], ["local", localStorage]]) {
      for (let i = 0; i < area.length; i++) {
        const k = area.key(i);
        out.push(`${name}:${k}=${area.getItem(k)}`);
      }
    }
    return out;
  });
}

/**
 * The wasm instance's linear memory size and the number of JS values the wasm holds,
 * read from outside through the DevTools protocol (the package exports no internals).
 * The memory is the page's one WebAssembly.Memory object. The build has no reference
 * types (scripts/build.sh), so the
 * glue keeps the values the wasm holds in its own JS array (wasm-bindgen's "heap":
 * 1,024 stack slots, then `undefined, null, true, false`, then the values). That array
 * is not reachable from page script; the DevTools protocol finds it among the page's
 * arrays by that fixed layout. A free slot holds the index of the next free one, so
 * `jsValues` counts the slots past the fixed ones that do not hold such an index (a
 * held JS number in that range would count as free).
 */
export async function wasmStats(page) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { result: memProto } = await cdp.send("Runtime.evaluate", { expression: "WebAssembly.Memory.prototype" });
    const { objects: memories } = await cdp.send("Runtime.queryObjects", { prototypeObjectId: memProto.objectId });
    const { result: sizes } = await cdp.send("Runtime.callFunctionOn", {
      objectId: memories.objectId,
      returnByValue: true,
      functionDeclaration: "function () { return this.map((m) => m.buffer.byteLength); }",
    });
    if (sizes.value.length !== 1) throw new Error(`expected one wasm memory, found ${sizes.value.length}`);
    const memoryBytes = sizes.value[0];
    const { result: proto } = await cdp.send("Runtime.evaluate", { expression: "Array.prototype" });
    const { objects } = await cdp.send("Runtime.queryObjects", { prototypeObjectId: proto.objectId });
    const { result } = await cdp.send("Runtime.callFunctionOn", {
      objectId: objects.objectId,
      returnByValue: true,
      functionDeclaration: `function () {
        const heaps = this.filter((a) => a.length >= 1028 && a[1024] === undefined && a[1025] === null && a[1026] === true && a[1027] === false);
        if (heaps.length !== 1) return { error: "found " + heaps.length + " wasm-bindgen heap arrays" };
        const heap = heaps[0];
        let free = 0;
        for (let i = 1028; i < heap.length; i++) {
          const v = heap[i];
          if (Number.isInteger(v) && v >= 1028 && v <= heap.length) free++;
        }
        return { jsValues: heap.length - 1028 - free, heapLength: heap.length };
      }`,
    });
    if (result.value.error) throw new Error(result.value.error);
    return { memoryBytes, ...result.value };
  } finally {
    await cdp.detach();
  }
}

/**
 * The browser hooks of a test file (every e2e file that drives a browser uses this or
 * browserSuite): one browser and one test server (`startServer(options)`; `options`
 * null: no shared server) for the file, and at the end a proof that nothing any page,
 * worker or test printed held token material of any server the file started.
 * `setUp(s)` runs once both are up: the file's own fixtures that need them (Node 20
 * runs a file's top-level `before` hooks concurrently, so a hook of the file's own
 * cannot count on this one having finished). Returns a live view:
 * - `s.server`, `s.browser`, `s.printed` (push what a test printed itself);
 * - `s.newContext(t, { faultsOk })`: a fresh context whose pages (popups included),
 *   workers and service workers are watched; when test `t` ends (or, without `t`, when
 *   the file ends) it is closed, its output kept for the leak check, and each page
 *   checked for page errors and unhandled rejections unless `faultsOk`;
 * - `s.closeContext(c)`: the same, now;
 * - `s.startServer(options)`: another test server, closed and leak-checked at the end.
 */
export function sharedBrowser({ before, after, assert, skip }, options = {}, setUp = null) {
  const contexts = new Set();
  const servers = [];
  const s = {
    server: null, browser: null, printed: [],
    async startServer(opts) {
      const server = await startServer(opts);
      servers.push(server);
      return server;
    },
    async newContext(t, { faultsOk = false } = {}) {
      const c = await s.browser.newContext();
      contexts.add(c);
      c.faultsOk = faultsOk;
      c.workerLogs = [];
      const worker = (w) => w.on("console", (m) => c.workerLogs.push(`${m.type()}: ${m.text()}`));
      c.on("serviceworker", worker);
      c.on("page", (p) => {
        watch(p);
        p.on("worker", worker);
      });
      t?.after(() => s.closeContext(c));
      return c;
    },
    async closeContext(c) {
      if (!contexts.delete(c)) return;
      s.printed.push(...c.workerLogs);
      for (const p of c.pages()) {
        s.printed.push(...(p.logs ?? []));
        if (!c.faultsOk) assert.deepEqual(await pageFaults(p).catch(() => []), [], "no page error or unhandled rejection");
      }
      await c.close();
    },
  };
  before(async () => {
    if (skip) return;
    if (options !== null) s.server = await s.startServer(options);
    s.browser = await launch();
    if (setUp) await setUp(s);
  });
  after(async () => {
    if (skip) return;
    try {
      for (const c of contexts) await s.closeContext(c);
      for (const server of servers) assertNoLeak(assert, server, s.printed);
    } finally {
      await s.browser.close();
      for (const server of servers) await server.close();
    }
  });
  return s;
}

/**
 * The browser hooks of a suite that runs each test in a fresh browser context with a
 * fresh page on one shared test server (sharedBrowser's, with its checks). Returns a
 * live view: `s.server`, `s.page`, `s.context`.
 */
export function browserSuite({ before, after, beforeEach, assert, skip }) {
  const s = sharedBrowser({ before, after, assert, skip });
  beforeEach(async () => {
    if (skip) return;
    s.server.reset();
    if (s.context) await s.closeContext(s.context);
    s.context = await s.newContext();
    s.page = await openPage(s.context, s.server);
  });
  return s;
}
