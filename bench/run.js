// `npm run bench`: one run, headless Chromium (Debian's, never a download), a table on
// stdout and bench/results.json. See bench/README.md for what each figure means.
//
// Exit status: 0 when every figure was measured (whatever PASS/FAIL says), 1 when
// something could not be measured (missing build, browser failure, page error...).
import http from "node:http";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { ROOT, shippedSize, gzipSize, gzipMethod } from "./size.js";
import { launchChromium } from "../tests/support/browsers.js";

const OUT = path.join(ROOT, "bench/results.json");

// Run sizes: enough for stable medians, small enough for ~1 minute on 2 cores.
const STARTUP_ROUNDS = 30;       // rounds of fresh-context loads, one per variant each
const STARTUP_WARM_ROUNDS = 10;  // rounds in one warm context, after one that fills it
const HOT_CALLS = 100_000;       // calls per round
const HOT_ROUNDS = 9;            // rounds per figure; the median round is reported
const HOT_WARMUP = 1_000_000;    // calls of each kind before the first round (see bench/README.md)
const MEM_CALLS = 1_000_000;     // getToken() calls between the two memory readings
const SF_CONCURRENT = 10_000;    // concurrent getToken() on one empty manager
const SF_PAGES = 5, SF_LIFETIME = 4, SF_RENEWALS = 3;

// Comparators. `file` is what the reference figure (gzip -9 of the main browser bundle,
// quoted as the comparators' sizes) turns out to be; `esm` the package's ES-module entry where that
// is another file.
const COMPARATORS = [
  { name: "oidc-client-ts", version: "3.5.0", file: "dist/browser/oidc-client-ts.min.js",
    kind: "minified IIFE browser bundle (global `oidc`, jwt-decode inlined)", reference: 18096,
    esm: { file: "dist/esm/oidc-client-ts.js", extra: ["jwt-decode/build/esm/index.js"],
           kind: "ES module entry (`exports.import`), not minified, + jwt-decode's ES module it imports" } },
  { name: "@auth0/auth0-spa-js", version: "2.28.3", file: "dist/auth0-spa-js.production.esm.js",
    kind: "minified ES module bundle (`module`)", reference: 63340 },
  { name: "@azure/msal-browser", version: "5.30.0", file: "lib/msal-browser.min.js",
    kind: "minified UMD browser bundle (global `msal`); the ES entry dist/index.mjs is an unbundled module graph",
    reference: 78807 },
  { name: "@careevolution/mydatahelps-js", version: "5.7.0", file: "MyDataHelps.min.js",
    kind: "minified ES module bundle", reference: 7404 },
];

// Start-up: ≤ 1.2× in a primed page with the default options; the earlier measure (blank
// page, crossTab false) is kept beside it with its budget, 1.5×.
const BUDGET = { shippedGzip: 27000, getTokenRatio: 1.2, peekRatio: 1.1, startupRatio: 1.2, startupBlankRatio: 1.5, sfOne: 1, sfTabs: 1 + SF_RENEWALS, memGrowthPages: 0 };

const log = (...a) => console.error("[bench]", ...a);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------- server

const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html", ".json": "application/json" };

// The blank page most measurements run in; the import map lets oidc-client-ts's ES
// entry resolve its one bare import, as a bundler would.
const PAGE = `<!doctype html><meta charset="utf-8"><title>mdh-token bench</title>
<script type="importmap">{"imports":{"jwt-decode":"/node_modules/jwt-decode/build/esm/index.js"}}</script>
<body>bench</body>`;
// The start-up page: the same, having already run a classic script and a module script,
// as any real page has by the time it loads a library. In a page that has run none, the
// first classic script pays the renderer's first-script set-up, so a <script> reference
// measured there looks slower than it is in an app.
const PRIMED_PAGE = PAGE.replace("<body>", `<script>window.primedScript = true</script>
<script type="module">window.primedModule = true</script>
<body>`);

