// Packaging: the types under `tsc --strict`, and the `npm pack` tarball installed into
// a throwaway app — bundled by Vite 7 (build and dev server) and webpack 5, and loaded
// with no bundler — run in Chromium; imported in Node, where creating a manager fails
// with a TokenError.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import http from "node:http";
import zlib from "node:zlib";
import { ROOT, sharedBrowser, packageBuilt } from "./harness.js";

const skip = !packageBuilt() && "package not built: run npm run build";
const bin = (n) => path.join(ROOT, "node_modules/.bin", n);
// The browser only (each app serves itself); each test checks what its pages threw.
const suite = sharedBrowser({ before, after, assert, skip }, null);
let tmp, app;
const newPage = async () => (await suite.newContext(null, { faultsOk: true })).newPage();
const closePage = (page) => suite.closeContext(page.context());

// The page code of the throwaway app: a broker function, a token shown in the DOM.
const MAIN = `import { createTokenManager } from "mdh-token";
const tokens = await createTokenManager({
  crossTab: false,
  broker: async () => ({ access_token: "abc.DEF-123", token_type: "Bearer", expires_in: 3600 }),
});
const t = await tokens.getToken();
document.body.dataset.result = t.token_type + ":" + t.expires_in + ":" + tokens.status().state;
`;

// The same with 4 s tokens from a counting broker: renewals every 2 s.
const RENEWING = `import { createTokenManager } from "mdh-token";
(async () => {
  let n = 0;
  const tokens = await createTokenManager({
    crossTab: false,
    broker: async () => ({ access_token: "tk" + ++n, token_type: "Bearer", expires_in: 4 }),
  });
  const seen = [];
  tokens.on("token", (t) => {
    seen.push(t.access_token);
    if (seen.length === 3) document.body.dataset.result = seen.join(",") + ":" + tokens.status().state;
  });
  await tokens.getToken();
})().catch((e) => (document.body.dataset.result = "error:" + e.name + ":" + e.code + ":" + e.message));
`;

function serve(dir) {
  const types = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const file = path.join(dir, rel.endsWith("/") ? rel + "index.html" : rel);
    if (!file.startsWith(dir) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((r) => server.listen(0, "127.0.0.1", () => r(server)));
}

async function resultOf(url) {
  const page = await newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.body && document.body.dataset.result, null, { timeout: 15000 }).catch(() => {});
  const result = await page.evaluate(() => document.body.dataset.result ?? null);
  await closePage(page);
  return { result, errors };
}

function gzipSizeOf(dir) {
  let total = 0;
  for (const f of fs.readdirSync(dir, { recursive: true })) {
    const p = path.join(dir, f);
    if (fs.statSync(p).isFile() && /\.(js|wasm)$/.test(p)) total += zlib.gzipSync(fs.readFileSync(p), { level: 9 }).length;
  }
  return total;
}

before(async () => {
  if (skip) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mdh-token-pack-"));
  // --ignore-scripts: pack what is built (prepack would only rebuild the same bytes).
  const out = execFileSync("npm", ["pack", "--silent", "--ignore-scripts", "--pack-destination", tmp], { cwd: ROOT, encoding: "utf8" });
  const tgz = path.join(tmp, out.trim().split("\n").pop());
  app = path.join(tmp, "app");
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "throwaway", private: true, type: "module" }));
  // React (this package's devDependency, so in the npm cache) for mdh-token/react.
  const react = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).devDependencies.react;
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tgz, `react@${react}`, `react-dom@${react}`], { cwd: app, stdio: "pipe" });
});
after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test("index.d.ts, react/index.d.ts and testing/index.d.ts have no `any` and consumers compile under tsc --strict (misuse does not)", { skip }, () => {
  for (const f of ["index.d.ts", "react/index.d.ts", "testing/index.d.ts"]) {
    const dts = fs.readFileSync(path.join(ROOT, f), "utf8").replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, "");
    assert.doesNotMatch(dts, /\bany\b/, f);
  }
  execFileSync(bin("tsc"), ["-p", path.join(ROOT, "tests/types")], { stdio: "pipe" });
});

test("the tarball ships only the package files", { skip }, () => {
  const files = fs.readdirSync(path.join(app, "node_modules/mdh-token"), { recursive: true }).sort();
  for (const f of ["index.d.ts", "package.json", "pkg/mdh_token.js", "pkg/mdh_token_bg.wasm", "react/index.js", "react/index.d.ts"]) assert.ok(files.includes(f), f);
  assert.ok(!files.includes("index.js"), "no index.js: the exports map names pkg/mdh_token.js");
  assert.ok(!files.some((f) => f.startsWith("src") || f.startsWith("www") || f.startsWith("tests") || f.endsWith(".rs")), files.join(" "));
});

