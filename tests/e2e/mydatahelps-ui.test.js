// MyDataHelps UI: a host app as a team builds one (tests/apps/mydatahelps-ui: React 17
// in StrictMode, @careevolution/mydatahelps-ui 1.6.0 and MyDataHelps.js 5.7.0 installed
// with docs/mydatahelps-ui.md's `overrides` entry), bundled by Vite 7 with that page's
// `transformMixedEsModules`, fed by mdh-token/react with attachSdk. Its SurveyTaskList
// loads once per mount and again only on the SDK's applicationDidBecomeVisible, which
// attachSdk raises when a token reaches an SDK that had none usable.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, sharedBrowser, openPage, until, pageFaults, packageBuilt } from "./harness.js";

const APP = path.join(ROOT, "tests/apps/mydatahelps-ui");
const skip = (!packageBuilt() && "package not built: run npm run build")
  || (!fs.existsSync(path.join(APP, "node_modules")) && "test app not installed: run bash scripts/setup.sh");
const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html", ".css": "text/css" };
const TASK = { id: "t-1", surveyID: "s-1", surveyName: "Mood", surveyDisplayName: "Mood Survey", surveyDescription: "3 minutes",
  status: "incomplete", hasSavedProgress: false, dueDate: new Date(Date.now() + 864e5).toISOString(),
  insertedDate: new Date().toISOString(), modifiedDate: new Date().toISOString(), linkIdentifier: "1" };

const routes = {};
const api = (url) => (url.pathname.endsWith("/surveytasks") ? { surveyTasks: [TASK], totalSurveyTasks: 1, nextPageID: null } : undefined);
const suite = sharedBrowser({ before, after, assert, skip }, { routes, api });
let tmp;

// `vite build` of the test app; mdh-token comes from this repository, React from the app.
async function build(name, commonjsOptions) {
  const { build } = await import("vite");
  const outDir = path.join(tmp, name);
  await build({
    root: APP, configFile: false, logLevel: "error", base: "./",
    resolve: {
      alias: [
        { find: /^mdh-token$/, replacement: path.join(ROOT, "pkg/mdh_token.js") },
        { find: /^mdh-token\/react$/, replacement: path.join(ROOT, "react/index.js") },
      ],
      dedupe: ["react", "react-dom"], // mdh-token/react's `react` is the app's React 17
    },
    build: { outDir, emptyOutDir: true, commonjsOptions },
  });
  return outDir;
}

// A built app's files as routes under `/<name>/`.
function routesOf(name, dir) {
  const routes = {};
  for (const f of fs.readdirSync(dir, { recursive: true })) {
    const file = path.join(dir, f);
    if (!fs.statSync(file).isFile()) continue;
    const route = { type: TYPES[path.extname(f)] ?? "application/octet-stream", body: fs.readFileSync(file) };
    routes[`/${name}/${f.split(path.sep).join("/")}`] = route;
    if (f === "index.html") routes[`/${name}/`] = route;
  }
  return routes;
}

// The apps are built once the server is up; it reads `routes` at each request.
before(async () => {
  if (skip) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mdh-token-mdhui-"));
  Object.assign(routes,
    routesOf("app", await build("app", { transformMixedEsModules: true })),
    routesOf("plain", await build("plain", {})));
});
after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// What these pages throw is checked by each test: MyDataHelps UI throws on its own.
async function open(p) {
  const context = await suite.newContext(null, { faultsOk: true });
  const page = await openPage(context, suite.server, { path: p });
  return { page, done: () => suite.closeContext(context) };
}
const view = (page, id) => page.evaluate((id) => {
  const el = document.getElementById(id);
  if (!el) return "absent";
  if (el.querySelector(".mdhui-loading-indicator")) return "spinner";
  return el.textContent.includes("Mood Survey") ? "tasks" : "other";
}, id);
const app = (page) => page.evaluate(() => ({ revived: window.app.revived, pushes: window.app.pushes, state: window.app.tm?.status().state }));

