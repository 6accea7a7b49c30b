// Packaging: the types under `tsc --strict`, and the `npm pack` tarball installed into
// a throwaway app — bundled by Vite 7 and loaded with no bundler — run in Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import http from "node:http";
import zlib from "node:zlib";
import { ROOT, launch, packageBuilt } from "./harness.js";

const skip = !packageBuilt() && "package not built: run npm run build";
const bin = (n) => path.join(ROOT, "node_modules/.bin", n);
let tmp, app, browser;

// The page code of the throwaway app: a broker function, a token shown in the DOM.
const MAIN = `import { createTokenManager } from "mdh-token";
const tokens = await createTokenManager({
  crossTab: false,
  broker: async () => ({ access_token: "abc.DEF-123", token_type: "Bearer", expires_in: 3600 }),
});
const t = await tokens.getToken();
document.body.dataset.result = t.token_type + ":" + t.expires_in + ":" + tokens.status().state;
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
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.body && document.body.dataset.result, null, { timeout: 15000 }).catch(() => {});
  const result = await page.evaluate(() => document.body.dataset.result ?? null);
  await page.close();
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
  const out = execFileSync("npm", ["pack", "--silent", "--pack-destination", tmp], { cwd: ROOT, encoding: "utf8" });
  const tgz = path.join(tmp, out.trim().split("\n").pop());
  app = path.join(tmp, "app");
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "throwaway", private: true, type: "module" }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--prefer-offline", tgz], { cwd: app, stdio: "pipe" });
  browser = await launch();
});
after(async () => {
  if (skip) return;
  await browser.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("index.d.ts has no `any` and a consumer compiles under tsc --strict (misuse does not)", { skip }, () => {
  const dts = fs.readFileSync(path.join(ROOT, "index.d.ts"), "utf8").replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, "");
  assert.doesNotMatch(dts, /\bany\b/);
  execFileSync(bin("tsc"), ["-p", path.join(ROOT, "tests/types")], { stdio: "pipe" });
});

test("the tarball ships only the package files", { skip }, () => {
  const files = fs.readdirSync(path.join(app, "node_modules/mdh-token"), { recursive: true }).sort();
  for (const f of ["index.js", "index.d.ts", "package.json", "pkg/mdh_token.js", "pkg/mdh_token_bg.wasm"]) assert.ok(files.includes(f), f);
  assert.ok(!files.some((f) => f.startsWith("src") || f.startsWith("www") || f.startsWith("tests") || f.endsWith(".rs")), files.join(" "));
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
<script type="importmap">{ "imports": { "mdh-token": "./node_modules/mdh-token/index.js" } }</script>
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