// mdh-token/testing runs in a host's test runner: its own entry, never in what a page loads.
test("the tarball ships mdh-token/testing with its types, as its own entry outside the browser bundle", { skip }, async () => {
  const dir = path.join(app, "node_modules/mdh-token");
  for (const f of ["testing/index.js", "testing/index.d.ts"]) assert.ok(fs.existsSync(path.join(dir, f)), f);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  assert.deepEqual(manifest.exports["./testing"], { types: "./testing/index.d.ts", default: "./testing/index.js" });
  for (const f of ["pkg/mdh_token.js", "react/index.js"]) {
    const text = fs.readFileSync(path.join(dir, f), "utf8");
    assert.doesNotMatch(text, /scriptedBroker|fakeSdk|testing\//, `${f} has nothing of mdh-token/testing`);
  }
  const { shippedFiles } = await import("../../bench/size.js");
  assert.ok(!shippedFiles().some((f) => f.startsWith("testing/")), "not counted as shipped to a browser");
  assert.deepEqual(shippedFiles({ entry: "testing" }), ["testing/index.js"]);
});

test("the tarball ships mdh-token/broker with its types, importable on the server with jose installed", { skip }, () => {
  const dir = path.join(app, "node_modules/mdh-token");
  for (const f of ["broker/index.js", "broker/index.d.ts", "broker/store.js", "broker/key.js"]) assert.ok(fs.existsSync(path.join(dir, f)), f);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
  assert.deepEqual(manifest.exports["./broker"], { types: "./broker/index.d.ts", default: "./broker/index.js" });
  assert.ok(manifest.dependencies.jose, "jose is a runtime dependency");
  const out = execFileSync(
    process.execPath,
    ["--input-type=module", "-e", 'const b = await import("mdh-token/broker"); console.log(Object.keys(b).sort().join(","))'],
    { cwd: app, encoding: "utf8" },
  );
  assert.equal(out.trim(), "BrokerError,createBroker,memoryStore,redisStore");
});

test("a Vite 7 app that imports the installed package builds and runs in Chromium", { skip }, async () => {
  const build = (name, main) => {
    const dir = path.join(app, name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "index.html"), `<!doctype html><meta charset="utf-8"><body><script type="module" src="./main.js"></script></body>`);
    fs.writeFileSync(path.join(dir, "main.js"), main);
    execFileSync(bin("vite"), ["build", "--logLevel", "error", "--outDir", "dist", "--emptyOutDir"], { cwd: dir, stdio: "pipe", env: { ...process.env, NODE_PATH: path.join(app, "node_modules") } });
    return path.join(dir, "dist");
  };
  const dist = build("vite-app", MAIN);
  const base = build("vite-baseline", `document.body.dataset.result = "none";\n`);
  const server = await serve(dist);
  try {
    const { result, errors } = await resultOf(`http://127.0.0.1:${server.address().port}/`);
    assert.deepEqual(errors, []);
    assert.match(result ?? "", /^Bearer:(3599|3600):valid$/);
  } finally {
    server.close();
  }
  // Nothing of the server half reaches the browser bundle.
  const bundled = fs.readdirSync(dist, { recursive: true }).filter((f) => f.endsWith(".js")).map((f) => fs.readFileSync(path.join(dist, f), "utf8")).join("\n");
  assert.ok(!/delegated_participant|client_assertion|createBroker/.test(bundled), "no broker code in the page bundle");
  const added = gzipSizeOf(dist) - gzipSizeOf(base);
  console.log(`# Vite 7 app: ${added} B gzip added by mdh-token (JS + wasm)`);
  assert.ok(added > 0);
});

test("a plain <script type=module> page loads the installed package with no bundler", { skip }, async () => {
  fs.writeFileSync(path.join(app, "plain.html"), `<!doctype html><meta charset="utf-8"><body>
<script type="importmap">{ "imports": { "mdh-token": "./node_modules/mdh-token/pkg/mdh_token.js" } }</script>
<script type="module">${MAIN}</script></body>`);
  const server = await serve(app);
  try {
    const { result, errors } = await resultOf(`http://127.0.0.1:${server.address().port}/plain.html`);
    assert.deepEqual(errors, []);
    assert.match(result ?? "", /^Bearer:(3599|3600):valid$/);
  } finally {
    server.close();
  }
});

