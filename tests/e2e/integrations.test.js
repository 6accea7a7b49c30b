// Integrations: the real MyDataHelps.js 5.7.0 fed through attachSdk, embedded frames
// answered by serveFrames, tokens.fetch, and the devtools console helper.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { browserSuite, createManager, until, assertNoLeak, packageBuilt } from "./harness.js";

const skip = !packageBuilt() && "package not built: run npm run build";
const SDK = "/node_modules/@careevolution/mydatahelps-js/MyDataHelps.js";
const suite = browserSuite({ before, after, beforeEach, assert, skip });

test("attachSdk keeps the real MyDataHelps.js working across token lifetimes", { skip }, async () => {
  suite.server.reset(6); // 6 s tokens: renewal every 3 s, and MyDataHelps.js fires tokenWillExpire at once for each
  await createManager(suite.page, { crossTab: false, baseUrl: suite.server.url + "/mdh/" });
  await suite.page.evaluate(async (sdkUrl) => {
    await import(sdkUrl);
    const sdk = window.MyDataHelps;
    window.pushes = [];
    const original = sdk.setParticipantAccessToken.bind(sdk);
    sdk.setParticipantAccessToken = (t, base) => {
      window.pushes.push({ keys: Object.keys(t).sort().join(","), expires_in: t.expires_in, base, tok: t.access_token });
      return original(t, base);
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
    }, 250);
  }, SDK);
  // Four token lifetimes (1 initial + 4 renewals), polled on observable state.
  await until(() => suite.page.evaluate(() => window.pushes.length >= 5), { timeout: 30000, what: "5 tokens pushed to the SDK" });
  const r = await suite.page.evaluate(() => {
    clearInterval(window.sdkTimer);
    window.detach();
    return { pushes: window.pushes, results: window.sdkResults };
  });
  const calls = suite.server.state.calls.length;
  const failures = r.results.filter((x) => !x.ok);
  assert.deepEqual(failures, [], "every SDK call succeeded");
  assert.ok(r.results.length >= 20, `SDK calls made: ${r.results.length}`);
  const distinct = new Set(r.pushes.map((p) => p.tok));
  assert.equal(distinct.size, r.pushes.length, "each token pushed exactly once");
  assert.ok(calls === r.pushes.length || calls === r.pushes.length + 1, `broker calls ${calls} vs pushes ${r.pushes.length}: stale tokenWillExpire events caused no extra renewals`);
  for (const p of r.pushes) {
    assert.equal(p.keys, "access_token,expires_in,token_type");
    assert.equal(p.base, suite.server.url + "/mdh/");
    assert.ok(p.expires_in <= 6 && p.expires_in >= 2, `expires_in ${p.expires_in}`);
  }
  console.log(`# SDK e2e: MyDataHelps.js 5.7.0, ${r.results.length} getParticipantInfo() calls over ${r.pushes.length} token lifetimes, ${calls} broker calls`);
});

test("attachSdk pushes a restored token with the seconds left now, not its original lifetime", { skip }, async () => {
  suite.server.reset(600);
  await createManager(suite.page, { crossTab: false, storage: "session", baseUrl: suite.server.url + "/mdh/" });
  await suite.page.evaluate(() => window.tm.getToken());
  // Make the stored token look 200 s old, then reload: the SDK must get ~400 s.
  await suite.page.evaluate(() => {
    const e = JSON.parse(sessionStorage.getItem("mdh-token"));
    e.issued_at -= 200_000; e.expires_at -= 200_000;
    sessionStorage.setItem("mdh-token", JSON.stringify(e));
  });
  await suite.page.reload();
  await createManager(suite.page, { crossTab: false, storage: "session", baseUrl: suite.server.url + "/mdh/" });
  const pushed = await suite.page.evaluate(async (sdkUrl) => {
    await import(sdkUrl);
    let got;
    const sdk = { setParticipantAccessToken: (t) => { got = t; }, on() {}, off() {} };
    await window.tm.attachSdk(sdk).ready;
    return got.expires_in;
  }, SDK);
  assert.equal(suite.server.state.calls.length, 1, "restored, not fetched again");
  assert.ok(pushed >= 395 && pushed <= 400, `expires_in ${pushed}`);
});