async function startServer() {
  const calls = new Map(); // scenario -> [{ at }]
  const sockets = new Set();
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, "http://x");
      if (url.pathname === "/broker" && req.method === "POST") {
        for await (const _ of req); // drain the body
        const s = url.searchParams.get("s") ?? "default";
        const life = Number(url.searchParams.get("life") ?? 3600);
        if (!calls.has(s)) calls.set(s, []);
        calls.get(s).push({ at: Date.now() });
        res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
        return res.end(JSON.stringify({ access_token: "bk" + crypto.randomBytes(30).toString("base64url"), expires_in: life, token_type: "Bearer" }));
      }
      if (url.pathname === "/favicon.ico") {
        res.writeHead(204, { "cache-control": "max-age=600" });
        return res.end();
      }
      if (url.pathname === "/" || url.pathname === "/bench.html" || url.pathname === "/primed.html") {
        res.writeHead(200, { "content-type": "text/html", "cache-control": "no-store" });
        return res.end(url.pathname === "/primed.html" ? PRIMED_PAGE : PAGE);
      }
      const rel = path.normalize(decodeURIComponent(url.pathname)).replace(/^[/\\]+/, "");
      const allowed = rel.startsWith("pkg" + path.sep) || rel.startsWith("node_modules" + path.sep);
      const file = path.join(ROOT, rel);
      if (!allowed || !file.startsWith(ROOT + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
        res.writeHead(404);
        return res.end("not found");
      }
      // Static files may be cached: after the first load the HTTP cache is warm.
      res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", "cache-control": "max-age=600" });
      fs.createReadStream(file).pipe(res);
    } catch (e) {
      res.writeHead(500);
      res.end(String(e));
    }
  });
  server.on("connection", (s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    calls: (s) => (calls.get(s) ?? []).length,
    callTimes: (s) => (calls.get(s) ?? []).map((c) => c.at),
    async close() { for (const s of sockets) s.destroy(); await new Promise((r) => server.close(r)); },
  };
}

// Pages whose script throws make the run unmeasurable: collect and check.
const pageErrors = [];
async function newPage(context, server, primed = false) {
  const page = await context.newPage();
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") pageErrors.push(`console.error: ${m.text()} (${m.location().url})`); });
  await page.goto(server.url + (primed ? "/primed.html" : "/bench.html"));
  if (primed && !(await page.evaluate(() => window.primedScript && window.primedModule))) throw new Error("the primed page ran no script");
  return page;
}

// ---------------------------------------------------------------------------- figures

function measureSizes() {
  const ours = shippedSize();
  const comparators = COMPARATORS.map((c) => {
    const dir = path.join(ROOT, "node_modules", c.name);
    const pj = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    if (pj.version !== c.version) throw new Error(`${c.name} is ${pj.version} in node_modules, expected ${c.version} (run npm ci)`);
    const file = path.join(dir, c.file);
    const out = { name: c.name, version: pj.version, file: `node_modules/${c.name}/${c.file}`, kind: c.kind,
                  bytes: fs.statSync(file).size, gzip: gzipSize(file), reference: c.reference };
    out.matchesReference = out.gzip === c.reference;
    if (c.esm) {
      const files = [path.join(dir, c.esm.file), ...c.esm.extra.map((f) => path.join(ROOT, "node_modules", f))];
      out.esm = { files: files.map((f) => path.relative(ROOT, f)), kind: c.esm.kind,
                  gzip: files.reduce((a, f) => a + gzipSize(f), 0), bytes: files.reduce((a, f) => a + fs.statSync(f).size, 0) };
    }
    return out;
  });
  return { method: gzipMethod(), ours, comparators };
}

