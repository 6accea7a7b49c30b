// Many broker instances on one real redis-server (Debian's, started here on a free port):
// they share the service token and participant tokens and make one upstream call at a time
// per key; with Redis gone each keeps serving what it has, and never crosses participants.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "redis";
import Redis from "ioredis";
import { redisStore } from "mdh-token/broker";
import { ADA, BEN, CHLOE, startEmulator, startRedis, testBroker, mount, post, until, assertNoSecret } from "./helpers.js";

/** A node-redis client the way a host makes one (errors handled, quick reconnects). */
async function nodeRedis(t, redis) {
  const client = createClient({ url: redis.url, socket: { reconnectStrategy: 50, connectTimeout: 1_000 } });
  client.on("error", () => {}); // a host logs these; an unhandled 'error' would crash the process
  await client.connect();
  t.after(() => client.destroy());
  return client;
}

function ioRedis(t, redis) {
  const client = new Redis(redis.port, "127.0.0.1", { lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  client.on("error", () => {});
  t.after(() => client.disconnect());
  return client;
}

/** `n` broker instances, each on its own HTTP server, sharing `clients[i]`'s Redis. */
async function instances(t, mdh, clients, options = {}) {
  const logs = clients.map(() => []);
  const brokers = clients.map((client, i) =>
    testBroker(mdh, { store: redisStore(client, { prefix: "t:" }), log: (l) => logs[i].push(l), ...options }),
  );
  const urls = [];
  for (const b of brokers) urls.push(await mount(t, b));
  return { brokers, urls, logs };
}

test("3 instances × 50 concurrent requests for one participant → 1 service-token and 1 participant-token call", async (t) => {
  const redis = await startRedis(t);
  const mdh = await startEmulator(t);
  const clients = await Promise.all([0, 1, 2].map(() => nodeRedis(t, redis)));
  const { urls, logs } = await instances(t, mdh, clients);
  const started = performance.now();
  const answers = await Promise.all(urls.flatMap((url) => Array.from({ length: 50 }, () => post(url, { participant: ADA }))));
  const ms = Math.round(performance.now() - started);
  assert.deepEqual([...new Set(answers.map((r) => r.status))], [200]);
  const tokens = new Set(await Promise.all(answers.map(async (r) => (await r.json()).access_token)));
  console.log(`# 3 instances × 50 requests: ${mdh.emulator.stats.clientCredentials} service-token call(s), ${mdh.emulator.stats.delegatedParticipant} participant-token call(s), ${tokens.size} distinct token(s), ${ms} ms`);
  assert.equal(mdh.emulator.stats.clientCredentials, 1);
  assert.equal(mdh.emulator.stats.delegatedParticipant, 1);
  assert.equal(tokens.size, 1, "all 150 got the same token");
  assert.equal(await mdh.whose([...tokens][0]), ADA);
  // A second participant on all three: one more participant call, the service token reused.
  const ben = await Promise.all(urls.flatMap((url) => Array.from({ length: 10 }, () => post(url, { participant: BEN }))));
  const benTokens = new Set(await Promise.all(ben.map(async (r) => (await r.json()).access_token)));
  assert.equal(benTokens.size, 1);
  assert.equal(await mdh.whose([...benTokens][0]), BEN);
  assert.equal(mdh.emulator.stats.clientCredentials, 1);
  assert.equal(mdh.emulator.stats.delegatedParticipant, 2);
  assertNoSecret(assert, logs.flat(), mdh.secrets());
  // What Redis holds is namespaced and never a bare token key.
  const keys = await clients[0].sendCommand(["KEYS", "*"]);
  assert.ok(keys.length >= 2 && keys.every((k) => k.startsWith("t:")), keys.join(" "));
});

test("ioredis clients work the same; a renewal forced on one instance is what the others serve next", async (t) => {
  const redis = await startRedis(t);
  const mdh = await startEmulator(t);
  const clients = [ioRedis(t, redis), ioRedis(t, redis)];
  await until(() => clients.every((c) => c.status === "ready"), { what: "ioredis ready" });
  const { urls } = await instances(t, mdh, clients);
  const answers = await Promise.all(urls.flatMap((url) => Array.from({ length: 20 }, () => post(url, { participant: ADA }))));
  const tokens = new Set(await Promise.all(answers.map(async (r) => (await r.json()).access_token)));
  assert.equal(tokens.size, 1);
  assert.equal(mdh.emulator.stats.clientCredentials, 1);
  assert.equal(mdh.emulator.stats.delegatedParticipant, 1);
  const forced = await (await post(urls[0], { participant: ADA, reason: "forced" })).json();
  assert.ok(!tokens.has(forced.access_token));
  const elsewhere = await (await post(urls[1], { participant: ADA, reason: "initial" })).json();
  assert.equal(elsewhere.access_token, forced.access_token, "the shared store has the newest token");
  assert.equal(mdh.emulator.stats.delegatedParticipant, 2);
});

test("concurrent forced renewals on 3 instances share one upstream call; the rate limit is shared too", async (t) => {
  const redis = await startRedis(t);
  const mdh = await startEmulator(t);
  const clients = await Promise.all([0, 1, 2].map(() => nodeRedis(t, redis)));
  // Participant grants answer 300 ms late, so that all three forced requests are in before it.
  let slow = false;
  const fetch = async (url, init) => {
    if (slow && String(init.body).includes("grant_type=delegated_participant")) await new Promise((r) => setTimeout(r, 300));
    return globalThis.fetch(url, init);
  };
  const { urls } = await instances(t, mdh, clients, { rateLimit: { max: 3, windowMs: 60_000 }, fetch });
  const first = await (await post(urls[0], { participant: ADA })).json();
  slow = true;
  const forced = await Promise.all(urls.map((url) => post(url, { participant: ADA, reason: "forced" })));
  assert.deepEqual(forced.map((r) => r.status), [200, 200, 200]);
  const tokens = new Set(await Promise.all(forced.map(async (r) => (await r.json()).access_token)));
  assert.equal(tokens.size, 1, "one new token for the three");
  assert.ok(!tokens.has(first.access_token));
  assert.equal(mdh.emulator.stats.delegatedParticipant, 2, "one upstream call for three concurrent forced renewals");
  slow = false;
  // The window allows 3 calls across all instances: one more anywhere, then 429 everywhere.
  assert.equal((await post(urls[1], { participant: ADA, reason: "forced" })).status, 200);
  for (const url of urls) {
    const res = await post(url, { participant: ADA, reason: "forced" });
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers.get("retry-after")) > 0);
  }
  assert.equal(mdh.emulator.stats.delegatedParticipant, 3);
});