// Before its first token, MyDataHelps.js's connect() asks its host app for one by
// posting { name: "GetDelegatedAccessToken", messageID } to window.parent — the page
// itself at the top level. Once a token has switched it to standalone mode it accepts
// messages of the page's own origin, so its own request, dispatched after attachSdk's
// first push, reads as a failed answer: it drops the token it was just given
// (`mdh.token = null`) and rejects the waiting call with undefined (what the MyDataHelps
// UI app threw when the wasm was fetched at import and the first token came sooner).
test("attachSdk: MyDataHelps.js's own pre-token request, delivered after the first push, neither drops the token nor rejects with undefined", { skip }, async () => {
  await createManager(suite.page, { crossTab: false, baseUrl: suite.server.url + "/mdh/" });
  const r = await suite.page.evaluate(async (sdkUrl) => {
    await window.tm.getToken();
    await import(sdkUrl);
    const sdk = window.MyDataHelps;
    let early = "pending";
    sdk.getParticipantInfo().then((p) => (early = "resolved " + p.participantID), (e) => (early = "rejected " + e));
    // Same task: the SDK's request is posted, not yet delivered; peek() has a token, so
    // attachSdk pushes it now.
    const detach = window.tm.attachSdk(sdk);
    await detach.ready;
    // Messages a window posts to itself arrive in order: after this one, the SDK's has.
    await new Promise((resolve) => {
      const seen = (e) => {
        if (e.data?.type !== "mdh-token-test-probe") return;
        window.removeEventListener("message", seen);
        resolve();
      };
      window.addEventListener("message", seen);
      window.postMessage({ type: "mdh-token-test-probe" }, location.origin);
    });
    const kept = sdk.token?.access_token === window.tm.peek()?.access_token;
    const later = await sdk.getParticipantInfo().then((p) => p.participantID, (e) => "rejected " + e);
    detach();
    const restored = sdk.setActionResult === Object.getPrototypeOf(sdk).setActionResult;
    return { kept, later, early, restored, unhandled: window.__unhandled.slice() };
  }, SDK);
  assert.deepEqual(r, { kept: true, later: "p-1", early: "pending", restored: true, unhandled: [] });
});

test("attachSdk rejects things that are not the SDK, and detach stops the pushes", { skip }, async () => {
  await createManager(suite.page, { crossTab: false });
  const r = await suite.page.evaluate(async () => {
    const bad = (() => { try { window.tm.attachSdk({}); return "attached"; } catch (e) { return e.code; } })();
    let pushes = 0, handler = null;
    const sdk = { setParticipantAccessToken: () => { pushes++; }, on: (n, f) => { handler = f; }, off: (n, f) => { if (f === handler) handler = null; } };
    const detach = window.tm.attachSdk(sdk);
    await detach.ready;
    detach();
    detach();
    await window.tm.refresh();
    return { bad, pushes, handler };
  });
  assert.equal(r.bad, "invalid_options");
  assert.equal(r.pushes, 1);
  assert.equal(r.handler, null, "tokenWillExpire listener removed");
});

