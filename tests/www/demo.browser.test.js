// The demo page end to end in headless Chromium: sign in, watch the package renew a short-lived
// token, watch the real MyDataHelps.js keep working across the renewal, and prove the full token
// never reaches the page text or the console. Needs the built package (pkg/), else it skips.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "../../www/app.js";
import { launchChromium } from "../support/browsers.js";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
// Another build of the package (an unpacked tarball, say) can be pointed at with this.
const PACKAGE_ROOT = process.env.MDH_DEMO_PACKAGE_ROOT ? path.resolve(process.env.MDH_DEMO_PACKAGE_ROOT) : REPO;
const OUT = path.join(REPO, "test-output");
// 6 s tokens: the package renews at expires_at − min(120 s, lifetime / 2), i.e. every ~3 s.
const LIFETIME_S = 6;
const WAIT_MS = 30_000;

test("demo page: renewals happen and MyDataHelps.js keeps working across them, tokens stay masked", { timeout: 90_000 }, async (t) => {
  const missing = ["pkg/mdh_token.js", "pkg/mdh_token_bg.wasm"].filter((f) => !existsSync(path.join(PACKAGE_ROOT, f)));
  if (missing.length) {
    t.skip(`package not built (${missing.join(", ")} missing in ${PACKAGE_ROOT}): run \`npm run build\` first`);
    return;
  }
  const app = await startServer({ port: 0, tokenLifetimeSeconds: LIFETIME_S, keysDir: false, repoRoot: PACKAGE_ROOT, log: () => {} });
  t.after(() => app.close());
  const browser = await launchChromium({ timeout: WAIT_MS });
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);

  const consoleLines = [];
  const pageErrors = [];
  page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  // CSP violations are measured, not guessed: any blocked load or eval shows up here.
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });

  // Sign in through the sign-in page, as a person would.
  await page.goto(app.url);
  assert.match(page.url(), /\/signin$/);
  await page.getByRole("button", { name: /Ada Park/ }).click();
  await page.waitForURL(app.url);

  // Bounded polling of page state: at least one renewal, then a successful SDK call that used
  // the renewed token (the page stamps each call with the generation of the SDK's token).
  const outcome = await page
    .waitForFunction(
      () => {
        const phase = document.body.dataset.phase;
        if (phase === "error" || phase === "signed-out") return { phase };
        const renewed = Number(document.body.dataset.generation ?? 0) >= 2;
        const okAfter = [...document.querySelectorAll('#sdk-list li[data-ok="true"]')].find((li) => Number(li.dataset.generation) >= 2);
        return renewed && okAfter ? { phase, sdk: okAfter.textContent } : false;
      },
      null,
      { polling: 100, timeout: WAIT_MS },
    )
    .then((h) => h.jsonValue(), (err) => ({ phase: "timeout", error: err.message }));
  if (outcome.phase !== "running") {
    // Say what the page showed, so a failure is diagnosable without re-running by hand.
    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: path.join(OUT, "demo-failure.png"), fullPage: true });
    const seen = await page.evaluate(() => ({
      body: { ...document.body.dataset },
      notice: document.getElementById("notice").hidden ? null : document.getElementById("notice").textContent,
      events: [...document.querySelectorAll("#log li")].slice(0, 8).map((li) => li.textContent),
      sdk: [...document.querySelectorAll("#sdk-list li")].slice(0, 4).map((li) => li.textContent),
    }));
    assert.fail(`${JSON.stringify(outcome)}\npage: ${JSON.stringify(seen, null, 2)}\npage errors: ${pageErrors.join("; ")}\nscreenshot: test-output/demo-failure.png`);
  }
  assert.match(outcome.sdk, /Ada Park \(DEMO-0001\)/);

  // Force renewal goes to the broker once more.
  const calls = Number(await page.evaluate(() => document.body.dataset.brokerCalls));
  await page.getByRole("button", { name: "Force renewal" }).click();
  await page.waitForFunction((n) => Number(document.body.dataset.brokerCalls) > n, calls, { polling: 100, timeout: WAIT_MS });

  const state = await page.evaluate(() => ({
    events: [...document.querySelectorAll("#log li")].map((li) => li.dataset.event),
    csp: window.__cspViolations,
  }));
  assert.ok(state.events.filter((e) => e === "token").length >= 2, `events: ${state.events.join(", ")}`);
  assert.deepEqual(state.csp, [], "no CSP violations");

  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, "demo.png"), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(OUT, "demo-phone.png"), fullPage: true });

  // Nothing the emulator issued (participant or service token) is on the page or in the console.
  const html = await page.content();
  const text = await page.evaluate(() => document.body.innerText);
  const consoleText = consoleLines.join("\n");
  const issued = app.emulator.issuedTokens();
  assert.ok(issued.length >= 3, "tokens were issued");
  for (const token of issued) {
    assert.ok(!html.includes(token), "a full token is in the page markup");
    assert.ok(!text.includes(token), "a full token is in the page text");
    assert.ok(!consoleText.includes(token), "a full token is in a console message");
  }
  // The masked form is what the page shows instead.
  assert.match(text, /[A-Za-z0-9_-]{6}…\d{2,}/);
  assert.deepEqual(pageErrors, []);
  assert.ok(!/Content Security Policy/i.test(consoleText), consoleText);
});

test("demo page: signing in as Ben in a tab where Ada was signed in shows Ben's data, never Ada's", { timeout: 90_000 }, async (t) => {
  const missing = ["pkg/mdh_token.js", "pkg/mdh_token_bg.wasm"].filter((f) => !existsSync(path.join(PACKAGE_ROOT, f)));
  if (missing.length) {
    t.skip(`package not built (${missing.join(", ")} missing in ${PACKAGE_ROOT}): run \`npm run build\` first`);
    return;
  }
  const app = await startServer({ port: 0, tokenLifetimeSeconds: 600, keysDir: false, repoRoot: PACKAGE_ROOT, log: () => {} });
  t.after(() => app.close());
  const browser = await launchChromium({ timeout: WAIT_MS });
  t.after(() => browser.close());
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(WAIT_MS);
  const sdkOk = (who) => page.waitForFunction(
    (w) => [...document.querySelectorAll('#sdk-list li[data-ok="true"]')].some((li) => li.textContent.includes(w)),
    who, { polling: 100, timeout: WAIT_MS });

  await page.goto(new URL("/signin", app.url).href);
  await page.getByRole("button", { name: /Ada Park/ }).click();
  await page.waitForURL(app.url);
  await sdkOk("Ada Park");
  const adaEra = app.emulator.issuedTokens().length;
  // The same tab, no sign-out: the sign-in page again, and Ben.
  await page.goto(new URL("/signin", app.url).href);
  await page.getByRole("button", { name: /Ben Okafor/ }).click();
  await page.waitForURL(app.url);
  await sdkOk("Ben Okafor");
  const seen = await page.evaluate(() => ({
    who: document.getElementById("who-name").textContent,
    rows: [...document.querySelectorAll("#sdk-list li")].map((li) => li.textContent),
    stored: Object.keys(sessionStorage).map((k) => sessionStorage.getItem(k)),
  }));
  assert.equal(seen.who, "Ben Okafor");
  assert.ok(seen.rows.every((r) => !r.includes("Ada Park")), seen.rows.join(" | "));
  const issuedForAda = app.emulator.issuedTokens().slice(0, adaEra);
  for (const s of seen.stored) for (const tok of issuedForAda) assert.ok(!s.includes(tok), "Ada's token is not in this tab's storage");
});
