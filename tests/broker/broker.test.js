// mdh-token/broker on its own: options, keys, the page's POST (CSRF guard, body, identity),
// both caches, single flight, the upstream-failure mapping and what reaches logs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { realRuntime, within } from "../../broker/runtime.js";
import { createBroker, memoryStore, BrokerError } from "mdh-token/broker";
import {
  ACCOUNT, KEYS, PKCS8_PEM, PKCS1_PEM, ADA, BEN, CHLOE,
  virtualClock, startEmulator, testBroker, pageRequest, mount, post, assertNoSecret, fakeUpstream, tokenResponse,
} from "./helpers.js";

const FAKE_URL = "https://mdh.example/identityserver/connect/token";

/** A broker on a scripted upstream (no network): `script(form, n)` answers each call. */
function scripted(script, options = {}) {
  const up = fakeUpstream(script);
  const lines = [];
  const broker = createBroker({
    tokenUrl: FAKE_URL,
    serviceAccount: ACCOUNT,
    privateKey: PKCS8_PEM,
    participant: (req) => (req instanceof Request ? req.headers.get("x-test-participant") : req.headers["x-test-participant"]) ?? null,
    fetch: up.fetch,
    log: (l) => lines.push(l),
    ...options,
  });
  return { broker, up, lines };
}

const serviceThen = (participantStep) => (form, n) =>
  form.get("grant_type") === "client_credentials" ? tokenResponse(300, "svc") : participantStep(form, n);

test("options are checked when the broker is made, with clear TypeErrors", () => {
  const base = { tokenUrl: FAKE_URL, serviceAccount: ACCOUNT, privateKey: PKCS8_PEM, participant: () => null };
  assert.ok(createBroker(base));
  const bad = {
    "tokenUrl: not a URL": [{ tokenUrl: "connect/token" }, /tokenUrl/],
    "tokenUrl: plain http to another host": [{ tokenUrl: "http://mdh.example/identityserver/connect/token" }, /https/],
    "serviceAccount missing": [{ serviceAccount: "" }, /serviceAccount/],
    "privateKey: a public key": [{ privateKey: KEYS.publicKey.export({ type: "spki", format: "pem" }) }, /PEM/],
    "privateKey: a KeyObject that is public": [{ privateKey: KEYS.publicKey }, /private RSA key/],
    "privateKey: encrypted PEM": [{ privateKey: KEYS.privateKey.export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "x" }) }, /encrypted/],
    "privateKey: a number": [{ privateKey: 42 }, /privateKey/],
    "participant missing": [{ participant: undefined }, /participant/],
    "store without add": [{ store: { get() {}, set() {} } }, /store/],
    "rateLimit.max 0": [{ rateLimit: { max: 0, windowMs: 1000 } }, /rateLimit/],
    "allowedOrigins with a path": [{ allowedOrigins: ["https://app.example/path"] }, /allowedOrigins/],
    "upstreamTimeoutMs negative": [{ upstreamTimeoutMs: -1 }, /upstreamTimeoutMs/],
  };
  for (const [name, [patch, why]] of Object.entries(bad)) {
    assert.throws(() => createBroker({ ...base, ...patch }), (err) => err instanceof TypeError && why.test(err.message), name);
  }
  assert.ok(createBroker({ ...base, tokenUrl: "http://localhost:1/identityserver/connect/token", rateLimit: false, allowedOrigins: ["https://app.example"] }));
});