test("attachSdk revive: applicationDidBecomeVisible once per token that ends a gap (attach, expiry, clear), never on renewals or with revive: false", { skip }, async () => {
  suite.server.reset(4); // 4 s tokens: renewal at 2 s
  await createManager(suite.page, { crossTab: false, retry: { maxAttempts: 100, baseDelayMs: 50, maxDelayMs: 100 } });
  // A stand-in SDK with MyDataHelps.js's triggerEvent contract (handlers of event.type).
  await suite.page.evaluate(() => {
    window.sdkLog = [];
    window.makeSdk = (name, extra = {}) => ({
      setParticipantAccessToken: () => window.sdkLog.push(name + ":push"),
      on() {}, off() {},
      triggerEvent: (e) => window.sdkLog.push(name + ":" + e.type),
      ...extra,
    });
    window.detachA = window.tm.attachSdk(window.makeSdk("a"));
    window.detachOff = window.tm.attachSdk(window.makeSdk("off"), { revive: false });
    // Has a token of its own, valid for a minute: attaching is not the end of a gap.
    window.detachB = window.tm.attachSdk(window.makeSdk("b", { tokenExpires: Date.now() + 60000 }));
    return Promise.all([window.detachA.ready, window.detachOff.ready, window.detachB.ready]);
  });
  const log = () => suite.page.evaluate(() => window.sdkLog.slice());
  const V = "applicationDidBecomeVisible";
  assert.deepEqual(await log(), ["a:push", `a:${V}`, "off:push", "b:push"]);
  await until(() => log().then((l) => l.filter((x) => x === "a:push").length >= 2), { what: "a renewal" });
  assert.equal((await log()).filter((x) => x.endsWith(V)).length, 1, "renewals raise nothing");

  // Broker down past expiry, then up: the first token after the gap revives a and b.
  suite.server.state.script = Array.from({ length: 100000 }, () => ({ status: 503 }));
  await until(() => suite.page.evaluate(() => window.events.some((e) => e.name === "expired")), { what: "expired" });
  const mark = (await log()).length;
  suite.server.state.script = [];
  await until(() => log().then((l) => l.length >= mark + 3), { what: "pushes after the gap" });
  await until(() => log().then((l) => l.slice(mark).filter((x) => x.endsWith(":push")).length >= 6), { what: "a renewal after the gap" });
  const after = (await log()).slice(mark);
  assert.deepEqual(after.filter((x) => x.endsWith(V)), [`a:${V}`, `b:${V}`], "once per SDK, and not on the renewal after");
  assert.ok(after.indexOf(`a:${V}`) === after.indexOf("a:push") + 1, "raised right after the push that ended the gap");

  // A clear (logout, 401) makes the SDK's token unusable: the next token revives.
  const mark2 = (await log()).length;
  await suite.page.evaluate(async () => { window.tm.clear(); await window.tm.getToken(); });
  assert.deepEqual((await log()).slice(mark2).filter((x) => x.endsWith(V)).sort(), [`a:${V}`, `b:${V}`]);

  // Bad revive values are refused; a triggerEvent that throws is logged, the token still arrives.
  const r = await suite.page.evaluate(async () => {
    const bad = (() => { try { window.tm.attachSdk(window.makeSdk("x"), { revive: "yes" }); return "attached"; } catch (e) { return e.code; } })();
    let pushed = false;
    const thrower = window.makeSdk("t", { setParticipantAccessToken: () => { pushed = true; }, triggerEvent: () => { throw new Error("handler failed"); } });
    await window.tm.attachSdk(thrower).ready;
    return { bad, pushed, state: window.tm.status().state };
  });
  assert.deepEqual(r, { bad: "invalid_options", pushed: true, state: "valid" });
  assert.ok(suite.page.logs.some((l) => l.includes("MyDataHelps threw on a new token")));
});

test("serveFrames answers only listed origins, posting to that exact origin", { skip }, async () => {
  const other = suite.server.url.replace("127.0.0.1", "localhost"); // same server, another origin
  await createManager(suite.page, { crossTab: false });
  await suite.page.evaluate(async ({ other }) => {
    window.stop = window.tm.serveFrames({ origins: [other], baseUrl: "https://mydatahelps.org/", participantId: "p-1" });
    const add = (src, id) => new Promise((r) => { const f = document.createElement("iframe"); f.id = id; f.src = src; f.onload = r; document.body.append(f); });
    await add(location.origin + "/frame.html", "same");       // not listed
    await add(other + "/frame.html", "listed");
  }, { other });
  const listed = suite.page.frames().find((f) => f.url().startsWith(other));
  const same = suite.page.frames().find((f) => f.url().startsWith(suite.server.url + "/frame.html"));
  const answers = await until(() => listed.evaluate(() => window.answers.length && window.answers), { what: "listed frame answered" });
  assert.equal(answers.length, 1);
  const a = answers[0];
  assert.equal(a.origin, suite.server.url);
  assert.equal(a.data.name, "DelegatedAccessTokenResponse");
  assert.equal(a.data.baseUrl, "https://mydatahelps.org/");
  assert.equal(a.data.participantID, "p-1");
  assert.deepEqual(Object.keys(a.data.accessToken).sort(), ["access_token", "expires_in", "token_type"]);
  assert.equal(a.data.accessToken.access_token, suite.server.state.issued.at(-1));
  // The unlisted frame asked first; message events are handled in order, so it was ignored.
  assert.deepEqual(await same.evaluate(() => window.answers), []);

  // The target origin is exact, never "*": spy on a listed same-origin frame.
  const target = await suite.page.evaluate(async () => {
    window.stop();
    const stop = window.tm.serveFrames({ origins: [location.origin] });
    const f = document.getElementById("same").contentWindow;
    const seen = [];
    const orig = f.postMessage.bind(f);
    f.postMessage = (msg, origin) => { seen.push(origin); return orig(msg, origin); };
    window.dispatchEvent(new MessageEvent("message", { data: { name: "GetDelegatedAccessToken" }, origin: location.origin, source: f }));
    await new Promise((r) => { const i = setInterval(() => { if (seen.length) { clearInterval(i); r(); } }, 10); });
    stop();
    const bad = [];
    for (const origins of [["*"], ["https://x.org/path"], [], "https://x.org"]) {
      try { window.tm.serveFrames({ origins }); bad.push("accepted"); } catch (e) { bad.push(e.code); }
    }
    return { seen, bad };
  });
  assert.deepEqual(target.seen, [suite.server.url]);
  assert.deepEqual(target.bad, Array(4).fill("invalid_options"));
});