test("MyDataHelps UI views leave their spinner after the broker was down past expiry, with one applicationDidBecomeVisible per gap", { skip, timeout: 60000 }, async () => {
  suite.server.reset(6); // 6 s tokens: renewals every 3 s
  const { page, done } = await open("/app/");
  try {
    // The view asked before the manager existed (children's effects run first), which
    // MyDataHelps.js left pending forever; the first token revived it.
    assert.equal(await until(() => view(page, "first").then((v) => v === "tasks" && v), { what: "first view loaded" }), "tasks");
    assert.deepEqual(await page.evaluate(() => window.app.queries), [0, 1], "asked before the first token, and again on it");
    assert.deepEqual(await app(page), { revived: 1, pushes: 1, state: "valid" });
    await until(() => app(page).then((a) => a.pushes >= 2), { what: "an ordinary renewal" });
    assert.equal((await app(page)).revived, 1, "ordinary renewals raise nothing");

    // Broker down past the token's expiry; a view mounted in the gap is refused.
    suite.server.state.script = Array.from({ length: 100000 }, () => ({ status: 503 }));
    await until(() => page.evaluate(() => Date.now() >= window.MyDataHelps.tokenExpires), { timeout: 20000, what: "the SDK's token expired with the broker down" });
    const refusedBefore = page.logs.filter((l) => l.includes("access token is expired or invalid")).length;
    await page.evaluate(() => window.app.showSecond());
    await until(() => page.logs.filter((l) => l.includes("access token is expired or invalid")).length > refusedBefore, { what: "the SDK refused the new view" });
    assert.equal(await view(page, "second"), "spinner");

    // The broker recovers: the next retry's token revives the view, once.
    const pushes = (await app(page)).pushes;
    suite.server.state.script = [];
    assert.equal(await until(() => view(page, "second").then((v) => v === "tasks" && v), { what: "second view loaded" }), "tasks");
    assert.deepEqual(await app(page), { revived: 2, pushes: pushes + 1, state: "valid" });
    await until(() => app(page).then((a) => a.pushes >= pushes + 2), { what: "an ordinary renewal after the gap" });
    assert.equal((await app(page)).revived, 2, "still one per gap");
    assert.equal(await view(page, "first"), "tasks");
    // What the page threw is the libraries' own: MyDataHelps UI does not catch the SDK's
    // refusal in the gap, and MyDataHelps.js throws on the message its pre-token
    // connect() posted to the page itself.
    const faults = (await pageFaults(page)).filter((f) => !/access token is expired or invalid|' is not allowed\./.test(f));
    assert.deepEqual(faults, []);
    console.log(`# MyDataHelps UI 1.6.0: ${suite.server.state.calls.length} broker calls (the 503s of the gap included), ${suite.server.state.apiCalls.length} API calls, views revived after the first token and after the gap`);
  } finally {
    await done();
  }
});

test("attachSdk revive: false leaves a refused MyDataHelps UI view on its spinner (the control)", { skip }, async () => {
  suite.server.reset(3600);
  const { page, done } = await open("/app/?revive=false");
  try {
    await until(() => app(page).then((a) => a.pushes === 1), { what: "the token reached the SDK" });
    // The SDK now works; the view that it refused before the token is not told.
    const me = await page.evaluate(() => window.MyDataHelps.getParticipantInfo().then((p) => p.participantID));
    assert.equal(me, "p-1");
    assert.equal(await view(page, "first"), "spinner");
    assert.equal((await app(page)).revived, 0);
  } finally {
    await done();
  }
});

test("MyDataHelps UI 1.6.0's ESM build has bare require() calls: without transformMixedEsModules the Vite build fails in the browser", { skip }, async () => {
  const js = fs.readdirSync(path.join(tmp, "plain/assets")).filter((f) => f.endsWith(".js"));
  assert.ok(js.some((f) => /\brequire\("recharts\//.test(fs.readFileSync(path.join(tmp, "plain/assets", f), "utf8"))));
  const { page, done } = await open("/plain/");
  try {
    await until(() => page.logs.some((l) => l.startsWith("pageerror:")), { what: "the page failed" });
    assert.ok(page.logs.some((l) => /pageerror: require is not defined/.test(l)), page.logs.join("\n"));
  } finally {
    await done();
  }
});
