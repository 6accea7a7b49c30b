// Cross-engine suite: the built package as a page uses it, in Chromium, Firefox ESR,
// WebKitGTK and WPE WebKit 2.38 (a JavaScriptCore of the Safari 16.0 era), each driven
// over W3C WebDriver by selenium-webdriver (tests/support/browsers.js starts the
// drivers; nothing is downloaded). The same tests run in every engine; WPE's browser
// (cog) has one view only, so the cross-tab tests skip there. MDH_ENGINES=firefox,wpe
// runs a subset. Synchronisation is bounded polling on page state (`until`); the one
// wait without a condition is a named quiet window that checks that nothing happens.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { startServer, until, assertNoLeak, packageBuilt, ROOT } from "../e2e/harness.js";
import { ENGINES, selectedEngines, openSession } from "../support/browsers.js";

const skip = !packageBuilt() && "package not built: run npm run build";
const SDK = "/node_modules/@careevolution/mydatahelps-js/MyDataHelps.js";
const SDK_VERSION = JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules/@careevolution/mydatahelps-js/package.json"), "utf8")).version;
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'";

// A classic script every test page loads first: it records what the page threw, its
// CSP violations and its console output (for the leak check), since WebDriver itself
// reports none of these.
const PROBE = `(() => {
  const xe = window.__xe = { errors: [], console: [], violations: [] };
  addEventListener("error", (e) => xe.errors.push("error: " + e.message));
  addEventListener("unhandledrejection", (e) => {
    const r = e.reason;
    xe.errors.push("unhandledrejection: " + String((r && (r.code || r.message)) || r));
  });
  document.addEventListener("securitypolicyviolation", (e) => xe.violations.push(e.effectiveDirective + " " + e.blockedURI));
  const text = (a) => {
    if (a instanceof Error) return a.name + ": " + a.message;
    if (a && typeof a === "object") { try { return JSON.stringify(a); } catch { return String(a); } }
    return String(a);
  };
  for (const level of ["debug", "log", "info", "warn", "error"]) {
    const original = console[level];
    console[level] = function (...args) {
      xe.console.push(level + ": " + args.map(text).join(" "));
      return original.apply(this, args);
    };
  }
})();`;
// The app of the CSP page: a module script of the page's own origin, as a site would have it.
const APP = `import { createTokenManager } from "/pkg/mdh_token.js";
try {
  const tm = await createTokenManager({ broker: "/broker" });
  const t = await tm.getToken();
  window.result = { ok: t.access_token.startsWith("tk"), state: tm.status().state };
} catch (e) {
  window.result = { error: e.name + ": " + e.message };
}`;
const html = (body) => ({ type: "text/html", body: `<!doctype html><meta charset="utf-8"><title>mdh-token</title><script src="/probe.js"></script>${body}` });
const ROUTES = {
  "/probe.js": { type: "text/javascript", body: PROBE },
  "/app.js": { type: "text/javascript", body: APP },
  "/xe.html": html("<body>cross-engine test page</body>"),
  "/csp.html": html(`<script type="module" src="/app.js"></script>`),
  "/frame.html": html(`<script src="/frame.js"></script>`),
  // A stand-in for an embedded MyDataHelps frame: asks the parent for a token and keeps the answers.
  "/frame.js": {
    type: "text/javascript",
    body: `window.answers = [];
addEventListener("message", (e) => window.answers.push({ origin: e.origin, data: e.data }));
parent.postMessage({ name: "GetDelegatedAccessToken" }, "*");`,
  },
};

// In-page helpers, run through WebDriver's Execute Script (which awaits a returned promise).
async function createManager(options) {
  const { createTokenManager } = await import("/pkg/mdh_token.js");
  window.events = [];
  window.tm = await createTokenManager({ broker: "/broker", logLevel: "info", ...options });
  for (const name of ["token", "expiring", "expired", "error", "cleared"]) {
    window.tm.on(name, (p) => window.events.push({ name, at: Date.now(), code: p && p.code, token: name === "token" ? p.access_token : undefined }));
  }
  return true;
}
const peek = () => window.tm.peek()?.access_token ?? null;
const eventNames = () => window.events.map((e) => e.name);

