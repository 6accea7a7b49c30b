// The broker as operators run it, against a real redis-server and the MyDataHelps emulator:
// what Redis holds is sealed (no token in plain text; relabelled, swapped or edited entries
// are never served), metrics and spans through the real OpenTelemetry API and SDK, and the
// health probe.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "redis";
import { redisStore } from "mdh-token/broker";
import { ADA, BEN, CHLOE, startEmulator, startRedis, testBroker, post, mount, pageRequest, fakeUpstream, tokenResponse } from "./helpers.js";
import { otelSdk, sum } from "./otel.js";
import { METRICS, SPANS } from "../../broker/telemetry.js";

const PREFIX = "t:";

async function redisClient(t, redis) {
  const client = createClient({ url: redis.url, socket: { reconnectStrategy: 50, connectTimeout: 1_000 } });
  client.on("error", () => {});
  await client.connect();
  t.after(() => client.destroy());
  return client;
}

/** Every key and value in Redis (SCAN, so it works on a big one too). */
async function dump(client) {
  const out = new Map();
  let cursor = "0";
  do {
    const [next, keys] = await client.sendCommand(["SCAN", cursor, "COUNT", "1000"]);
    cursor = String(next);
    for (const k of keys) {
      const type = await client.sendCommand(["TYPE", k]);
      out.set(k, type === "string" ? await client.sendCommand(["GET", k]) : `<${type}>`);
    }
  } while (cursor !== "0");
  return out;
}

const tokenOf = async (res) => {
  assert.equal(res.status, 200, res.status === 200 ? "" : JSON.stringify(await res.clone().json()));
  return (await res.json()).access_token;
};

/** Ada, Ben and Chloe each served once by two instances sharing one Redis. */
async function fleet(t, { seal } = {}) {
  const redis = await startRedis(t);
  const mdh = await startEmulator(t);
  const client = await redisClient(t, redis);
  const opts = { store: redisStore(client, { prefix: PREFIX }), rateLimit: false, ...(seal === undefined ? {} : { seal }) };
  const urls = [await mount(t, testBroker(mdh, opts)), await mount(t, testBroker(mdh, opts))];
  const tokens = {};
  for (const [who, i] of [[ADA, 0], [BEN, 1], [CHLOE, 0]]) tokens[who] = await tokenOf(await post(urls[i], { participant: who }));
  return { redis, mdh, client, urls, tokens };
}

test("with redisStore, no value in Redis holds a token, an assertion or a participant id in plain text", async (t) => {
  const { mdh, client, tokens } = await fleet(t);
  const values = await dump(client);
  assert.ok(values.size >= 4, `Redis holds the service token and three participant tokens (${values.size} keys)`);
  const secrets = [...mdh.secrets(), ...Object.values(tokens)];
  assert.ok(secrets.length >= 5, "the emulator issued a service token and three participant tokens");
  for (const [key, value] of values) {
    for (const s of secrets) {
      // Any 24-character piece of a secret would do for a reader: none may be there.
      for (let i = 0; i + 24 <= s.length; i += 12) assert.ok(!value.includes(s.slice(i, i + 24)), `a piece of a secret in plain text at ${key}`);
    }
    for (const id of [ADA, BEN, CHLOE]) {
      assert.ok(!value.includes(id), `a participant id in the value at ${key}`);
      assert.ok(!key.includes(id.slice(0, 8)) || key.includes(encodeURIComponent(id)), "ids appear in key names only as the broker names them");
    }
    if (/:(svc|pt:[^:]+)$/.test(key)) assert.match(value, /^s1\.[A-Za-z0-9_-]{8}\.[0-9a-z]+\.[A-Za-z0-9_-]+$/, `sealed: ${key}`);
  }
});

