// mdh-token/react with React 17 (the test app tests/apps/mydatahelps-ui's) and React 19
// (this package's devDependency), bundled by esbuild in development mode: StrictMode
// double mounting keeps one manager and one broker call, status re-renders on events,
// unmounting leaves no manager (its presence Web Lock `rk:tab:…` counts live managers),
// and a server render (Node) renders the children without creating one.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { ROOT, sharedBrowser, openPage, until, pageFaults, packageBuilt } from "./harness.js";

const APP17 = path.join(ROOT, "tests/apps/mydatahelps-ui");
const skip = (!packageBuilt() && "package not built: run npm run build")
  || (!fs.existsSync(path.join(APP17, "node_modules/react")) && "React 17 not installed: run bash scripts/setup.sh");
const SRC = path.join(ROOT, "tests/e2e/react-app");
const VERSIONS = { 17: APP17, 19: ROOT }; // where each React is installed

// esbuild: React (and react-dom, which imports it) from `base`; mdh-token from this repository.
function bundle(entry, base, platform) {
  const req = createRequire(path.join(base, "package.json"));
  const plugin = {
    name: "react-from",
    setup(b) {
      b.onResolve({ filter: /^react(-dom)?(\/.*)?$/ }, (a) => ({ path: req.resolve(a.path) }));
      b.onResolve({ filter: /^mdh-token\/react$/ }, () => ({ path: path.join(ROOT, "react/index.js") }));
    },
  };
  return build({
    entryPoints: [path.join(SRC, entry)], bundle: true, format: "esm", platform, write: false, logLevel: "error",
    define: { "process.env.NODE_ENV": '"development"' }, plugins: [plugin],
    // react-dom/server (CommonJS) requires Node's built-ins.
    banner: platform === "node" ? { js: 'import { createRequire } from "node:module"; const require = createRequire(import.meta.url);' } : undefined,
  }).then((r) => r.outputFiles[0].text);
}

const routes = {};
const suite = sharedBrowser({ before, after, assert, skip }, { routes });
let tmp;