test("PKCS#8 and PKCS#1 PEM, KeyObject and CryptoKey all sign assertions the emulator accepts", async (t) => {
  const mdh = await startEmulator(t);
  const cryptoKey = await webcrypto.subtle.importKey(
    "pkcs8",
    KEYS.privateKey.export({ type: "pkcs8", format: "der" }),
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
  for (const [name, privateKey] of Object.entries({ pkcs8: PKCS8_PEM, pkcs1: PKCS1_PEM, keyObject: KEYS.privateKey, cryptoKey })) {
    const broker = testBroker(mdh, { privateKey });
    const token = await broker.participantToken(ADA);
    assert.equal(await mdh.whose(token.access_token), ADA, name);
  }
  assert.match(PKCS1_PEM, /BEGIN RSA PRIVATE KEY/, "the PKCS#1 case really is PKCS#1");
  assert.equal(mdh.emulator.stats.clientCredentials, 4, "one service token per broker, each from a verified assertion");
  // The assertion as the emulator received it: RS256, iss = sub = account, aud = token URL, exp in seconds.
  const jwt = new URLSearchParams(mdh.seen.find((f) => f.includes("client_assertion="))).get("client_assertion");
  const [header, claims] = jwt.split(".").slice(0, 2).map((p) => JSON.parse(Buffer.from(p, "base64url")));
  assert.deepEqual(header, { alg: "RS256", typ: "JWT" });
  assert.equal(claims.iss, ACCOUNT);
  assert.equal(claims.sub, ACCOUNT);
  assert.equal(claims.aud, mdh.tokenUrl);
  assert.equal(claims.exp - claims.iat, 300);
  assert.ok(claims.exp < 1e11, "exp is in seconds (RFC 7519 NumericDate)");
  assert.match(claims.jti, /^[0-9a-f-]{36}$/);
});

test("a key of the wrong kind fails the first request as 502 broker_misconfigured, logged without the key", async () => {
  const ec = (await import("node:crypto")).generateKeyPairSync("ec", { namedCurve: "P-256" });
  const lines = [];
  const { broker } = scripted(() => tokenResponse(), { privateKey: ec.privateKey.export({ type: "pkcs8", format: "pem" }), log: (l) => lines.push(l) });
  const res = await broker.handle(pageRequest({ participant: ADA }));
  assert.equal(res.status, 502);
  assert.deepEqual(await res.json(), { error: "broker_misconfigured" });
  assert.match(lines.join("\n"), /private key could not be imported/);
});

test("the answer is exactly { access_token, expires_in, token_type }, no-store, for the session's participant", async (t) => {
  const mdh = await startEmulator(t, { lifetime: 3600 });
  const broker = testBroker(mdh);
  const res = await broker.handle(pageRequest({ participant: ADA }));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(res.headers.get("pragma"), "no-cache");
  assert.match(res.headers.get("content-type"), /^application\/json/);
  const body = await res.json();
  assert.deepEqual(Object.keys(body).sort(), ["access_token", "expires_in", "token_type"]);
  assert.equal(body.token_type, "Bearer");
  assert.ok(body.expires_in >= 3599 && body.expires_in <= 3600);
  assert.equal(await mdh.whose(body.access_token), ADA);
});

test("identity comes only from participant(request): body and query naming another are ignored", async (t) => {
  const mdh = await startEmulator(t);
  const broker = testBroker(mdh);
  const seen = [];
  const spy = testBroker(mdh, { participant: (req) => (seen.push(req), ADA) });
  for (const [b, url] of [[broker, "http://app.example/api/mdh/token"], [spy, `http://app.example/api/mdh/token?participant_id=${BEN}`]]) {
    const res = await b.handle(
      pageRequest({ participant: ADA, url, body: JSON.stringify({ reason: "forced", participant_id: BEN, participantID: CHLOE }) }),
    );
    assert.equal(res.status, 200);
    assert.equal(await mdh.whose((await res.json()).access_token), ADA);
  }
  assert.ok(seen[0] instanceof Request, "participant() gets the Request handle() got");
});

test("a page bound to another participant than the session's is refused (403 participant_mismatch), never served", async (t) => {
  const mdh = await startEmulator(t);
  const broker = testBroker(mdh);
  const ask = (body) => broker.handle(pageRequest({ participant: BEN, body: JSON.stringify(body) }));
  // Ada's tab, after Ben signed in on this computer: the session is Ben's now.
  const refused = await ask({ reason: "scheduled", participant: ADA });
  assert.equal(refused.status, 403);
  assert.deepEqual(await refused.json(), { error: "participant_mismatch" });
  assert.equal((await ask({ reason: "scheduled", participant: 42 })).status, 400);
  // Ben's own tab, and a page without the option, are served Ben's token.
  for (const body of [{ reason: "initial", participant: BEN }, { reason: "initial" }]) {
    const res = await ask(body);
    assert.equal(res.status, 200);
    assert.equal(await mdh.whose((await res.json()).access_token), BEN);
  }
  // The check can be turned off (a host whose page uses another id than its broker).
  const lax = testBroker(mdh, { matchPageParticipant: false });
  const res = await lax.handle(pageRequest({ participant: BEN, body: JSON.stringify({ reason: "initial", participant: "host-user-7" }) }));
  assert.equal(res.status, 200);
  assert.throws(() => testBroker(mdh, { matchPageParticipant: "yes" }), /matchPageParticipant must be a boolean/);
});

test("no participant → 401; participant() throwing or returning junk → 500; nothing goes upstream", async () => {
  const { up } = scripted(() => tokenResponse());
  for (const [participant, status, error] of [
    [() => null, 401, "not_signed_in"],
    [() => undefined, 401, "not_signed_in"],
    [async () => "", 401, "not_signed_in"],
    [() => { throw new Error(`session store down for ${ADA}`); }, 500, "internal_error"],
    [() => 42, 500, "internal_error"],
    [() => "x".repeat(1025), 500, "internal_error"],
  ]) {
    const lines = [];
    const broker = createBroker({ tokenUrl: FAKE_URL, serviceAccount: ACCOUNT, privateKey: PKCS8_PEM, participant, fetch: up.fetch, log: (l) => lines.push(l) });
    const res = await broker.handle(pageRequest({ participant: ADA }));
    assert.equal(res.status, status);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.deepEqual(await res.json(), { error });
    assert.ok(!lines.join("\n").includes(ADA), "a thrown message is never logged");
  }
  assert.equal(up.calls.length, 0);
});

test("CSRF guard: JSON content type, then Sec-Fetch-Site / Origin; GET and OPTIONS are 405", async () => {
  const { broker, up } = scripted(serviceThen(() => tokenResponse()), { allowedOrigins: ["https://www.app.example"] });
  const own = "http://app.example";
  const cases = [
    // [headers, expected status]
    [{ "Content-Type": "text/plain" }, 415],
    [{ "Content-Type": "application/x-www-form-urlencoded" }, 415],
    [{ "Content-Type": "multipart/form-data; boundary=x" }, 415],
    [{ "Content-Type": "application/json; charset=utf-8", "Sec-Fetch-Site": "same-origin" }, 200],
    [{ "Sec-Fetch-Site": "none" }, 200],
    [{ "Sec-Fetch-Site": "cross-site", Origin: "https://evil.example" }, 403],
    [{ "Sec-Fetch-Site": "same-site", Origin: "https://evil.app.example" }, 403],
    [{ "Sec-Fetch-Site": "same-site", Origin: "https://www.app.example" }, 200], // allowedOrigins
    [{ "Sec-Fetch-Site": "cross-site" }, 403],
    // Older browsers without Fetch Metadata: Origin decides.
    [{ "Sec-Fetch-Site": "", Origin: own }, 403], // an empty Sec-Fetch-Site is no browser's
    [{ Origin: own }, 200],
    [{ Origin: "https://evil.example" }, 403],
    [{ Origin: "null" }, 403],
    [{ Origin: "https://www.app.example" }, 200],
    [{}, 200], // neither: not a browser, so no ambient credentials to abuse
  ];
  for (const [headers, status] of cases) {
    const h = new Headers({ "Content-Type": "application/json", "x-test-participant": ADA });
    h.delete("sec-fetch-site");
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    const res = await broker.handle(new Request(`${own}/api/mdh/token`, { method: "POST", headers: h, body: JSON.stringify({ reason: "initial" }) }));
    assert.equal(res.status, status, JSON.stringify(headers));
    assert.equal(res.headers.get("cache-control"), "no-store");
    if (status !== 200) assert.deepEqual(await res.json(), { error: status === 415 ? "json_required" : "cross_site_request" });
  }
  for (const method of ["GET", "OPTIONS", "PUT"]) {
    const res = await broker.handle(new Request(`${own}/api/mdh/token`, { method, headers: { "x-test-participant": ADA } }));
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get("allow"), "POST");
    assert.equal(res.headers.get("access-control-allow-origin"), null, "never a CORS grant");
  }
  assert.equal(up.grants("delegated_participant"), 1, "refused requests never reach upstream; the allowed ones share one token");
});