// What `import "mdh-token"` loads: the file package.json's exports name, as served here.
const PACKAGE_ENTRY = "/" + JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).exports["."].default.replace(/^\.\//, "");

// The start-up variants, each run in a page that is already loaded: from
// performance.now() before the library is requested to the first object a page can use.
// mdh-token: `import()` of what `exports` names, then `await createTokenManager()`.
// oidc-client-ts: its browser bundle as a classic <script> (what a page without a
// bundler includes) or its ES-module entry, then `new UserManager()`.
// The measure: the primed page, mdh-token with its default options (what an app pays).
// Kept beside it, the earlier one: the blank page, mdh-token with `crossTab: false`.
const VARIANTS = {
  mdh: { lib: "mdh", primed: true, options: {} },
  oidcScript: { lib: "oidcScript", primed: true },
  oidcEsm: { lib: "oidcEsm", primed: true },
  mdhBlankNoCrossTab: { lib: "mdh", primed: false, options: { crossTab: false } },
  oidcScriptBlank: { lib: "oidcScript", primed: false },
};
const VARIANT_NAMES = Object.keys(VARIANTS);
const OIDC_SCRIPT = "/node_modules/oidc-client-ts/dist/browser/oidc-client-ts.min.js";
const OIDC_ESM = "/node_modules/oidc-client-ts/dist/esm/oidc-client-ts.js";

async function startupOnce(page, variant) {
  const { lib, options } = VARIANTS[variant];
  return page.evaluate(async ({ lib, options, entry, script, esm }) => {
    const settings = { authority: location.origin, client_id: "bench", redirect_uri: location.origin + "/cb" };
    const t0 = performance.now();
    if (lib === "mdh") {
      const mod = await import(entry);
      const t1 = performance.now();
      const tm = await mod.createTokenManager({ broker: "/broker?s=startup", ...options });
      const t2 = performance.now();
      tm.destroy();
      return { loadMs: t1 - t0, readyMs: t2 - t0 };
    }
    let UserManager;
    if (lib === "oidcScript") {
      await new Promise((resolve, reject) => {
        const s = document.createElement("script");
        s.src = script;
        s.onload = resolve;
        s.onerror = () => reject(new Error("could not load " + script));
        document.head.append(s);
      });
      UserManager = window.oidc.UserManager;
    } else {
      UserManager = (await import(esm)).UserManager;
    }
    const t1 = performance.now();
    const um = new UserManager(settings);
    const t2 = performance.now();
    um.stopSilentRenew();
    return { loadMs: t1 - t0, readyMs: t2 - t0 };
  }, { lib, options, entry: PACKAGE_ENTRY, script: OIDC_SCRIPT, esm: OIDC_ESM });
}

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * q, lo = Math.floor(at), hi = Math.ceil(at);
  return s[lo] + (s[hi] - s[lo]) * (at - lo);
};
const summary = (xs) => ({ medianMs: median(xs), p25Ms: quantile(xs, 0.25), p75Ms: quantile(xs, 0.75),
                           minMs: Math.min(...xs), maxMs: Math.max(...xs) });

// Start-up as a first visit pays it: every load in a fresh browser context (empty HTTP
// cache, no V8 or wasm code cache; the page's connection is open), the variants
// interleaved round by round in a rotating order. Then, for a returning visit, the
// primed-page variants in one context whose HTTP cache is warm (each load a new page).
async function measureStartup(browser, server) {
  const rounds = [];
  for (let i = 0; i < STARTUP_ROUNDS; i++) {
    const round = {};
    for (let k = 0; k < VARIANT_NAMES.length; k++) {
      const variant = VARIANT_NAMES[(k + i) % VARIANT_NAMES.length];
      const context = await browser.newContext();
      try {
        const page = await newPage(context, server, VARIANTS[variant].primed);
        round[variant] = await startupOnce(page, variant);
      } finally {
        await context.close();
      }
    }
    rounds.push(round);
  }
  const WARM = ["mdh", "oidcScript", "oidcEsm"];
  const warmRounds = [];
  const context = await browser.newContext();
  try {
    for (let i = 0; i <= STARTUP_WARM_ROUNDS; i++) {
      const round = {};
      for (let k = 0; k < WARM.length; k++) {
        const variant = WARM[(k + i) % WARM.length];
        const page = await newPage(context, server, true);
        round[variant] = await startupOnce(page, variant);
        await page.close();
      }
      if (i > 0) warmRounds.push(round); // round 0 fills the cache
    }
  } finally {
    await context.close();
  }
  const of = (rs, v, k = "readyMs") => rs.map((r) => r[v][k]);
  const pairs = (rs, a, b) => median(rs.map((r) => r[a].readyMs / r[b].readyMs));
  const res = {
    rounds: rounds.length,
    method: "each load: a page already loaded, then performance.now() from before the library is requested to the first usable object; mdh-token = import() of the exports entry + await createTokenManager({ broker }) (default options; crossTab: false in the earlier measure); oidc-client-ts = its browser bundle as a classic <script> (dist/browser/oidc-client-ts.min.js, global `oidc`) or its ES-module entry (dist/esm/oidc-client-ts.js + jwt-decode through an import map), then new UserManager({ authority, client_id, redirect_uri })",
    pages: "primed: the blank page plus an inline classic script and an inline module script, both run before the measurement; blank: no script of its own but the import map (the earlier measure)",
    fresh: "every load in a new browser context (empty HTTP cache, no V8/wasm code cache; the page's connection open); the five variants interleaved, rotating the order each round",
    warm: `one context, HTTP cache warm (static files max-age=600), each load a new primed page; ${STARTUP_WARM_ROUNDS} rounds after one that fills the cache`,
    variants: VARIANTS,
    ...Object.fromEntries(VARIANT_NAMES.map((v) => [v, { ...summary(of(rounds, v)), loadMedianMs: median(of(rounds, v, "loadMs")), readyMs: of(rounds, v) }])),
    warmed: Object.fromEntries(WARM.map((v) => [v, summary(of(warmRounds, v))])),
  };
  res.ratio = res.mdh.medianMs / res.oidcScript.medianMs;
  res.ratioEsm = res.mdh.medianMs / res.oidcEsm.medianMs;
  res.ratioBlank = res.mdhBlankNoCrossTab.medianMs / res.oidcScriptBlank.medianMs;
  res.sameRoundRatioMedian = { script: pairs(rounds, "mdh", "oidcScript"), esm: pairs(rounds, "mdh", "oidcEsm"),
                               blank: pairs(rounds, "mdhBlankNoCrossTab", "oidcScriptBlank") };
  res.warmRatio = res.warmed.mdh.medianMs / res.warmed.oidcScript.medianMs;
  return res;
}

