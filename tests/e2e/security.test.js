// Security suite: (1) no issued token — nor any 40-character piece of one — shows up in
// console output, page errors, error objects, status() or Web Storage (memory mode)
// across a full scenario; (2) the package works under a strict Content-Security-Policy
// that only adds 'wasm-unsafe-eval', with no violation reported, while the same page
// without 'wasm-unsafe-eval' is refused (so the check can fail).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import {
  startServer, launch, openPage, createManager, until, assertNoLeak, packageBuilt,
  pageFaults, storageDump,
} from "./harness.js";

const skip = !packageBuilt() && "package not built: run npm run build";
let browser;
const servers = [];

before(async () => {
  if (skip) return;
  browser = await launch();
});
after(async () => {
  if (skip) return;
  await browser.close();
  for (const s of servers) await s.close();
});

async function server(opts) {
  const s = await startServer({ keepAlive: false, ...opts });
  servers.push(s);
  return s;
}

test("no token material in console, page errors, error objects, status() or Web Storage across a full scenario", { skip, timeout: 60_000 }, async (t) => {
  const srv = await server({ lifetime: 6 }); // renewal due 3 s after each token
  const ctx = await browser.newContext();
  t.after(() => ctx.close());
  const a = await openPage(ctx, srv);
  const b = await openPage(ctx, srv);
  await createManager(a, { logLevel: "debug", retry: { maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 30_000 } });
  await createManager(b, { logLevel: "info", retry: { maxAttempts: 2, baseDelayMs: 20, maxDelayMs: 30_000 } });
  // Everything the pages expose is gathered here, as text.
  const seen = [];
  const snap = async (p) => {
    seen.push(JSON.stringify(await p.evaluate(() => window.tm.status())));
    seen.push(...(await storageDump(p)));
  };
  await Promise.all([a, b].map((p) => p.evaluate(() => {
    // Error objects as text: message, stack, String(), own properties.
    window.describe = (e) => [e.message, e.stack, String(e), JSON.stringify(e), JSON.stringify(Object.entries(e))].join("\n");
    window.errorTexts = [];
    window.tm.on("error", (e) => window.errorTexts.push(window.describe(e)));
    window.tm.on("token", () => { throw new Error("a listener that throws"); });
  })));

  await a.evaluate(() => window.tm.getToken());
  await b.evaluate(() => window.tm.getToken()); // from the peer
  await snap(a); await snap(b);
  await a.evaluate(() => window.tm.refresh());
  await b.evaluate(() => window.tm.setLogLevel("debug"));
  // Scheduled renewals in both tabs (one broker call each time), with events.
  await until(async () => (await a.evaluate(() => window.events.filter((e) => e.name === "expiring").length)) >= 2,
    { timeout: 20_000, what: "two scheduled renewals" });
  await snap(a); await snap(b);
  // From here on, hour-long tokens: no scheduled renewal takes a scripted failure away
  // from the refresh it is meant for (nor does the give-up pause, 30 s).
  srv.state.lifetime = 3600;
  await a.evaluate(() => window.tm.refresh());
  await until(async () => (await b.evaluate(() => window.tm.status().expiresIn)) > 3000, { what: "tab B adopting the hour-long token" });

  // Failures: a 503 then invalid answers holding token-like material, then 401.
  const bogus = (s) => (srv.state.issued.push(s), s);
  const rnd = (n) => crypto.randomBytes(n).toString("base64url").slice(0, n);
  srv.state.script.push(
    { status: 503, body: { error: "unavailable", access_token: bogus("tk" + rnd(48)) } },
    { body: { access_token: bogus("tk" + rnd(30) + " " + rnd(30)), token_type: "Bearer", expires_in: 60 } },
  );
  const e1 = await a.evaluate(() => window.tm.refresh().then(() => null, (e) => window.describe(e)));
  assert.ok(e1, "the refresh failed");
  seen.push(e1);
  srv.state.script.push({ body: { access_token: bogus("tk" + "x".repeat(16_400)), token_type: "Bearer", expires_in: 60 } });
  seen.push(await a.evaluate(() => window.tm.refresh().then(() => null, (e) => window.describe(e))));
  srv.state.script.push({ body: { access_token: bogus("tk" + rnd(40)), token_type: "mac", expires_in: 60 } });
  seen.push(await a.evaluate(() => window.tm.refresh().then(() => null, (e) => window.describe(e))));
  await snap(a);
  srv.state.script.push({ status: 401 });
  seen.push(await b.evaluate(() => window.tm.refresh().then(() => null, (e) => window.describe(e))));
  await until(async () => (await a.evaluate(() => window.tm.peek())) === null, { what: "the 401 clearing tab A" });
  await snap(a); await snap(b);
  await a.evaluate(() => window.tm.getToken());
  await b.evaluate(() => window.tm.getToken());
  await snap(a); await snap(b);
  await b.evaluate(() => window.tm.clear());
  await snap(a); await snap(b);
  await a.evaluate(() => window.tm.getToken());
  seen.push(await a.evaluate(() => { window.tm.destroy(); return window.tm.getToken().then(() => null, (e) => window.describe(e)); }));
  await snap(a);

  for (const p of [a, b]) {
    seen.push(...(await p.evaluate(() => window.errorTexts)));
    seen.push(...p.logs, ...(await pageFaults(p)));
  }
  const text = seen.join("\n");
  // The scenario did what it claims: debug logs, listener errors, errors, 401, storage empty.
  assert.ok(srv.state.issued.length >= 8, `tokens issued: ${srv.state.issued.length}`);
  assert.ok(text.includes("debug: mdh-token: calling the broker"));
  assert.ok(text.includes("an event listener threw"));
  for (const code of ["broker_failed", "invalid_response", "broker_rejected", "destroyed"]) assert.ok(text.includes(code), code);
  assert.ok(/"token":"tk[\w-]{4}…\(\d+\)"/.test(text), "status() shows the token masked");
  for (const p of [a, b]) assert.deepEqual(await storageDump(p), [], "memory mode: nothing in Web Storage");
  assert.deepEqual([...(await pageFaults(a)), ...(await pageFaults(b))], []);
  assertNoLeak(assert, srv, seen);
  // The check itself finds a leak when there is one.
  assert.throws(() => assertNoLeak(assert, srv, [`x${srv.state.issued[0].slice(1, 41)}y`]));
});