// Vite's dev server, in-process. `root` holds index.html and main.js; `config` is inline
// (no config file), with a fresh dependency optimisation each time.
async function viteDev(root, main, config = {}) {
  const { createServer } = await import("vite");
  fs.mkdirSync(root, { recursive: true });
  // An icon of its own: without one Chromium asks for /favicon.ico, a 404 of the page's
  // and not the package's, which would hide the red line the tests look for.
  fs.writeFileSync(path.join(root, "index.html"), `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><body><script type="module" src="./main.js"></script></body>`);
  fs.writeFileSync(path.join(root, "main.js"), main);
  const server = await createServer({
    root, configFile: false, logLevel: "error", clearScreen: false,
    server: { host: "127.0.0.1", port: 0, hmr: false },
    ...config,
    optimizeDeps: { force: true, ...config.optimizeDeps },
  });
  await server.listen();
  return server;
}

// The result of the page at `url`, the paths it fetched mdh-token's JS and wasm from, and
// every red console line (a failed request logs one: "Failed to load resource … 404").
// `{ decompress: false }`: a page without DecompressionStream, which fetches the wasm file.
async function devResult(url, { decompress = true } = {}) {
  const page = await newPage();
  if (!decompress) await page.addInitScript(() => delete globalThis.DecompressionStream);
  const fetched = [];
  page.on("request", (r) => { if (/mdh[-_]token|chunk-/.test(r.url())) fetched.push(new URL(r.url()).pathname); });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()} (${m.location().url})`); });
  page.on("response", (r) => { if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`); });
  await page.goto(url);
  await page.waitForFunction(() => document.body && document.body.dataset.result, null, { timeout: 20000 }).catch(() => {});
  const result = await page.evaluate(() => document.body.dataset.result ?? null);
  await closePage(page);
  return { result, errors, fetched };
}

test("Vite 7's dev server with no config (mdh-token pre-bundled into node_modules/.vite/deps) loads and renews with no wasm request, and without DecompressionStream finds the wasm at its first request, with no red console line", { skip }, async () => {
  const server = await viteDev(app, RENEWING);
  try {
    for (const decompress of [true, false]) {
      const { result, errors, fetched } = await devResult(server.resolvedUrls.local[0], { decompress });
      assert.deepEqual(errors, []);
      assert.equal(result, "tk1,tk2,tk3:valid");
      assert.ok(fetched.some((p) => p.startsWith("/node_modules/.vite/deps/mdh-token.js")), `pre-bundled: ${fetched.join(" ")}`);
      // Inside the bundle; else found at the first request: one fetch, from the package.
      assert.deepEqual(fetched.filter((p) => p.endsWith(".wasm")), decompress ? [] : ["/node_modules/mdh-token/pkg/mdh_token_bg.wasm"]);
    }
  } finally {
    await server.close();
  }
});

test("Vite 7's dev server with its cache elsewhere: works where DecompressionStream exists; without it, a TokenError names optimizeDeps.exclude, and that one line fixes it", { skip }, async () => {
  let server = await viteDev(app, RENEWING, { cacheDir: path.join(app, ".vite-cache") });
  try {
    const inline = await devResult(server.resolvedUrls.local[0]);
    assert.deepEqual(inline.errors, []);
    assert.equal(inline.result, "tk1,tk2,tk3:valid");
    assert.deepEqual(inline.fetched.filter((p) => p.endsWith(".wasm")), []);
    const { result } = await devResult(server.resolvedUrls.local[0], { decompress: false });
    assert.match(result ?? "", /^error:TokenError:unsupported_environment:mdh-token: .*mdh_token_bg\.wasm is a web page, not the wasm/);
    assert.ok(result.includes(`optimizeDeps: { exclude: ["mdh-token"] }`), result);
  } finally {
    await server.close();
  }
  server = await viteDev(app, RENEWING, { cacheDir: path.join(app, ".vite-cache"), optimizeDeps: { exclude: ["mdh-token"] } });
  try {
    const { result, errors, fetched } = await devResult(server.resolvedUrls.local[0], { decompress: false });
    assert.deepEqual(errors, []);
    assert.equal(result, "tk1,tk2,tk3:valid");
    assert.ok(fetched.includes("/node_modules/mdh-token/pkg/mdh_token.js"), `not pre-bundled: ${fetched.join(" ")}`);
    assert.deepEqual(fetched.filter((p) => p.endsWith(".wasm")), ["/node_modules/mdh-token/pkg/mdh_token_bg.wasm"]);
  } finally {
    await server.close();
  }
});