// In-page: hot path vs plain-JS baseline, then wasm memory before/after 1M getToken().
async function measureHotAndMemory(browser, server) {
  const context = await browser.newContext();
  try {
    const page = await newPage(context, server);
    return await page.evaluate(async ({ N, ROUNDS, WARM, MEM }) => {
      // The package exports no internals: the wasm instance is caught from outside, as
      // the glue's initSync creates it (new WebAssembly.Instance), before the import.
      const instances = [];
      const Instance = WebAssembly.Instance;
      WebAssembly.Instance = function (module, imports) {
        const i = new Instance(module, imports);
        instances.push(i);
        return i;
      };
      WebAssembly.Instance.prototype = Instance.prototype;
      const glue = await import("/pkg/mdh_token.js");
      const tm = await glue.createTokenManager({ broker: "/broker?s=hot" });
      WebAssembly.Instance = Instance;
      if (instances.length !== 1) throw new Error(`${instances.length} wasm instances, not 1`);
      // Export names are minified by the build: find the one memory by its type.
      const memory = Object.values(instances[0].exports).find((v) => v instanceof WebAssembly.Memory);
      if (!memory) throw new Error("no wasm memory export");
      const pages = () => memory.buffer.byteLength / 65536;
      const memCreated = pages();

      const tok = await tm.getToken();
      if (!tok || typeof tok.access_token !== "string") throw new Error("no token");
      if (tm.peek() === null) throw new Error("peek() gave null with a valid token");

      // The baseline: a cached token object, Date.now() against its expiry.
      const cached = Object.freeze({ ...tok });
      const base = {
        getToken() { return Date.now() < cached.expires_at - 10000 ? Promise.resolve(cached) : Promise.reject(new Error("expired")); },
        peek() { return Date.now() < cached.expires_at - 10000 ? cached : null; },
      };
      // Every loop reads a field of every result (same work for both sides).
      let sink = 0;
      const loops = {
        async mdhGet(n) { for (let i = 0; i < n; i++) sink += (await tm.getToken()).expires_at; },
        async baseGet(n) { for (let i = 0; i < n; i++) sink += (await base.getToken()).expires_at; },
        async mdhPeek(n) { for (let i = 0; i < n; i++) sink += tm.peek().expires_at; },
        async basePeek(n) { for (let i = 0; i < n; i++) sink += base.peek().expires_at; },
      };
      for (const f of Object.values(loops)) await f(WARM);
      const memWarm = pages();

      const ns = { mdhGet: [], baseGet: [], mdhPeek: [], basePeek: [] };
      const names = Object.keys(ns);
      for (let r = 0; r < ROUNDS; r++) {
        // rotate the order every round so no figure always runs first
        for (let k = 0; k < names.length; k++) {
          const name = names[(k + r) % names.length];
          const t0 = performance.now();
          await loops[name](N);
          ns[name].push(((performance.now() - t0) * 1e6) / N);
        }
      }
      const memBefore = pages();
      const t0 = performance.now();
      await loops.mdhGet(MEM);
      const memMs = performance.now() - t0;
      const memAfter = pages();
      const stillValid = tm.peek() !== null;
      const brokerCalls = tm.status().brokerCalls;
      tm.destroy();
      return { ns, sink: Number.isFinite(sink), memCreated, memWarm, memBefore, memAfter, memMs, stillValid, brokerCalls,
               perfNowResolutionHint: crossOriginIsolated ? "5us" : "100us (not cross-origin isolated)" };
    }, { N: HOT_CALLS, ROUNDS: HOT_ROUNDS, WARM: HOT_WARMUP, MEM: MEM_CALLS });
  } finally {
    await context.close();
  }
}