test("Redis down: each instance serves from its own copy, says so, and never crosses participants", async (t) => {
  const redis = await startRedis(t);
  const mdh = await startEmulator(t);
  const clients = await Promise.all([0, 1].map(() => nodeRedis(t, redis)));
  const { urls, logs } = await instances(t, mdh, clients);
  const token = async (i, participant, reason = "initial") => {
    const res = await post(urls[i], { participant, reason });
    assert.equal(res.status, 200, `${participant} on instance ${i}: ${logs[i].join(" | ")}`);
    return (await res.json()).access_token;
  };
  const ada = await token(0, ADA);
  assert.equal(await token(1, ADA), ada, `instance 1 read ADA's token from Redis: ${logs.flat().join(" | ")}`);
  const ben = await token(1, BEN);
  const calls = mdh.emulator.stats.delegatedParticipant;
  assert.equal(calls, 2);

  await redis.stop();
  // Both participants, interleaved and concurrent, on the instance that has both copies.
  const during = await Promise.all([ADA, BEN, ADA, BEN, ADA, BEN].map((p) => token(1, p).then((tok) => [p, tok])));
  for (const [p, tok] of during) assert.equal(tok, p === ADA ? ada : ben, `${p} got their own token`);
  assert.equal(await mdh.whose(ada), ADA);
  assert.equal(await mdh.whose(ben), BEN);
  assert.equal(mdh.emulator.stats.delegatedParticipant, calls, "served from the local copies, no upstream call");
  // Instance 0 never saw BEN: it asks MyDataHelps directly, once, for BEN.
  const ben0 = await Promise.all([1, 2, 3].map(() => token(0, BEN)));
  assert.equal(new Set(ben0).size, 1);
  assert.equal(await mdh.whose(ben0[0]), BEN);
  const chloe = await token(1, CHLOE);
  assert.equal(await mdh.whose(chloe), CHLOE);
  assert.match(logs[1].join("\n"), /cache store unavailable \(\w+\); serving from this instance's memory cache/);
  assert.equal(logs[1].filter((l) => l.includes("cache store unavailable")).length, 1, "said once per outage, not per request");

  await redis.start();
  await until(() => clients.every((c) => c.isReady), { what: "node-redis reconnected" });
  await until(
    async () => {
      await Promise.all([token(0, ADA), token(1, ADA)]);
      return logs.every((log) => log.some((l) => l.includes("cache store answers again")));
    },
    { what: "both instances noticing Redis is back" },
  );
  // Shared again: a forced renewal on instance 1 is what instance 0 serves next.
  const fresh = await token(1, ADA, "forced");
  assert.equal(await token(0, ADA), fresh);
  assertNoSecret(assert, logs.flat(), mdh.secrets());
});