/** What an attacker with write access to Redis does to make Ben's key serve Ada's token. */
async function relabel(client, from, to, fromId, toId) {
  const value = await client.sendCommand(["GET", from]);
  let forged = value;
  try {
    // A plain-JSON record: rewrite the participant field, the way an outside test did.
    const r = JSON.parse(value);
    r.participant = toId;
    forged = JSON.stringify(r);
  } catch {
    // Sealed: the best it can do is copy the value as it is.
  }
  assert.ok(forged.length > 0 && fromId !== toId);
  await client.sendCommand(["SET", to, forged, "PX", "600000"]);
}

async function keysOf(client) {
  const keys = [...(await dump(client)).keys()];
  const pt = (id) => keys.find((k) => k.endsWith(`:pt:${encodeURIComponent(id)}`));
  return { ada: pt(ADA), ben: pt(BEN), chloe: pt(CHLOE), svc: keys.find((k) => k.endsWith(":svc")) };
}

/** Relabel, swap and edit Ada's and Ben's entries; returns whose token each one got next. */
async function attack(t, seal) {
  const { mdh, client, urls, tokens } = await fleet(t, { seal });
  const k = await keysOf(client);
  assert.ok(k.ada && k.ben && k.chloe && k.svc, "the entries are where the broker names them");
  const before = mdh.emulator.stats.delegatedParticipant;
  // Relabelled: Ada's entry made Ben's.
  await relabel(client, k.ada, k.ben, ADA, BEN);
  const ben = await tokenOf(await post(urls[1], { participant: BEN }));
  // Swapped: Chloe's value under Ada's key and Ada's (saved) under Chloe's.
  const [adaValue, chloeValue] = [await client.sendCommand(["GET", k.ada]), await client.sendCommand(["GET", k.chloe])];
  await client.sendCommand(["SET", k.ada, chloeValue, "PX", "600000"]);
  await client.sendCommand(["SET", k.chloe, adaValue, "PX", "600000"]);
  const ada = await tokenOf(await post(urls[0], { participant: ADA }));
  const chloe = await tokenOf(await post(urls[1], { participant: CHLOE }));
  // Edited: the service token's entry, one character changed (a sealed one fails to open;
  // a plain one now carries another token); then a participant needs the service token.
  const svc = await client.sendCommand(["GET", k.svc]);
  let edited;
  try {
    const r = JSON.parse(svc);
    r.token = tokens[ADA]; // a token of the attacker's choosing
    edited = JSON.stringify(r);
  } catch {
    const i = svc.length - 10;
    edited = svc.slice(0, i) + (svc[i] === "A" ? "B" : "A") + svc.slice(i + 1);
  }
  await client.sendCommand(["SET", k.svc, edited, "PX", "600000"]);
  await client.sendCommand(["DEL", k.ben]);
  // Unsealed, MyDataHelps refuses the forged service token and the broker replaces it as
  // revoked; sealed, the edit is refused on read and a new service token fetched.
  const again = await post(urls[0], { participant: BEN });
  const benAgain = again.status === 200 ? await mdh.whose((await again.json()).access_token) : `status ${again.status}`;
  return {
    whose: { ben: await mdh.whose(ben), ada: await mdh.whose(ada), chloe: await mdh.whose(chloe), benAgain },
    served: { ben, ada, chloe },
    tokens,
    refetched: mdh.emulator.stats.delegatedParticipant - before,
  };
}

test("sealed: a relabelled, swapped or edited entry in Redis is never served: refused and refetched", async (t) => {
  const { whose, served, tokens, refetched } = await attack(t, undefined);
  assert.deepEqual(whose, { ben: BEN, ada: ADA, chloe: CHLOE, benAgain: BEN });
  assert.notEqual(served.ben, tokens[ADA], "Ben was not served Ada's token");
  assert.notEqual(served.ada, tokens[CHLOE]);
  assert.notEqual(served.chloe, tokens[ADA]);
  assert.equal(refetched, 4, "each refused entry was fetched again from MyDataHelps");
});