// 10,000 concurrent getToken() on an empty manager, in-tab (crossTab false) and with the
// cross-tab machinery on (default options) — each in its own browser context.
async function measureSingleFlightOne(browser, server, crossTab) {
  const s = `sf1-${crossTab ? "xtab" : "tab"}`;
  const context = await browser.newContext();
  try {
    const page = await newPage(context, server);
    const r = await page.evaluate(async ({ n, s, crossTab }) => {
      const { createTokenManager } = await import("/pkg/mdh_token.js");
      const tm = await createTokenManager({ broker: `/broker?s=${s}`, crossTab });
      const got = await Promise.all(Array.from({ length: n }, () => tm.getToken()));
      const same = got.every((t) => t.access_token === got[0].access_token);
      await new Promise((r) => setTimeout(r, 500)); // room for a stray second call
      tm.destroy();
      return { resolved: got.length, same };
    }, { n: SF_CONCURRENT, s, crossTab });
    return { ...r, crossTab, brokerCalls: server.calls(s) };
  } finally {
    await context.close();
  }
}

// 5 pages of one context (memory storage, crossTab true), short-lived tokens: broker
// calls for the first token and 3 renewals.
async function measureSingleFlightTabs(browser, server) {
  const s = "sf5";
  const context = await browser.newContext();
  try {
    const pages = [];
    for (let i = 0; i < SF_PAGES; i++) pages.push(await newPage(context, server));
    await Promise.all(pages.map((p) => p.evaluate(async ({ s, life }) => {
      const { createTokenManager } = await import("/pkg/mdh_token.js");
      window.seen = new Set();
      window.tm = await createTokenManager({ broker: `/broker?s=${s}&life=${life}`, storage: "memory", crossTab: true });
      window.tm.on("token", (t) => window.seen.add(t.access_token));
    }, { s, life: SF_LIFETIME })));
    const t0 = Date.now();
    // every page asks at once on empty managers
    await Promise.all(pages.map((p) => p.evaluate(async () => { window.seen.add((await window.tm.getToken()).access_token); })));
    const want = 1 + SF_RENEWALS;
    const deadline = Date.now() + (SF_RENEWALS + 4) * SF_LIFETIME * 1000;
    let counts = [];
    for (;;) {
      counts = await Promise.all(pages.map((p) => p.evaluate(() => window.seen.size)));
      if (counts.every((c) => c >= want) || Date.now() > deadline) break;
      await sleep(50);
    }
    // stop before the next renewal is due (SF_LIFETIME/2 s after the last)
    await Promise.all(pages.map((p) => p.evaluate(() => window.tm.destroy())));
    const elapsed = Date.now() - t0;
    await sleep(300);
    const times = server.callTimes(s);
    return { pages: SF_PAGES, lifetime: SF_LIFETIME, renewalsWanted: SF_RENEWALS, tokensSeenPerPage: counts,
             renewalsObserved: Math.min(...counts) - 1, brokerCalls: times.length,
             callOffsetsMs: times.map((t) => t - times[0]), elapsedMs: elapsed };
  } finally {
    await context.close();
  }
}