test("tokens.fetch authorises, renews once on 401, replays bodies, and refuses other origins", { skip }, async () => {
  await createManager(suite.page, { crossTab: false, baseUrl: suite.server.url + "/mdh/" });
  const first = await suite.page.evaluate(async () => (await window.tm.getToken()).access_token);
  const ok = await suite.page.evaluate(async () => {
    const r = await window.tm.fetch("/mdh/api/v1/delegated/participant");
    return { status: r.status, body: await r.json() };
  });
  assert.equal(ok.status, 200);
  assert.equal(suite.server.state.apiCalls.length, 1);
  // The token is revoked server-side: a 401 triggers one renewal and one retry, with the body replayed.
  suite.server.state.revoked.add(first);
  const retried = await suite.page.evaluate(async () => {
    const r = await window.tm.fetch("/mdh/api/v1/delegated/participant", { method: "POST", body: "hello" });
    return { status: r.status, body: await r.json() };
  });
  assert.equal(retried.status, 200);
  assert.equal(retried.body.echo, "hello");
  assert.equal(suite.server.state.calls.length, 2, "one renewal");
  assert.deepEqual(suite.server.state.apiCalls.slice(1).map((c) => c.ok), [false, true]);
  // Still 401 after the renewal: the second 401 is returned, no loop.
  suite.server.state.revoked.add(suite.server.state.issued.at(-1));
  suite.server.state.script.push({ body: (tok) => { const t = tok(); suite.server.state.revoked.add(t.access_token); return t; } });
  const still = await suite.page.evaluate(async () => (await window.tm.fetch("/mdh/api/v1/delegated/participant")).status);
  assert.equal(still, 401);
  assert.equal(suite.server.state.apiCalls.length, 5);
  // A streamed body cannot be replayed: the 401 comes back as it is, without renewal.
  const before = suite.server.state.calls.length;
  suite.server.state.revoked.add(suite.server.state.issued.at(-1));
  const streamed = await suite.page.evaluate(async () => {
    const body = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("x")); c.close(); } });
    try {
      const r = await window.tm.fetch("/mdh/api/v1/delegated/participant", { method: "POST", body, duplex: "half" });
      return r.status;
    } catch (e) { return "threw:" + e.message; }
  });
  // Chromium may refuse streaming uploads over HTTP/1.1; either way there was no retry.
  assert.ok(streamed === 401 || String(streamed).startsWith("threw:"), String(streamed));
  assert.equal(suite.server.state.calls.length, before, "no renewal for a body that cannot be replayed");
  const refused = await suite.page.evaluate(() => window.tm.fetch("https://example.org/x").then(() => "sent", (e) => `${e.name}:${e.code}`));
  assert.equal(refused, "TokenError:invalid_options");
});

test("devtools exposes mdhToken whose output never holds the token", { skip }, async () => {
  await createManager(suite.page, { crossTab: false, devtools: true });
  const r = await suite.page.evaluate(async () => {
    await window.tm.getToken();
    const h = window.mdhToken;
    const keys = Object.keys(h).sort();
    const st = h.status();
    h.help();
    const after = await h.refresh();
    const lvl = [h.logLevel("debug"), h.logLevel("loud")];
    h.clear();
    const cleared = window.tm.peek();
    window.tm.destroy();
    return { keys, st, after, lvl, cleared, gone: !("mdhToken" in window) };
  });
  assert.deepEqual(r.keys, ["clear", "help", "logLevel", "refresh", "status"]);
  assert.equal(r.st.state, "valid");
  assert.equal(r.after.brokerCalls, 2);
  assert.deepEqual(r.lvl, [true, false]);
  assert.equal(r.cleared, null);
  assert.ok(r.gone, "destroy() removes the global");
  await until(() => suite.page.logs.some((l) => l.startsWith("table:")) && suite.page.logs.some((l) => l.includes("mdhToken.help()")), { what: "devtools output" });
  assertNoLeak(assert, suite.server, suite.page.logs);
  for (const t of suite.server.state.issued) assert.ok(!JSON.stringify([r.st, r.after]).includes(t.slice(6, 30)));
});
