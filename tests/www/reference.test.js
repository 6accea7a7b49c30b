// The API reference (TypeDoc, from index.d.ts, react/index.d.ts and broker/index.d.ts:
// `npm run docs:api`, which npm test runs first and which fails on a missing doc comment
// or a broken link) is served by the demo at /reference/: every page loads under its
// CSP with no console error, and each entry's exports have a page.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "../../www/app.js";
import { launchChromium } from "../support/browsers.js";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const built = existsSync(path.join(REPO, "www/reference/index.html"));
const skip = !built && "API reference not built: run npm run docs:api";

test("the demo serves the API reference at /reference/: each entry's exports, no console error, no CSP violation", { skip, timeout: 60_000 }, async (t) => {
  const app = await startServer({ port: 0, keysDir: false, log: () => {} });
  t.after(() => app.close());
  const bare = await fetch(new URL("/reference", app.url), { redirect: "manual" });
  assert.equal(bare.status, 301);
  assert.equal(bare.headers.get("location"), "/reference/");
  assert.equal((await fetch(new URL("/reference/../package.json", app.url))).status, 404);

  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") problems.push(`${m.type()}: ${m.text()}`); });
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("response", (r) => { if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`); });
  await page.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });

  const index = await page.goto(new URL("/reference/", app.url).href);
  assert.equal(index.status(), 200);
  assert.match(index.headers()["content-security-policy"], /script-src 'self' 'sha256-/);
  const modules = await page.$$eval("a[href]", (as) => as.map((a) => a.textContent.trim()));
  for (const m of ["mdh-token", "mdh-token/react", "mdh-token/broker"]) assert.ok(modules.includes(m), `module ${m} listed: ${modules.join(" ")}`);
  // One page per export the tests of the package's namespace name: the functions.
  for (const [href, name] of [
    ["functions/mdh-token.createTokenManager.html", "createTokenManager"],
    ["functions/mdh-token_react.TokenProvider.html", "TokenProvider"],
    ["functions/mdh-token_broker.createBroker.html", "createBroker"],
    ["classes/mdh-token_broker.BrokerError.html", "BrokerError"],
  ]) {
    const r = await page.goto(new URL(`/reference/${href}`, app.url).href);
    assert.equal(r.status(), 200, href);
    assert.match(await page.title(), new RegExp(name), href);
    assert.deepEqual(await page.evaluate(() => window.__csp), [], `CSP violations on ${href}`);
  }
  assert.deepEqual(problems, []);
});