const APP = `import { createTokenManager } from "/pkg/mdh_token.js";
try {
  const tm = await createTokenManager({ broker: "/broker" });
  const t = await tm.getToken();
  window.result = { ok: t.access_token.startsWith("tk"), state: tm.status().state };
} catch (e) {
  window.result = { error: e.name + ": " + e.message, code: e.code, cause: e.cause?.name };
}`;
const ROUTES = {
  "/csp.html": { type: "text/html", body: `<!doctype html><meta charset="utf-8"><title>csp</title><script type="module" src="/app.js"></script>` },
  "/app.js": { type: "text/javascript", body: APP },
};

async function cspRun(t, csp) {
  const srv = await server({ csp, routes: ROUTES });
  const ctx = await browser.newContext();
  t.after(() => ctx.close());
  const page = await openPage(ctx, srv, {
    path: "/csp.html",
    beforeGoto: (p) => p.addInitScript(() => {
      window.violations = [];
      document.addEventListener("securitypolicyviolation", (e) => {
        window.violations.push(`${e.effectiveDirective} ${e.blockedURI}`);
      });
    }),
  });
  await until(() => page.evaluate(() => window.result), { what: "the module script to finish" });
  const r = await page.evaluate(() => ({ result: window.result, violations: window.violations }));
  const header = (await page.evaluate(async () => (await fetch("/csp.html")).headers.get("content-security-policy")));
  return { ...r, header, srv, logs: page.logs };
}

test("CSP: works under default-src 'self'; script-src 'self' 'wasm-unsafe-eval' with no violation", { skip }, async (t) => {
  const csp = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'";
  const r = await cspRun(t, csp);
  assert.equal(r.header, csp, "the page was served with the policy");
  assert.deepEqual(r.result, { ok: true, state: "valid" });
  assert.deepEqual(r.violations, []);
  assert.equal(r.srv.state.calls.length, 1);
  assert.ok(!r.logs.some((l) => /Content Security Policy/i.test(l)), r.logs.join("\n"));
});

test("CSP: without 'wasm-unsafe-eval' the same page is refused (a TokenError wasm_unavailable, the CompileError its cause) and the violation reported", { skip }, async (t) => {
  const r = await cspRun(t, "default-src 'self'; script-src 'self'");
  assert.ok(r.result.error, "createTokenManager failed");
  assert.match(r.result.error, /^TokenError: mdh-token: /);
  assert.equal(r.result.code, "wasm_unavailable");
  assert.equal(r.result.cause, "CompileError");
  assert.ok(r.violations.some((v) => v.startsWith("script-src") && v.includes("wasm-eval")), r.violations.join(", "));
  assert.equal(r.srv.state.calls.length, 0);
});