// The apps are bundled once the server is up; it reads `routes` at each request.
before(async () => {
  if (skip) return;
  for (const v of Object.keys(VERSIONS)) {
    // Under /pkg/, so that the wasm next to the bundled entry is the built one.
    routes[`/pkg/react${v}.js`] = { type: "text/javascript", body: await bundle(`main${v}.js`, VERSIONS[v], "browser") };
    routes[`/react${v}.html`] = { body: `<!doctype html><meta charset="utf-8"><body><script type="module" src="/pkg/react${v}.js"></script></body>` };
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mdh-token-react-"));
});
after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function open(v) {
  suite.server.reset();
  const context = await suite.newContext();
  // Every manager takes its presence lock when it is created: counting the requests
  // counts the managers ever created.
  const beforeGoto = (p) => p.addInitScript(() => {
    window.created = 0;
    const request = LockManager.prototype.request;
    LockManager.prototype.request = function (name, ...rest) {
      if (String(name).startsWith("rk:tab:")) window.created++;
      return request.call(this, name, ...rest);
    };
  });
  const page = await openPage(context, suite.server, { path: `/react${v}.html`, beforeGoto });
  await until(() => page.evaluate(() => typeof window.mount === "function"), { what: "test app loaded" });
  return { page, done: () => suite.closeContext(context) };
}
// Live managers of the page: each holds its presence lock `rk:tab:…` until destroyed.
const managers = (page) => page.evaluate(async () => (await navigator.locks.query()).held.filter((l) => l.name.startsWith("rk:tab:")).length);
const shown = (page) => page.evaluate(() => document.getElementById("status")?.textContent ?? null);

for (const v of Object.keys(VERSIONS)) {
  test(`React ${v} StrictMode: one manager, one broker call, status re-renders on events, unmount destroys it`, { skip }, async () => {
    const { page, done } = await open(v);
    try {
      assert.equal(await page.evaluate(() => window.react), v);
      await page.evaluate(() => window.mount());
      assert.equal(await until(() => shown(page).then((s) => s === "valid 1" && s), { what: "first token shown" }), "valid 1");
      // React 18+ StrictMode ran the effects twice (mount, unmount, mount); React 17 once.
      assert.equal(await page.evaluate(() => window.effects), v === "17" ? 1 : 2);
      assert.equal(suite.server.state.calls.length, 1, "one broker call");
      assert.equal(await managers(page), 1, "one live manager");
      assert.equal(await page.evaluate(() => window.created), 1, "one manager created");
      await page.evaluate(() => window.tm.refresh());
      assert.equal(await until(() => shown(page).then((s) => s === "valid 2" && s), { what: "re-rendered on the token event" }), "valid 2");
      await page.evaluate(() => window.unmount());
      await until(() => managers(page).then((n) => n === 0), { what: "manager destroyed on unmount" });
      assert.equal(await page.evaluate(() => window.tm.status().state), "destroyed");
      assert.equal(suite.server.state.calls.length, 2);
      assert.deepEqual(await page.evaluate(() => window.errors), []);
      assert.deepEqual(await pageFaults(page), []);
    } finally {
      await done();
    }
  });

  test(`React ${v} StrictMode with an SDK: attached once, each token pushed once`, { skip }, async () => {
    const { page, done } = await open(v);
    try {
      const issued = suite.server.state.issued.length;
      await page.evaluate(() => window.mount({}, true));
      await until(() => shown(page).then((s) => s === "valid 1"), { what: "first token shown" });
      await page.evaluate(() => window.tm.refresh());
      await until(() => shown(page).then((s) => s === "valid 2"), { what: "second token shown" });
      assert.deepEqual(await page.evaluate(() => window.pushes), suite.server.state.issued.slice(issued), "each token pushed once, in order");
      assert.equal(await page.evaluate(() => window.created), 1);
      await page.evaluate(() => window.unmount());
      await until(() => managers(page).then((n) => n === 0), { what: "manager destroyed on unmount" });
    } finally {
      await done();
    }
  });

  test(`React ${v}: unmounted before the manager exists, the late manager is destroyed and never calls the broker`, { skip }, async () => {
    const { page, done } = await open(v);
    try {
      // Mount and unmount in one task: createTokenManager is still loading the wasm.
      await page.evaluate(async () => {
        window.mount();
        await Promise.resolve();
        window.unmount();
        // Then a fresh provider: the late first one must not be the one that lives.
        window.mount({ storageKey: "rk" });
      });
      await until(() => shown(page).then((s) => s === "valid 1"), { what: "the second provider's token" });
      await until(() => managers(page).then((n) => n === 1), { what: "one live manager" });
      assert.equal(suite.server.state.calls.length, 1, "the destroyed manager made no broker call");
      assert.equal(await page.evaluate(() => window.created), 2, "the first provider's manager was created late, then destroyed");
      await page.evaluate(() => window.unmount());
      await until(() => managers(page).then((n) => n === 0), { what: "no manager left" });
      assert.deepEqual(await pageFaults(page), []);
    } finally {
      await done();
    }
  });

  test(`React ${v}: bad options reach onError as a TokenError; the children still render`, { skip }, async () => {
    const { page, done } = await open(v);
    try {
      await page.evaluate(() => window.mount({ storage: "disk" }));
      await until(() => page.evaluate(() => window.errors.length > 0), { what: "onError called" });
      assert.deepEqual(await page.evaluate(() => window.errors), ["invalid_options"]);
      assert.equal(await shown(page), "none");
      assert.equal(await managers(page), 0);
      assert.equal(await page.evaluate(() => window.created), 0);
    } finally {
      await done();
    }
  });

  test(`React ${v} server render (Node): children render, no manager is created, hooks need the provider`, { skip }, async () => {
    const file = path.join(tmp, `ssr${v}.mjs`);
    fs.writeFileSync(file, await bundle("ssr.js", VERSIONS[v], "node"));
    const fetched = [];
    const realFetch = globalThis.fetch;
    globalThis.fetch = (...a) => (fetched.push(String(a[0])), realFetch(...a));
    const logged = [];
    const realError = console.error;
    console.error = (...a) => logged.push(a.join(" "));
    try {
      const ssr = await import(pathToFileURL(file).href);
      const errors = [];
      const html = ssr.render(errors);
      assert.match(html, /<p id="status">none<\/p>/);
      // A manager would have been created on mount: in Node that rejects (unsupported_environment), which the provider reports.
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(errors, []);
      assert.deepEqual(fetched, []);
      assert.deepEqual(logged, []);
      const e = ssr.outside();
      assert.equal(e.name, "TokenError");
      assert.equal(e.code, "invalid_options");
      assert.match(e.message, /TokenProvider/);
    } finally {
      globalThis.fetch = realFetch;
      console.error = realError;
    }
  });
}