for (const engine of selectedEngines()) {
  const info = ENGINES[engine];
  describe(`${info.label} (${engine})`, { skip }, () => {
    let session, driver, server, frames, cspServer;
    const printed = [];   // every console line and error of every page, for the leak check
    let base = 0;         // index of this test's first issued token

    const run = (fn, ...args) => driver.executeScript(fn, ...args);
    const open = async (srv = server, p = "/xe.html") => {
      await driver.get(srv.url + p);
      await until(() => run(() => document.readyState === "complete" && !!window.__xe), { what: "the page to load" });
    };
    function reset(lifetime = 3600) {
      server.reset(lifetime);
      base = server.state.issued.length;
    }
    const issued = (i) => server.state.issued[base + i];
    /** Collects what every window printed and threw; asserts that nothing was thrown. */
    async function harvest() {
      const handles = await driver.getAllWindowHandles();
      const faults = [];
      for (const h of handles) {
        await driver.switchTo().window(h);
        const xe = await run(() => window.__xe ?? null);
        if (!xe) continue;
        printed.push(...xe.console, ...xe.errors);
        faults.push(...xe.errors);
      }
      // Back to one tab on a blank page, so the next test starts clean.
      for (const h of handles.slice(1)) {
        await driver.switchTo().window(h);
        await driver.close();
      }
      await driver.switchTo().window(handles[0]);
      await driver.get("about:blank");
      return faults;
    }

    before(async () => {
      server = await startServer({ keepAlive: false, routes: ROUTES });
      frames = await startServer({ routes: ROUTES });
      cspServer = await startServer({ csp: CSP, routes: ROUTES });
      session = await openSession(engine);
      driver = session.driver;
      await driver.manage().setTimeouts({ script: 30_000, pageLoad: 30_000 });
      console.log(`# ${info.label}: ${session.browser} ${session.version}`);
    });
    afterEach(async () => {
      if (!driver) return;
      assert.deepEqual(await harvest(), [], "no page error or unhandled rejection");
    });
    after(async () => {
      try {
        if (session) await session.close();
      } finally {
        await Promise.all([server, frames, cspServer].filter(Boolean).map((s) => s.close()));
      }
      if (!server) return;
      // The check has material: the managers' own log lines (logLevel "info") were collected.
      assert.ok(printed.some((l) => l.startsWith("info: mdh-token")), "console output was collected");
      for (const s of [server, frames, cspServer]) assertNoLeak(assert, s, printed);
    });

    test("load: createTokenManager, getToken(), peek() and status()", async () => {
      reset();
      await open();
      await run(createManager, {});
      const r = await run(async () => {
        const t = await window.tm.getToken();
        const wasm = performance.getEntriesByType("resource").filter((e) => /\.wasm$/.test(new URL(e.name).pathname)).length;
        return { t, peek: window.tm.peek(), st: window.tm.status(), ua: navigator.userAgent, inflate: typeof DecompressionStream == "function", wasm };
      });
      // The wasm from inside the bundle where the engine decompresses; else the file, once.
      console.log(`# ${info.label}: the wasm ${r.inflate ? "from inside the bundle" : "fetched (no DecompressionStream)"}`);
      assert.equal(r.wasm, r.inflate ? 0 : 1, "wasm requests");
      assert.equal(r.t.access_token, issued(0));
      assert.equal(r.t.token_type, "Bearer");
      assert.ok(r.t.expires_in > 3590 && r.t.expires_in <= 3600, `expires_in ${r.t.expires_in}`);
      assert.deepEqual(r.peek, r.t);
      assert.equal(r.st.state, "valid");
      assert.equal(r.st.brokerCalls, 1);
      assert.ok(!JSON.stringify(r.st).includes(issued(0)), "status() masks the token");
      assert.equal(server.state.calls.length, 1);
      assert.equal(server.state.calls[0].headers.accept, "application/json");
    });

    test("single flight: 25 concurrent getToken() make one broker call, with and without crossTab", async () => {
      for (const crossTab of [false, true]) {
        reset();
        server.state.script.push({ delayMs: 300 });
        await open();
        await run(createManager, { crossTab });
        const tokens = await run(async () => {
          const all = await Promise.all(Array.from({ length: 25 }, () => window.tm.getToken()));
          return all.map((t) => t.access_token);
        });
        assert.equal(server.state.calls.length, 1, `crossTab ${crossTab}: one broker call`);
        assert.deepEqual(new Set(tokens), new Set([issued(0)]));
      }
    });

    test("storage: \"session\" and \"local\" survive a reload with no new broker call", async () => {
      for (const storage of ["session", "local"]) {
        reset();
        await open();
        await run(() => { sessionStorage.clear(); localStorage.clear(); });
        await run(createManager, { storage, crossTab: false });
        const first = await run(() => window.tm.getToken().then((t) => t.access_token));
        await driver.navigate().refresh();
        await until(() => run(() => document.readyState === "complete" && !!window.__xe), { what: "the reload" });
        await run(createManager, { storage, crossTab: false });
        const again = await run(() => window.tm.getToken().then((t) => t.access_token));
        assert.equal(again, first, `${storage}: the stored token is served after the reload`);
        assert.equal(server.state.calls.length, 1, `${storage}: no broker call after the reload`);
        await run(() => { window.tm.destroy(); sessionStorage.clear(); localStorage.clear(); });
      }
    });

    test("renewal: a 4 s token is replaced before it expires, by the timers alone", async () => {
      reset(4); // renewal due at half the lifetime
      await open();
      await run(createManager, { crossTab: false });
      const first = await run(() => window.tm.getToken().then((t) => ({ tok: t.access_token, exp: t.expires_at })));
      const next = await until(() => run(() => window.events.filter((e) => e.name === "token").at(1) ?? null),
        { timeout: 15_000, what: "the scheduled renewal" });
      assert.notEqual(next.token, first.tok);
      assert.equal(next.token, issued(1));
      assert.ok(next.at < first.exp, "renewed before the first token expired");
      assert.ok(!(await run(eventNames)).includes("expired"));
      assert.equal(await run(peek), issued(1));
    });

    // WPE WebKit 2.38 trapped here ("RuntimeError: Out of bounds table access") while the
    // build used reference types: see scripts/build.sh.
    test("renewal: 40 refresh() calls in a row each adopt a new token", async () => {
      reset();
      await open();
      await run(createManager, {});
      await run(() => window.tm.getToken());
      const r = await run(async () => {
        const got = [];
        for (let i = 0; i < 40; i++) got.push((await window.tm.refresh()).access_token);
        return { got, st: window.tm.status(), peek: window.tm.peek().access_token };
      });
      assert.equal(server.state.calls.length, 41);
      assert.deepEqual(r.got, server.state.issued.slice(base + 1, base + 41));
      assert.equal(r.peek, issued(40));
      assert.equal(r.st.state, "valid");
      assert.equal(r.st.lastError, null);
      assert.ok(!(await run(eventNames)).includes("error"));
    });

    test("cross-tab: a second tab gets the first tab's token with no broker call, a renewal reaches it, clear() empties both",
      { skip: !info.tabs && `${info.label}'s browser opens no second tab` }, async () => {
        reset();
        await open();
        const tab1 = await driver.getWindowHandle();
        await run(createManager, {});
        await run(() => window.tm.getToken());
        await driver.switchTo().newWindow("tab");
        const tab2 = await driver.getWindowHandle();
        await open();
        await run(createManager, {});
        assert.equal(await run(() => window.tm.getToken().then((t) => t.access_token)), issued(0));
        assert.equal(server.state.calls.length, 1, "the second tab asked the first, not the broker");

        // A renewal in tab 2 reaches tab 1.
        await run(() => window.tm.refresh());
        await driver.switchTo().window(tab1);
        await until(async () => (await run(peek)) === issued(1), { what: "tab 1 adopts tab 2's new token" });
        assert.equal(server.state.calls.length, 2);

        // clear() in tab 1 logs tab 2 out.
        await run(() => window.tm.clear());
        await driver.switchTo().window(tab2);
        await until(async () => (await run(peek)) === null && (await run(eventNames)).includes("cleared"), { what: "tab 2 cleared" });
        assert.equal(server.state.calls.length, 2);
      });

    test("frames: serveFrames answers a listed origin's frame, posting to it, and ignores others", async () => {
      reset();
      await open();
      await run(createManager, { crossTab: false });
      await run(async (other) => {
        window.stop = window.tm.serveFrames({ origins: [other], baseUrl: "https://mydatahelps.org/", participantId: "p-1" });
        const add = (src, id) => new Promise((r) => {
          const f = document.createElement("iframe");
          f.id = id; f.src = src; f.onload = r;
          document.body.append(f);
        });
        await add(location.origin + "/frame.html", "unlisted");
        await add(other + "/frame.html", "listed");
      }, frames.url);
      const answersOf = async (id) => {
        await driver.switchTo().frame(await driver.findElement({ id }));
        try { return await run(() => window.answers); } finally { await driver.switchTo().defaultContent(); }
      };
      const answers = await until(async () => { const a = await answersOf("listed"); return a.length && a; }, { what: "the listed frame's answer" });
      assert.equal(answers.length, 1);
      assert.equal(answers[0].origin, server.url);
      assert.equal(answers[0].data.name, "DelegatedAccessTokenResponse");
      assert.equal(answers[0].data.baseUrl, "https://mydatahelps.org/");
      assert.equal(answers[0].data.participantID, "p-1");
      assert.deepEqual(Object.keys(answers[0].data.accessToken).sort(), ["access_token", "expires_in", "token_type"]);
      assert.equal(answers[0].data.accessToken.access_token, issued(0));
      // The unlisted frame asked first; messages are handled in order, so it was ignored.
      assert.deepEqual(await answersOf("unlisted"), []);
      await run(() => window.stop());
    });

    test(`CSP: works under "${CSP}" with no violation, and is refused without 'wasm-unsafe-eval'`, async () => {
      cspServer.reset();
      await open(cspServer, "/csp.html");
      const r = await until(() => run(() => window.result && { result: window.result, violations: window.__xe.violations }), { what: "the app under CSP" });
      const header = await run(async () => (await fetch("/csp.html")).headers.get("content-security-policy"));
      assert.equal(header, CSP, "the page was served with the policy");
      assert.deepEqual(r, { result: { ok: true, state: "valid" }, violations: [] });
      assert.equal(cspServer.state.calls.length, 1);

      // The same page without 'wasm-unsafe-eval': the engine enforces the policy (the check can fail).
      cspServer.state.csp = "default-src 'self'; script-src 'self'";
      cspServer.reset();
      await open(cspServer, "/csp.html");
      const refused = await until(() => run(() => window.result && window.result), { what: "the app under the stricter CSP" });
      cspServer.state.csp = CSP;
      assert.ok(refused.error, "createTokenManager failed");
      assert.equal(cspServer.state.calls.length, 0);
      // That failure was an error the page can handle, not a fault: empty the record.
      await run(() => { window.__xe.errors.length = 0; });
    });

    test("destroy: calls reject with \"destroyed\" and no timer calls the broker again", async () => {
      reset(2); // renewal would be due after 1 s
      await open();
      await run(createManager, { crossTab: false });
      await run(() => window.tm.getToken());
      const r = await run(async () => {
        window.tm.destroy();
        const code = await window.tm.getToken().then(() => "resolved", (e) => e.code);
        return { code, st: window.tm.status().state };
      });
      assert.deepEqual(r, { code: "destroyed", st: "destroyed" });
      // Quiet window (a negative check): two token lifetimes with no broker call.
      await new Promise((res) => setTimeout(res, 4000));
      assert.equal(server.state.calls.length, 1);
      assert.ok(!(await run(eventNames)).includes("expired"), "a destroyed manager emits nothing");
    });

    test(`attachSdk: the real MyDataHelps.js ${SDK_VERSION} keeps working across renewals`, async () => {
      reset(4); // a renewal every ~2 s; MyDataHelps.js fires tokenWillExpire at once for such tokens
      await open();
      await run(createManager, { crossTab: false, baseUrl: server.url + "/mdh/" });
      await run(async (sdkUrl) => {
        await import(sdkUrl);
        const sdk = window.MyDataHelps;
        window.pushes = [];
        const original = sdk.setParticipantAccessToken.bind(sdk);
        sdk.setParticipantAccessToken = (t, baseUrl) => {
          window.pushes.push({ keys: Object.keys(t).sort().join(","), expires_in: t.expires_in, baseUrl, tok: t.access_token });
          return original(t, baseUrl);
        };
        const detach = window.tm.attachSdk(sdk);
        await detach.ready;
        window.detach = detach;
        window.sdkResults = [];
        window.sdkTimer = setInterval(() => {
          sdk.getParticipantInfo().then(
            (p) => window.sdkResults.push({ ok: p.participantID === "p-1" }),
            (e) => window.sdkResults.push({ ok: false, e: String(e) }),
          );
        }, 200);
      }, SDK);
      await until(() => run(() => window.pushes.length >= 3), { timeout: 20_000, what: "3 tokens pushed to the SDK" });
      const r = await run(() => {
        clearInterval(window.sdkTimer);
        window.detach();
        return { pushes: window.pushes, results: window.sdkResults };
      });
      assert.deepEqual(r.results.filter((x) => !x.ok), [], "every SDK call succeeded");
      assert.ok(r.results.length >= 5, `SDK calls made: ${r.results.length}`);
      assert.equal(new Set(r.pushes.map((p) => p.tok)).size, r.pushes.length, "each token pushed once");
      assert.deepEqual(r.pushes.map((p) => p.tok), server.state.issued.slice(base, base + r.pushes.length));
      for (const p of r.pushes) {
        assert.equal(p.keys, "access_token,expires_in,token_type");
        assert.equal(p.baseUrl, server.url + "/mdh/");
        assert.ok(p.expires_in <= 4 && p.expires_in >= 1, `expires_in ${p.expires_in}`);
      }
      assert.ok(server.state.apiCalls.length >= r.results.length && server.state.apiCalls.every((c) => c.ok));
    });
  });
}