test("body: capped, JSON object with a known reason or empty, else 400 / 413", async (t) => {
  const { broker, up } = scripted(serviceThen(() => tokenResponse()), { maxBodyBytes: 64 });
  const cases = [
    ["", 200],
    ['{"reason":"scheduled"}', 200],
    ["{}", 200],
    ['{"reason":"whenever"}', 400],
    ["[1]", 400],
    ["null", 400],
    ["{not json", 400],
    [JSON.stringify({ reason: "initial", pad: "x".repeat(100) }), 413],
  ];
  for (const [body, status] of cases) {
    const res = await broker.handle(pageRequest({ participant: ADA, body }));
    assert.equal(res.status, status, body.slice(0, 30));
  }
  // The same over node:http, where the cap stops reading the stream.
  const url = await mount(t, broker);
  const big = await post(url, { participant: ADA, body: JSON.stringify({ reason: "initial", pad: "x".repeat(10_000) }) });
  assert.equal(big.status, 413);
  assert.deepEqual(await big.json(), { error: "payload_too_large" });
  const ok = await post(url, { participant: ADA });
  assert.equal(ok.status, 200);
  assert.equal(up.grants("delegated_participant"), 1);
});

test("node(req, res) and Express give the same answers as handle(); a body Express parsed is used", async (t) => {
  const { default: express } = await import("express");
  const mdh = await startEmulator(t);
  const broker = testBroker(mdh);
  const app = express();
  app.post("/api/mdh/token", express.json(), broker.node);
  app.post("/raw/api/mdh/token", broker.node);
  const server = await new Promise((resolve) => {
    const s = app.listen(0, "127.0.0.1", () => resolve(s));
  });
  t.after(() => new Promise((r) => (server.close(r), server.closeAllConnections())));
  const base = `http://127.0.0.1:${server.address().port}`;
  for (const path of ["/api/mdh/token", "/raw/api/mdh/token"]) {
    const a = await post(base + path, { participant: ADA });
    assert.equal(a.status, 200, path);
    assert.equal(a.headers.get("cache-control"), "no-store");
    const first = await a.json();
    const forced = await (await post(base + path, { participant: ADA, reason: "forced" })).json();
    assert.notEqual(forced.access_token, first.access_token, `${path}: the reason in the body was read`);
    assert.equal((await post(base + path, { participant: ADA, headers: { Origin: "https://evil.example" } })).status, 403);
    assert.equal((await post(base + path, {})).status, 401);
  }
});