test("the same attacks with seal: false succeed (what sealing is for)", async (t) => {
  const { whose } = await attack(t, false);
  // The relabelled plain-JSON entry is served to Ben: Ada's token crosses participants.
  // The forged service token is refused by MyDataHelps and replaced like a revoked one,
  // so Ben still gets his own token in the end (at the cost of a failed exchange).
  assert.equal(whose.ben, ADA);
  assert.equal(whose.benAgain, BEN);
});

test("sealKeys rotate: an instance with [new, old] reads what [old] wrote and writes under new; [old] alone refetches", async (t) => {
  const redis = await startRedis(t);
  const mdh = await startEmulator(t);
  const client = await redisClient(t, redis);
  const [oldKey, newKey] = ["old-".padEnd(40, "o"), "new-".padEnd(40, "n")];
  const store = redisStore(client, { prefix: PREFIX });
  const before = testBroker(mdh, { store, sealKeys: [oldKey] });
  const after = testBroker(mdh, { store, sealKeys: [newKey, oldKey] });
  const first = (await before.participantToken(ADA)).access_token;
  assert.equal((await after.participantToken(ADA)).access_token, first, "read under the previous key");
  assert.equal(mdh.emulator.stats.delegatedParticipant, 1);
  const renewed = (await after.participantToken(ADA, { reason: "forced" })).access_token;
  assert.notEqual(renewed, first);
  const k = await keysOf(client);
  const kid = (await client.sendCommand(["GET", k.ada])).split(".")[1];
  assert.notEqual(kid, (await client.sendCommand(["GET", k.svc])).split(".")[1], "the new entry is under another key id than the old service token's");
  // An instance still on the old key alone cannot open the new entry: it fetches its own.
  const stale = (await before.participantToken(ADA)).access_token;
  assert.notEqual(stale, renewed);
  assert.equal(await mdh.whose(stale), ADA);
  assert.equal(mdh.emulator.stats.delegatedParticipant, 3);
});

test("metrics and spans through the real OpenTelemetry API and SDK; nothing identifying in them", async (t) => {
  const sdk = otelSdk(t);
  const redis = await startRedis(t);
  const mdh = await startEmulator(t);
  const client = await redisClient(t, redis);
  const broker = testBroker(mdh, {
    store: redisStore(client, { prefix: PREFIX }),
    telemetry: { meterProvider: sdk.meterProvider, tracerProvider: sdk.tracerProvider },
    rateLimit: { max: 1, windowMs: 60_000 },
  });
  const status = async (req) => (await broker.handle(req)).status;
  assert.equal(await status(pageRequest({ participant: ADA })), 200); // miss: service + participant calls
  assert.equal(await status(pageRequest({ participant: ADA })), 200); // hit
  assert.equal(await status(pageRequest({ participant: ADA, reason: "forced" })), 429); // over the limit of 1
  assert.equal(await status(pageRequest({})), 401);
  // Redis gone: served from this instance's memory (store fallback), then back (recovery).
  await redis.stop();
  const during = await broker.handle(pageRequest({ participant: ADA }));
  assert.equal(during.status, 200, JSON.stringify(await during.clone().json()));
  await redis.start();
  const m0 = await sdk.metrics();
  assert.equal(sum(m0[METRICS.storeTransitions], { "mdh_token.store.state": "fallback" }), 1);

  const m = await sdk.metrics();
  assert.equal(sum(m[METRICS.requests], { "mdh_token.outcome": "ok", "http.response.status_code": 200 }), 3);
  assert.equal(sum(m[METRICS.requests], { "mdh_token.outcome": "rate_limited", "http.response.status_code": 429 }), 1);
  assert.equal(sum(m[METRICS.requests], { "mdh_token.outcome": "not_signed_in", "http.response.status_code": 401 }), 1);
  assert.equal(sum(m[METRICS.requestDuration]), 5);
  assert.equal(sum(m[METRICS.upstreamCalls], { "mdh_token.grant": "service", "mdh_token.outcome": "ok" }), 1);
  assert.equal(sum(m[METRICS.upstreamCalls], { "mdh_token.grant": "participant", "mdh_token.outcome": "ok" }), 1);
  assert.equal(sum(m[METRICS.upstreamDuration]), 2);
  assert.equal(sum(m[METRICS.cacheLookups], { "mdh_token.cache.result": "miss" }), 1);
  assert.equal(sum(m[METRICS.cacheLookups], { "mdh_token.cache.result": "hit" }), 2);
  assert.equal(sum(m[METRICS.rateLimited]), 1);

  const spans = await sdk.spans();
  const requests = spans.filter((s) => s.name === SPANS.request);
  const upstreams = spans.filter((s) => s.name === SPANS.upstream);
  assert.equal(requests.length, 5);
  assert.equal(upstreams.length, 2);
  const first = requests[0].spanContext();
  for (const u of upstreams) {
    assert.equal(u.parentSpanContext?.spanId, first.spanId, "the upstream calls are children of the first request's span");
    assert.equal(u.spanContext().traceId, first.traceId);
  }
  assert.deepEqual(upstreams.map((u) => u.attributes["mdh_token.grant"]).sort(), ["participant", "service"]);
  // Never a token, an assertion, a key or a participant id: in attributes, events or names.
  const hay = JSON.stringify(spans.map((s) => [s.name, s.attributes, s.events.map((e) => [e.name, e.attributes])])) + JSON.stringify(m);
  for (const s of [...mdh.secrets(), ADA, encodeURIComponent(ADA), ADA.slice(0, 8)]) assert.ok(!hay.includes(s), "an identifier or secret in telemetry");
});