// ---------------------------------------------------------------------------- report

const fmtB = (n) => n.toLocaleString("en-US") + " B";
const fmtMs = (n) => n.toFixed(2) + " ms";
const fmtNs = (n) => n.toFixed(1) + " ns";
const fmtX = (n) => n.toFixed(2) + "×";
const spread = (x) => `${x.p25Ms.toFixed(1)}–${x.p75Ms.toFixed(1)} (${x.minMs.toFixed(1)}–${x.maxMs.toFixed(1)}) ms`;
const verdict = (ok) => (ok ? "PASS" : "FAIL");

function table(rows) {
  const head = ["figure", "mdh-token", "compared with", "ratio", "budget", ""];
  const all = [head, ...rows.map((r) => [r.figure, r.value, r.other ?? "", r.ratio ?? "", r.budget ?? "", r.verdict ?? ""])];
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => c.padEnd(w[i])).join("  ").trimEnd();
  return [line(head), w.map((n) => "-".repeat(n)).join("  "), ...all.slice(1).map(line)].join("\n");
}

async function main() {
  const started = Date.now();
  const loadStart = os.loadavg()[0];
  if (!fs.existsSync(path.join(ROOT, "pkg/mdh_token_bg.wasm")) || !fs.existsSync(path.join(ROOT, "pkg/mdh_token.js"))) {
    throw new Error("pkg/ is not built: run `npm run build` (bash scripts/build.sh) first");
  }

  log("sizes");
  const size = measureSizes();

  const server = await startServer();
  const browser = await launchChromium();
  const chromiumVersion = browser.version();
  let startup, hot, sfTab, sfXtab, sfTabs;
  try {
    log(`start-up: ${STARTUP_ROUNDS} × ${VARIANT_NAMES.length} loads in fresh contexts, then ${STARTUP_WARM_ROUNDS + 1} × 3 warm`);
    startup = await measureStartup(browser, server);
    log(`hot path: ${HOT_ROUNDS} rounds × ${HOT_CALLS} calls, then ${MEM_CALLS} getToken() for memory`);
    // In a browser of its own: the start-up phase's 120 contexts are still being torn
    // down in the first one, and that work lands on the rounds unevenly.
    const hotBrowser = await launchChromium();
    try {
      hot = await measureHotAndMemory(hotBrowser, server);
    } finally {
      await hotBrowser.close();
    }
    log(`single flight: ${SF_CONCURRENT} concurrent getToken()`);
    sfTab = await measureSingleFlightOne(browser, server, false);
    sfXtab = await measureSingleFlightOne(browser, server, true);
    log(`single flight: ${SF_PAGES} pages, ${SF_LIFETIME} s tokens, ${SF_RENEWALS} renewals`);
    sfTabs = await measureSingleFlightTabs(browser, server);
  } finally {
    await browser.close();
    await server.close();
  }
  if (pageErrors.length) throw new Error(`page errors during the run:\n  ${pageErrors.join("\n  ")}`);
  if (!hot.sink || !hot.stillValid) throw new Error("hot path: the token was not valid throughout the run");
  if (!sfTab.same || !sfXtab.same || sfTab.resolved !== SF_CONCURRENT) throw new Error("single flight: callers got different tokens");

  const hotMed = Object.fromEntries(Object.entries(hot.ns).map(([k, v]) => [k, median(v)]));
  const getRatio = hotMed.mdhGet / hotMed.baseGet;
  const peekRatio = hotMed.mdhPeek / hotMed.basePeek;
  // same-round ratios: less sensitive to load from other processes than ratios of medians
  const roundRatio = (a, b) => median(hot.ns[a].map((x, i) => x / hot.ns[b][i]));
  const growth = hot.memAfter - hot.memBefore;
  const o = size.ours;

  const rows = [
    { figure: "shipped size, gzip -9", value: fmtB(o.total), other: `one file, the wasm inside; + ${fmtB(o.fallback.total)} wasm file without DecompressionStream`,
      budget: `≤ ${fmtB(BUDGET.shippedGzip)}`, verdict: verdict(o.total <= BUDGET.shippedGzip) },
    ...size.comparators.map((c) => ({
      figure: `  ${c.name} ${c.version}`, value: "", other: `${fmtB(c.gzip)} (${c.file.replace(`node_modules/${c.name}/`, "")})`,
      ratio: fmtX(o.total / c.gzip), budget: `ref ${fmtB(c.reference)}`, verdict: c.matchesReference ? "= ref" : "≠ ref",
    })),
    ...size.comparators.filter((c) => c.esm).map((c) => ({
      figure: `  ${c.name} ${c.version} ES entry`, value: "", other: `${fmtB(c.esm.gzip)} (${c.esm.files.map((f) => f.replace(/^node_modules\//, "")).join(" + ")})`,
      ratio: fmtX(o.total / c.esm.gzip),
    })),
    { figure: `start-up, fresh context (median of ${startup.rounds})`, value: fmtMs(startup.mdh.medianMs),
      other: `oidc-client-ts <script> ${fmtMs(startup.oidcScript.medianMs)}`, ratio: fmtX(startup.ratio),
      budget: `≤ ${fmtX(BUDGET.startupRatio)}`, verdict: verdict(startup.ratio <= BUDGET.startupRatio) },
    { figure: "  primed page, default options", value: "", other: "median of the same-round ratios", ratio: fmtX(startup.sameRoundRatioMedian.script) },
    { figure: "  spread p25–p75 (min–max)", value: spread(startup.mdh), other: `<script> ${spread(startup.oidcScript)}` },
    { figure: "  oidc-client-ts ES module", value: "", other: `${fmtMs(startup.oidcEsm.medianMs)}, ${spread(startup.oidcEsm)}`, ratio: fmtX(startup.ratioEsm) },
    { figure: "  of which import() / <script>", value: fmtMs(startup.mdh.loadMedianMs),
      other: `<script> ${fmtMs(startup.oidcScript.loadMedianMs)}, ES module ${fmtMs(startup.oidcEsm.loadMedianMs)}` },
    { figure: "start-up, earlier measure", value: fmtMs(startup.mdhBlankNoCrossTab.medianMs),
      other: `blank page, crossTab false; <script> ${fmtMs(startup.oidcScriptBlank.medianMs)}`, ratio: fmtX(startup.ratioBlank),
      budget: `≤ ${fmtX(BUDGET.startupBlankRatio)}`, verdict: verdict(startup.ratioBlank <= BUDGET.startupBlankRatio) },
    { figure: `  warm HTTP cache (median of ${STARTUP_WARM_ROUNDS})`, value: fmtMs(startup.warmed.mdh.medianMs),
      other: `<script> ${fmtMs(startup.warmed.oidcScript.medianMs)}, ES module ${fmtMs(startup.warmed.oidcEsm.medianMs)}`, ratio: fmtX(startup.warmRatio) },
    { figure: "await getToken(), per call", value: fmtNs(hotMed.mdhGet), other: `plain JS ${fmtNs(hotMed.baseGet)}`,
      ratio: fmtX(getRatio), budget: `≤ ${fmtX(BUDGET.getTokenRatio)}`, verdict: verdict(getRatio <= BUDGET.getTokenRatio) },
    { figure: "peek(), per call", value: fmtNs(hotMed.mdhPeek), other: `plain JS ${fmtNs(hotMed.basePeek)}`,
      ratio: fmtX(peekRatio), budget: `≤ ${fmtX(BUDGET.peekRatio)}`, verdict: verdict(peekRatio <= BUDGET.peekRatio) },
    { figure: `single flight, ${SF_CONCURRENT.toLocaleString("en-US")} getToken()`, value: `${sfTab.brokerCalls} call(s)`, other: "crossTab false",
      budget: `= ${BUDGET.sfOne}`, verdict: verdict(sfTab.brokerCalls === BUDGET.sfOne) },
    { figure: `  same, crossTab true`, value: `${sfXtab.brokerCalls} call(s)`, other: "default options",
      budget: `= ${BUDGET.sfOne}`, verdict: verdict(sfXtab.brokerCalls === BUDGET.sfOne) },
    { figure: `single flight, ${SF_PAGES} pages × ${SF_RENEWALS} renewals`, value: `${sfTabs.brokerCalls} call(s)`,
      other: `${sfTabs.renewalsObserved} renewal(s) seen by every page`,
      budget: `= ${BUDGET.sfTabs}`, verdict: verdict(sfTabs.brokerCalls === BUDGET.sfTabs && sfTabs.renewalsObserved >= SF_RENEWALS) },
    { figure: `wasm memory, ${(MEM_CALLS / 1e6).toFixed(0)}M getToken()`, value: `${hot.memBefore} → ${hot.memAfter} pages`,
      other: `${growth >= 0 ? "+" : ""}${growth} pages (64 KiB)`, budget: `+${BUDGET.memGrowthPages}`, verdict: verdict(growth <= BUDGET.memGrowthPages) },
  ];

  const seconds = (Date.now() - started) / 1000;
  const results = {
    date: new Date().toISOString(),
    commit: (() => { try { return execFileSync("git", ["rev-parse", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim(); } catch { return null; } })(),
    machine: { cpus: os.cpus().length, node: process.version, chromium: chromiumVersion,
               loadavg1: { start: loadStart, end: os.loadavg()[0] } },
    seconds,
    budgets: BUDGET,
    size,
    startup,
    hotPath: { callsPerRound: HOT_CALLS, rounds: HOT_ROUNDS, warmup: HOT_WARMUP, options: "createTokenManager({ broker }) — defaults otherwise",
               medianNs: hotMed, ratios: { getToken: getRatio, peek: peekRatio },
               sameRoundRatioMedians: { getToken: roundRatio("mdhGet", "baseGet"), peek: roundRatio("mdhPeek", "basePeek") },
               roundsNs: hot.ns, timer: hot.perfNowResolutionHint },
    memory: { calls: MEM_CALLS, pagesAfterCreate: hot.memCreated, pagesAfterWarmup: hot.memBefore, pagesAfter: hot.memAfter,
              growthPages: growth, ms: hot.memMs },
    singleFlight: { concurrent: { inTab: sfTab, crossTab: sfXtab }, tabs: sfTabs },
    verdicts: Object.fromEntries(rows.filter((r) => r.verdict === "PASS" || r.verdict === "FAIL").map((r) => [r.figure.trim(), r.verdict])),
  };
  fs.writeFileSync(OUT, JSON.stringify(results, null, 2) + "\n");

  console.log(`mdh-token bench — ${results.date}, Chromium ${chromiumVersion}, ${os.cpus().length} CPUs, sizes by ${size.method}`);
  console.log(table(rows));
  const notes = [
    `sizes: ${size.method}, per file, summed; shipped = ${o.files.map((f) => f.path).join(" + ")}`,
    `start-up: ${startup.fresh}; ${startup.pages}; ${startup.method}; same-round ratio medians: <script> ${fmtX(startup.sameRoundRatioMedian.script)}, ES module ${fmtX(startup.sameRoundRatioMedian.esm)}, earlier measure ${fmtX(startup.sameRoundRatioMedian.blank)}`,
    `hot path: median of ${HOT_ROUNDS} rounds × ${HOT_CALLS.toLocaleString("en-US")} calls, after ${HOT_WARMUP.toLocaleString("en-US")} warm-up calls; same-round ratio medians getToken ${fmtX(results.hotPath.sameRoundRatioMedians.getToken)}, peek ${fmtX(results.hotPath.sameRoundRatioMedians.peek)}`,
    `load average (1 min): ${loadStart.toFixed(2)} at start, ${os.loadavg()[0].toFixed(2)} at end, on ${os.cpus().length} CPUs${Math.max(loadStart, os.loadavg()[0]) > os.cpus().length ? " — the machine was busy: timings are noisy" : ""}`,
  ];
  console.log("\n" + notes.map((n) => "· " + n).join("\n"));
  console.log(`\n${Object.values(results.verdicts).filter((v) => v === "FAIL").length} FAIL of ${Object.keys(results.verdicts).length}; ${seconds.toFixed(1)} s; details in bench/results.json`);
}

main().catch((e) => {
  console.error(`bench: could not measure: ${e.stack ?? e}`);
  process.exit(1);
});