test("participant-token cache: reuse above half the lifetime (+5 s), forced and expired bypass it", async (t) => {
  const clock = virtualClock();
  const mdh = await startEmulator(t, { now: clock.now, lifetime: 600 });
  const broker = testBroker(mdh, { now: clock.now });
  const get = async (participant, reason) => (await broker.handle(pageRequest({ participant, reason }))).json();
  const a = await get(ADA, "initial");
  assert.equal(a.expires_in, 600);
  clock.advance(294_000); // 306 s left > 300 + 5
  const b = await get(ADA, "initial");
  assert.equal(b.access_token, a.access_token, "a reload, another tab or device: the same token");
  assert.equal(b.expires_in, 306);
  assert.equal((await get(ADA, "scheduled")).access_token, a.access_token);
  assert.equal(mdh.emulator.stats.delegatedParticipant, 1);
  clock.advance(2_000); // 304 s left: no longer reused
  const c = await get(ADA, "scheduled");
  assert.notEqual(c.access_token, a.access_token);
  assert.equal(c.expires_in, 600);
  const d = await get(ADA, "forced");
  const e = await get(ADA, "expired");
  assert.ok(new Set([c.access_token, d.access_token, e.access_token]).size === 3, "forced and expired always get a new token");
  assert.equal((await get(ADA, "initial")).access_token, e.access_token, "the newest token is what the cache serves next");
  const other = await get(BEN, "initial");
  assert.notEqual(other.access_token, e.access_token);
  assert.equal(await mdh.whose(other.access_token), BEN, "each participant has their own entry");
  assert.equal(mdh.emulator.stats.delegatedParticipant, 5);
  assert.equal(mdh.emulator.stats.clientCredentials, 2, "the 300 s service token was renewed once on the way");
});

test("a page that renews on schedule never gets back the token it is renewing (no loop)", async (t) => {
  // The page renews at expires_at − min(renewBeforeSeconds, lifetime / 2): simulate it for
  // a few lifetimes and renewBeforeSeconds from 1 s to "half the lifetime", and count calls.
  for (const lifetime of [60, 90, 600, 3600]) {
    for (const renewBefore of [1, 30, 120, 1e9]) {
      const clock = virtualClock();
      const mdh = await startEmulator(t, { now: clock.now, lifetime });
      const broker = testBroker(mdh, { now: clock.now, rateLimit: false });
      let tok = await broker.participantToken(ADA, { reason: "initial" });
      let renewals = 0;
      for (let i = 0; i < 6; i++) {
        clock.advance((tok.expires_in - Math.min(renewBefore, tok.expires_in / 2)) * 1000);
        const next = await broker.participantToken(ADA, { reason: "scheduled" });
        assert.notEqual(next.access_token, tok.access_token, `lifetime ${lifetime}, renewBefore ${renewBefore}`);
        assert.ok(next.expires_in > Math.min(renewBefore, tok.expires_in / 2), "the new one is outside the old one's window");
        tok = next;
        renewals++;
      }
      assert.equal(mdh.emulator.stats.delegatedParticipant, 1 + renewals, "one upstream call per renewal");
      await mdh.close();
    }
  }
});