test("Vite 7's dev server: a React 19 app in a sub-folder (deps served through /@fs/) with mdh-token/react in StrictMode, with and without DecompressionStream", { skip }, async () => {
  const main = `import { StrictMode, createElement as h } from "react";
import { createRoot } from "react-dom/client";
import { TokenProvider, useTokenStatus } from "mdh-token/react";
function Status() {
  const s = useTokenStatus();
  if (s && s.state === "valid") document.body.dataset.result = s.state + ":" + s.brokerCalls;
  return h("p", null, s ? s.state : "none");
}
const options = { crossTab: false, broker: async () => ({ access_token: "tk1", token_type: "Bearer", expires_in: 3600 }) };
createRoot(document.body.appendChild(document.createElement("div"))).render(
  h(StrictMode, null, h(TokenProvider, { options, onError: (e) => (document.body.dataset.result = "error:" + e.code) }, h(Status))));
`;
  const server = await viteDev(path.join(app, "vite-react"), main);
  try {
    for (const decompress of [true, false]) {
      const { result, errors, fetched } = await devResult(server.resolvedUrls.local[0], { decompress });
      assert.deepEqual(errors, []);
      assert.equal(result, "valid:1");
      assert.ok(fetched.some((p) => /\/node_modules\/\.vite\/deps\//.test(p)), `pre-bundled: ${fetched.join(" ")}`);
      const wasm = fetched.filter((p) => p.endsWith(".wasm"));
      if (decompress) assert.deepEqual(wasm, [], "the wasm inside the bundle");
      else assert.ok(wasm.length === 1 && wasm[0].endsWith("/node_modules/mdh-token/pkg/mdh_token_bg.wasm"), `one wasm request, from the package: ${wasm.join(" ")}`);
    }
  } finally {
    await server.close();
  }
});

test("a webpack 5 app that imports the installed package builds, loads and renews in Chromium", { skip }, async () => {
  const { default: webpack } = await import("webpack");
  const dir = path.join(app, "webpack-app");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "main.js"), RENEWING);
  fs.writeFileSync(path.join(dir, "index.html"), `<!doctype html><meta charset="utf-8"><body><script src="./dist/main.js"></script></body>`);
  const stats = await new Promise((resolve, reject) => webpack({
    mode: "production", context: dir, entry: "./main.js", devtool: false,
    output: { path: path.join(dir, "dist"), filename: "main.js", clean: true },
    performance: { hints: false },
  }, (err, st) => (err ? reject(err) : resolve(st))));
  assert.ok(!stats.hasErrors(), stats.toString("errors-only"));
  const assets = fs.readdirSync(path.join(dir, "dist"));
  assert.ok(assets.some((f) => f.endsWith(".wasm")), `webpack emitted the wasm: ${assets.join(" ")}`);
  const server = await serve(dir);
  try {
    const { result, errors } = await resultOf(`http://127.0.0.1:${server.address().port}/`);
    assert.deepEqual(errors, []);
    assert.equal(result, "tk1,tk2,tk3:valid");
  } finally {
    server.close();
  }
});

test("in Node, importing is side-effect free and createTokenManager rejects with a TokenError unsupported_environment (a worker scope is not refused)", { skip }, () => {
  const script = `
const before = Object.getOwnPropertyNames(globalThis).sort().join();
const { createTokenManager } = await import("mdh-token");
const react = await import("mdh-token/react");
const after = Object.getOwnPropertyNames(globalThis).sort().join();
const out = { same: before === after, react: Object.keys(react).sort() };
const p = createTokenManager({ broker: "/api/mdh/token" });
out.promise = p instanceof Promise;
try { await p; out.created = true; } catch (e) { out.error = { name: e.name, code: e.code, status: e.status, isError: e instanceof Error, message: e.message }; }
globalThis.WorkerGlobalScope = class {}; // what a worker has, and Node does not
try { (await createTokenManager({ broker: "/api/mdh/token", participant: "p" })).destroy(); out.worker = "created"; } catch (e) { out.worker = e.code ?? e.name; }
console.log(JSON.stringify(out));
`;
  // A manager holds a BroadcastChannel, which keeps Node running until destroy(): the
  // timeout turns a forgotten destroy() into a failure instead of a hang.
  const out = JSON.parse(execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: app, encoding: "utf8", timeout: 30_000 }));
  assert.equal(out.same, true, "no global added by importing");
  assert.deepEqual(out.react, ["TokenProvider", "useTokenManager", "useTokenStatus"]);
  assert.equal(out.promise, true);
  assert.deepEqual({ ...out.error, message: undefined }, { name: "TokenError", code: "unsupported_environment", status: 0, isError: true, message: undefined });
  assert.match(out.error.message, /^mdh-token: .*browser page or worker.*on the client.*useEffect/);
  assert.notEqual(out.worker, "unsupported_environment");
});