test("health: pass with a cached service token, probes never call MyDataHelps on their own, fail → 503, store fallback → warn", async (t) => {
  const redis = await startRedis(t);
  const mdh = await startEmulator(t);
  const client = await redisClient(t, redis);
  const broker = testBroker(mdh, { store: redisStore(client, { prefix: PREFIX }) });
  const h1 = await broker.health();
  assert.deepEqual(h1, { status: "pass", store: "shared", service_token: "ok", circuit: "closed" });
  assert.equal(mdh.emulator.stats.clientCredentials, 1, "the first probe obtained the service token");
  for (let i = 0; i < 20; i++) await broker.health();
  const url = (await mount(t, { node: (req, res) => broker.nodeHealth(req, res) })).replace("/api/mdh/token", "/healthz");
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal((await res.json()).status, "pass");
  // The page requests share the service token the probe obtained.
  await broker.participantToken(ADA);
  assert.equal(mdh.emulator.stats.clientCredentials, 1, "probes and pages: one service-token call in all");

  // Redis stops: the instance still serves from memory: warn, 200.
  await redis.stop();
  await new Promise((r) => setTimeout(r, 1_100)); // past the one-second sharing of a check result
  const h2 = await broker.health();
  assert.equal(h2.store, "fallback");
  assert.equal(h2.status, "warn");
  assert.equal((await broker.handleHealth()).status, 200);
  await redis.start();

  // A service account MyDataHelps refuses: fail, 503; the next probes repeat the verdict
  // without calling again.
  const up = fakeUpstream(() => ({ status: 400, body: { error: "invalid_client" } }));
  const refused = testBroker(mdh, { fetch: up.fetch });
  const bad = await refused.handleHealth();
  assert.equal(bad.status, 503);
  assert.deepEqual(await bad.json(), { status: "fail", store: "memory", service_token: "broker_misconfigured", circuit: "closed" });
  for (let i = 0; i < 10; i++) assert.equal((await refused.health()).status, "fail");
  assert.equal(up.calls.length, 1, "one MyDataHelps call for eleven probes");
  // The working one's probe meanwhile: still one service-token call.
  const ok = fakeUpstream(() => tokenResponse(300));
  const fine = testBroker(mdh, { fetch: ok.fetch });
  for (let i = 0; i < 10; i++) assert.equal((await fine.health()).status, "pass");
  assert.equal(ok.calls.length, 1);
});