test("clientId, clientSecret and scope go to the participant grant; the service grant keeps scope=api", async (t) => {
  const mdh = await startEmulator(t);
  // The spelling of CareEvolution's public quickstart (docs/mydatahelps.md).
  const broker = testBroker(mdh, { clientId: "MyDataHelps.DelegatedParticipant", scope: "api user/*.read" });
  assert.equal(await mdh.whose((await broker.participantToken(ADA)).access_token), ADA);
  const forms = mdh.seen.map((f) => new URLSearchParams(f));
  const service = forms.find((f) => f.get("grant_type") === "client_credentials");
  const delegated = forms.find((f) => f.get("grant_type") === "delegated_participant");
  assert.equal(service.get("scope"), "api");
  assert.deepEqual(
    ["scope", "client_id", "client_secret", "participant_id"].map((k) => delegated.get(k)),
    ["api user/*.read", "MyDataHelps.DelegatedParticipant", "secret", ADA],
  );
  const wrong = testBroker(mdh, { clientSecret: "not-the-secret" });
  await assert.rejects(wrong.participantToken(ADA), (e) => e.status === 502 && e.code === "broker_misconfigured");
});

test("cacheParticipantTokens: false sends every request upstream", async (t) => {
  const mdh = await startEmulator(t);
  const broker = testBroker(mdh, { cacheParticipantTokens: false, rateLimit: false });
  const a = await broker.participantToken(ADA);
  const b = await broker.participantToken(ADA);
  assert.notEqual(a.access_token, b.access_token);
  assert.equal(mdh.emulator.stats.delegatedParticipant, 2);
});

test("single flight: 50 concurrent requests of 3 participants → 1 service call, 3 participant calls", async (t) => {
  const mdh = await startEmulator(t);
  const broker = testBroker(mdh);
  const ids = [ADA, BEN, CHLOE];
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => broker.handle(pageRequest({ participant: ids[i % ids.length] }))));
  assert.deepEqual(new Set(results.map((r) => r.status)), new Set([200]));
  const bodies = await Promise.all(results.map((r) => r.json()));
  for (let i = 0; i < 50; i++) assert.equal(bodies[i].access_token, bodies[i % ids.length].access_token);
  assert.equal(mdh.emulator.stats.clientCredentials, 1);
  assert.equal(mdh.emulator.stats.delegatedParticipant, ids.length);
  for (let i = 0; i < ids.length; i++) assert.equal(await mdh.whose(bodies[i].access_token), ids[i]);
});

test("the service token is renewed ahead of expiry: 30 s before, or at half its life when short", async () => {
  for (const [lifetime, renewAfter] of [[300, 270], [40, 20]]) {
    const clock = virtualClock();
    const { broker, up } = scripted((form) => (form.get("grant_type") === "client_credentials" ? tokenResponse(lifetime, "svc") : tokenResponse()), {
      now: clock.now,
      rateLimit: false,
    });
    await broker.participantToken(ADA, { reason: "forced" });
    clock.advance(renewAfter * 1000 - 1);
    await broker.participantToken(ADA, { reason: "forced" });
    assert.equal(up.grants("client_credentials"), 1, `${lifetime} s: still cached just before ${renewAfter} s`);
    clock.advance(1);
    await broker.participantToken(ADA, { reason: "forced" });
    assert.equal(up.grants("client_credentials"), 2, `${lifetime} s: renewed at ${renewAfter} s`);
    // The participant grants used the newest service token.
    const used = up.calls.filter((c) => c.form.get("grant_type") === "delegated_participant").map((c) => c.form.get("token"));
    assert.equal(used.length, 3);
    assert.equal(new Set(used).size, 2);
    assert.equal(used[0], used[1]);
  }
});

test("invalid_grant with a cached service token: one retry with a fresh one; again → 403, no churn", async () => {
  const clock = virtualClock();
  let revoked = new Set();
  let unknown = new Set([CHLOE]);
  const { broker, up, lines } = scripted(
    (form) => {
      if (form.get("grant_type") === "client_credentials") return tokenResponse(300, "svc");
      if (revoked.has(form.get("token")) || unknown.has(form.get("participant_id"))) return { status: 400, body: { error: "invalid_grant", error_description: `token ${form.get("token")} is revoked` } };
      return tokenResponse();
    },
    { now: clock.now, rateLimit: false },
  );
  await broker.participantToken(ADA);
  const firstService = up.calls[0].form.get("token") ?? up.calls[1].form.get("token");
  revoked.add(firstService);
  clock.advance(60_000);
  const t = await broker.participantToken(BEN);
  assert.ok(t.access_token);
  assert.equal(up.grants("client_credentials"), 2, "a fresh service token after invalid_grant");
  assert.equal(up.grants("delegated_participant"), 3);
  // An unknown participant: 403 after one retry; right after, no second service-token churn.
  clock.advance(60_000);
  await assert.rejects(broker.participantToken(CHLOE), (e) => e instanceof BrokerError && e.status === 403 && e.code === "participant_not_allowed");
  assert.equal(up.grants("client_credentials"), 3);
  clock.advance(5_000); // past the 2 s failure memory, inside the 30 s retry interval
  await assert.rejects(broker.participantToken(CHLOE), (e) => e.status === 403);
  assert.equal(up.grants("client_credentials"), 3, "no service token per unknown-participant request");
  assert.ok(!lines.join("\n").includes("revoked"), "upstream text never reaches a log line");
});

test("upstream failures map to what the page expects; bodies and logs carry no upstream text or token", async () => {
  const leak = "SECRET-UPSTREAM-TEXT";
  const cases = [
    // [name, service step, participant step, status, code, Retry-After]
    ["503 + Retry-After", null, { status: 503, body: { error: leak }, headers: { "Retry-After": "7" } }, 503, "upstream_unavailable", "7"],
    ["429 + Retry-After", null, { status: 429, body: leak, headers: { "Retry-After": "3" } }, 503, "upstream_unavailable", "3"],
    ["503 + HTTP-date Retry-After (dropped)", null, { status: 503, headers: { "Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT" } }, 503, "upstream_unavailable", null],
    ["500", null, { status: 500, body: leak }, 502, "upstream_error", null],
    ["200 HTML", null, new Response(`<html>${leak}</html>`, { status: 200, headers: { "Content-Type": "text/html" } }), 502, "upstream_malformed", null],
    ["200 without expires_in", null, { status: 200, body: { access_token: "abcdefghijklmnopqrstuvwxyz0123456789", token_type: "Bearer" } }, 502, "upstream_malformed", null],
    ["200 with a token the page would refuse", null, { status: 200, body: { access_token: "has space", expires_in: 60 } }, 502, "upstream_malformed", null],
    ["200 with expires_in 1.9 (the page refuses under 2 s)", null, { status: 200, body: { access_token: "abcdefghijklmnopqrstuvwxyz0123456789", expires_in: 1.9 } }, 502, "upstream_malformed", null],
    ["200 of 100 kB", null, { status: 200, body: { access_token: "a".repeat(100_000), expires_in: 60 } }, 502, "upstream_malformed", null],
    ["302", null, new Response(null, { status: 302, headers: { Location: "https://evil.example/" } }), 502, "broker_misconfigured", null],
    ["401 on the participant grant", null, { status: 401, body: { error: "invalid_client", error_description: leak } }, 401, "participant_unauthorized", null],
    ["400 invalid_grant (fresh service token)", null, { status: 400, body: { error: "invalid_grant", error_description: leak } }, 403, "participant_not_allowed", null],
    ["400 invalid_scope", null, { status: 400, body: { error: "invalid_scope", error_description: leak } }, 502, "broker_misconfigured", null],
    ["unreachable", null, () => Promise.reject(new TypeError(`fetch failed: ${leak}`)), 502, "upstream_unreachable", null],
    ["service token refused", { status: 400, body: { error: "invalid_client", error_description: leak } }, null, 502, "broker_misconfigured", null],
    ["service token 503", { status: 503, headers: { "Retry-After": "9" } }, null, 503, "upstream_unavailable", "9"],
  ];
  for (const [name, serviceStep, participantStep, status, code, retryAfter] of cases) {
    const { broker, lines, up } = scripted(
      (form) => {
        const step = form.get("grant_type") === "client_credentials" ? serviceStep ?? tokenResponse(300, "svc") : participantStep ?? tokenResponse();
        return typeof step === "function" ? step() : step;
      },
      { rateLimit: false },
    );
    const res = await broker.handle(pageRequest({ participant: ADA }));
    assert.equal(res.status, status, name);
    // A service token MyDataHelps just issued is not swapped for another on invalid_grant.
    assert.equal(up.grants("client_credentials"), 1, `${name}: one service-token call`);
    assert.equal(res.headers.get("cache-control"), "no-store", name);
    assert.equal(res.headers.get("retry-after"), retryAfter, name);
    const text = await res.text();
    assert.deepEqual(JSON.parse(text), { error: code }, name);
    assert.ok(!text.includes(leak) && !lines.join("\n").includes(leak), `${name}: no upstream text`);
    assert.ok(!/svc\d+x|tok\d+x/.test(text + lines.join("\n")), `${name}: no token`);
  }
});

test("upstream timeout → 503 upstream_timeout; the request is aborted", async () => {
  let aborted = false;
  const { broker } = scripted(
    () => assert.fail("replaced by the fetch below"),
    {
      upstreamTimeoutMs: 50,
      fetch: (url, init) =>
        new Promise((_, reject) =>
          init.signal.addEventListener("abort", () => {
            aborted = true;
            reject(init.signal.reason);
          }),
        ),
    },
  );
  const res = await broker.handle(pageRequest({ participant: ADA }));
  assert.equal(res.status, 503);
  assert.deepEqual(await res.json(), { error: "upstream_timeout" });
  assert.ok(aborted);
});

test("a failure is remembered for 2 s (or Retry-After): concurrent and following requests make no new call", async () => {
  const clock = virtualClock();
  let down = true;
  const { broker, up } = scripted(serviceThen(() => (down ? { status: 503, headers: { "Retry-After": "4" } } : tokenResponse())), { now: clock.now, rateLimit: false });
  const all = await Promise.all(Array.from({ length: 10 }, () => broker.handle(pageRequest({ participant: ADA, reason: "forced" }))));
  assert.deepEqual(all.map((r) => r.status), Array(10).fill(503));
  assert.equal(up.grants("delegated_participant"), 1, "one call for ten concurrent requests");
  down = false;
  clock.advance(3_999);
  assert.equal((await broker.handle(pageRequest({ participant: ADA, reason: "forced" }))).status, 503, "within Retry-After: answered from memory");
  assert.equal(up.grants("delegated_participant"), 1);
  clock.advance(1);
  assert.equal((await broker.handle(pageRequest({ participant: ADA, reason: "forced" }))).status, 200);
  assert.equal(up.grants("delegated_participant"), 2);
});

test("rate limit: at most rateLimit.max MyDataHelps calls per participant per window → 429 + Retry-After", async () => {
  const clock = virtualClock();
  const { broker, up, lines } = scripted(serviceThen(() => tokenResponse()), { now: clock.now, rateLimit: { max: 3, windowMs: 60_000 } });
  const ask = (participant, reason = "forced") => broker.handle(pageRequest({ participant, reason }));
  for (let i = 0; i < 3; i++) assert.equal((await ask(ADA)).status, 200);
  clock.advance(20_000);
  const limited = await ask(ADA);
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get("retry-after"), "40");
  assert.deepEqual(await limited.json(), { error: "rate_limited" });
  assert.equal((await ask(ADA, "initial")).status, 200, "a cached answer costs MyDataHelps nothing: not limited");
  assert.equal((await ask(BEN)).status, 200, "another participant is not affected");
  assert.equal(up.grants("delegated_participant"), 4);
  clock.advance(40_000);
  assert.equal((await ask(ADA)).status, 200, "a new window");
  assert.match(lines.join("\n"), /rate limit for/);
  const unlimited = scripted(serviceThen(() => tokenResponse()), { rateLimit: false });
  for (let i = 0; i < 20; i++) await unlimited.broker.participantToken(ADA, { reason: "forced" });
  assert.equal(unlimited.up.grants("delegated_participant"), 20, "rateLimit: false");
});

test("participantToken(id) for hosts with their own routing; bad ids and reasons are TypeErrors", async (t) => {
  const mdh = await startEmulator(t);
  const broker = testBroker(mdh);
  const token = await broker.participantToken(BEN, { reason: "initial" });
  assert.deepEqual(Object.keys(token).sort(), ["access_token", "expires_in", "token_type"]);
  assert.equal(await mdh.whose(token.access_token), BEN);
  await assert.rejects(broker.participantToken(""), TypeError);
  await assert.rejects(broker.participantToken(42), TypeError);
  await assert.rejects(broker.participantToken(ADA, { reason: "because" }), TypeError);
});

test("one memoryStore shared by two brokers in one process: one upstream call", async (t) => {
  const clock = virtualClock();
  const mdh = await startEmulator(t, { now: clock.now });
  const store = memoryStore({ now: clock.now });
  const [a, b] = [testBroker(mdh, { store, now: clock.now }), testBroker(mdh, { store, now: clock.now })];
  const [x, y] = await Promise.all([a.participantToken(ADA), b.participantToken(ADA)]);
  assert.equal(x.access_token, y.access_token);
  assert.equal(mdh.emulator.stats.clientCredentials, 1);
  assert.equal(mdh.emulator.stats.delegatedParticipant, 1);
});

test("log lines never contain a token, an assertion or the key, whatever happens", async (t) => {
  const clock = virtualClock();
  const lines = [];
  const mdh = await startEmulator(t, { now: clock.now, lifetime: 60, slowMs: 2_000 });
  const broker = testBroker(mdh, { now: clock.now, log: (l) => lines.push(l), upstreamTimeoutMs: 100, rateLimit: { max: 4, windowMs: 60_000 } });
  const url = await mount(t, broker);
  for (const [fault, reason] of [["ok", "initial"], ["ok", "forced"], ["down", "forced"], ["malformed", "forced"], ["401", "forced"], ["slow", "forced"], ["ok", "forced"], ["ok", "forced"]]) {
    clock.advance(61_000);
    mdh.emulator.setFaultMode(fault);
    await (await post(url, { participant: ADA, reason })).text();
  }
  for (let i = 0; i < 6; i++) await post(url, { participant: BEN, reason: "forced" }); // into the rate limit
  mdh.emulator.revokeAll();
  clock.advance(61_000);
  await post(url, { participant: CHLOE, reason: "forced" }); // invalid_grant → retry
  await broker.participantToken("00000000-0000-4000-8000-000000000000").catch(() => {});
  assert.ok(lines.length >= 8, lines.join("\n"));
  assertNoSecret(assert, lines, mdh.secrets());
  assert.ok(mdh.secrets().length > 10, "the check had secrets to look for");
});

test("a revoked service token: 8 concurrent participants all get 200 from one new service token", async () => {
  const clock = virtualClock();
  const revoked = new Set();
  const { broker, up } = scripted(
    (form) => {
      if (form.get("grant_type") === "client_credentials") return tokenResponse(3600, "svc");
      return revoked.has(form.get("token")) ? { status: 400, body: { error: "invalid_grant" } } : tokenResponse();
    },
    { now: clock.now, rateLimit: false },
  );
  await broker.participantToken(ADA);
  revoked.add(up.calls.find((c) => c.form.get("grant_type") === "delegated_participant").form.get("token"));
  clock.advance(60_000);
  const ids = Array.from({ length: 8 }, (_, i) => `participant-${i}`);
  const answers = await Promise.allSettled(ids.map((id) => broker.participantToken(id)));
  assert.deepEqual(answers.map((a) => a.status), Array(8).fill("fulfilled"), answers.map((a) => a.reason?.code).join(" "));
  assert.equal(up.grants("client_credentials"), 2, "one new service token for all eight");
});

test("any participant id the page accepts (up to 1,024 characters) gets its own token and store keys; a lone surrogate is refused", async () => {
  const store = memoryStore();
  const { broker, up } = scripted(serviceThen(() => tokenResponse()), { store, rateLimit: false });
  const ids = ["x".repeat(1024), "ada\uFFFD", "a\nb", "name with spaces, % and :", "é".repeat(300), "x".repeat(201), "😀".repeat(512)];
  const tokens = [];
  for (const id of ids) {
    const t = await broker.participantToken(id);
    tokens.push(t.access_token);
    assert.equal((await broker.participantToken(id)).access_token, t.access_token, "cached under its own key");
  }
  assert.equal(new Set(tokens).size, ids.length, "no two ids share an entry");
  assert.equal(up.grants("delegated_participant"), ids.length);
  const res = await broker.handle(pageRequest({ participant: "y".repeat(1024) }));
  assert.equal(res.status, 200, "the page's longest id over HTTP");
  await assert.rejects(broker.participantToken("x".repeat(1025)), TypeError);
  // A lone surrogate has no UTF-8 form: it would reach MyDataHelps as U+FFFD, as "ada\uFFFD".
  await assert.rejects(broker.participantToken("ada\uD800"), /well-formed/);
});

// A process that was busy (a burst of requests, a GC pause) comes back with a store reply
// already received and a store timeout already due; Node runs due timers before it reads
// sockets and files. The reply must win: a lagging event loop is not a slow store, and
// taking it for one sends every busy instance to MyDataHelps on its own.
test("a reply that arrived while the event loop was busy wins over a timeout that fell due meanwhile", async () => {
  const runtime = realRuntime();
  const outcome = await new Promise((resolve) => {
    // From the check phase: the loop's next turn runs the due timers first, then I/O.
    setImmediate(() => {
      const reply = new Promise((ok, no) => fs.stat(fileURLToPath(import.meta.url), (e) => (e ? no(e) : ok("reply"))));
      const raced = within(runtime, reply, 20, "store timeout");
      const busyUntil = performance.now() + 200;
      while (performance.now() < busyUntil); // busy: the stat completes meanwhile
      raced.then(resolve, (e) => resolve(e.name));
    });
  });
  assert.equal(outcome, "reply");
});

test("a store that does not answer still times out", async () => {
  const raced = within(realRuntime(), new Promise(() => {}), 20, "store timeout");
  await assert.rejects(raced, { name: "TimeoutError", message: "store timeout" });
});
