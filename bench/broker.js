// `npm run bench:broker`: what one mdh-token/broker instance can serve, on this machine.
//
// 1. Capacity: one server process (a child of this one) holds five HTTP servers on loopback
//    ports: a bare node:http handler answering a fixed token JSON of the same size (the
//    floor), and broker.node with the memory store, with Redis unsealed, with Redis sealed
//    (the default for a shared store) and with memory sealed. This process drives one of
//    them at a time with a bounded closed loop (CONNECTIONS keep-alive connections, each
//    sending its next POST when the answer to the last one is in) for ROUND_MS, rotating
//    through the five for ROUNDS rounds, so that load from other work on the machine falls
//    on all of them alike. Every answer is a cached participant token (checked), for three
//    participants. Reported: answers/s (median of rounds), p50 and p99 latency, and the
//    ratio to the bare handler of the same round.
// 2. Sealing: µs per seal and per open of a participant record (Web Crypto AES-GCM), and
//    handle() in-process p50 per cached answer with sealing on and off.
// 3. Fleet: three instances on one Redis, on a virtual clock, pages of P participants each
//    asking every instance now and then for 6 token lifetimes: MyDataHelps calls per
//    participant per token lifetime, and Redis commands per page request.
// Upstream is the demo's MyDataHelps emulator; redis-server is Debian's, started on a free
// port. Prints a table and writes bench/broker-results.json (git-ignored). A measurement,
// never a test: nothing here fails on a number.
import { fork } from "node:child_process";
import http from "node:http";
import net from "node:net";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "redis";
import { createBroker, memoryStore, redisStore } from "mdh-token/broker";
import { createSealer, sealingCodec } from "../broker/seal.js";
import { jsonCodec } from "../broker/records.js";
import { ROOT } from "./size.js";
import { ACCOUNT, ADA, BEN, CHLOE, PKCS8_PEM, startEmulator, startRedis, virtualClock } from "../tests/broker/helpers.js";

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 2_000);
const WARM_MS = 1_000;
const PARTICIPANTS = [ADA, BEN, CHLOE];
const OUT = path.join(ROOT, "bench/broker-results.json");
// BENCH_ONLY: a comma-separated subset to run (the bare handler always runs: ratios are to it).
const VARIANTS = ["bare", "memory", "redis", "redis sealed", "memory sealed"].filter((v) => v === "bare" || !process.env.BENCH_ONLY || process.env.BENCH_ONLY.split(",").includes(v));

const cleanups = [];
const scope = { after: (fn) => cleanups.push(fn) };

const makeBroker = (tokenUrl, store, seal, extra = {}) =>
  createBroker({
    tokenUrl,
    serviceAccount: ACCOUNT,
    privateKey: PKCS8_PEM,
    participant: (req) => (req instanceof Request ? req.headers.get("x-participant") : req.headers["x-participant"]),
    store,
    seal,
    rateLimit: false,
    ...extra,
  });

// ---- the server process ------------------------------------------------------------------

async function serve() {
  const mdh = await startEmulator(scope);
  const client = createClient({ url: process.env.BENCH_REDIS, ...(process.env.BENCH_NO_CMD_TIMEOUT ? { commandOptions: { timeout: 0 } } : {}) });
  client.on("error", () => {});
  await client.connect();
  const brokers = {
    memory: makeBroker(mdh.tokenUrl, null, false),
    redis: makeBroker(mdh.tokenUrl, redisStore(client, { prefix: "bench:plain:" }), false),
    "redis sealed": makeBroker(mdh.tokenUrl, redisStore(client, { prefix: "bench:sealed:" }), true),
    "memory sealed": makeBroker(mdh.tokenUrl, memoryStore(), true),
  };
  // The floor answers what a broker answers: the same fields, a token of the same length.
  const sample = await brokers.memory.participantToken(ADA);
  const fixed = JSON.stringify({ ...sample, access_token: "x".repeat(sample.access_token.length) });
  const handlers = {
    bare: (req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", "Content-Length": Buffer.byteLength(fixed) });
        res.end(fixed);
      });
    },
  };
  for (const [name, b] of Object.entries(brokers)) {
    for (const p of PARTICIPANTS) await b.participantToken(p); // cached from here on
    handlers[name] = (req, res) => b.node(req, res);
  }
  const ports = {};
  for (const [name, h] of Object.entries(handlers)) {
    const server = http.createServer({ keepAliveTimeout: 60_000 }, h);
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    ports[name] = server.address().port;
  }
  process.send({ ports, calls: { ...mdh.emulator.stats } });
  process.on("message", (m) => {
    if (m === "cpu") process.send({ cpuUs: (({ user, system }) => user + system)(process.cpuUsage()) });
    if (m === "stats") process.send({ calls: { ...mdh.emulator.stats } });
    if (m === "exit") process.exit(0);
  });
}

// ---- the load generator -------------------------------------------------------------------

const BODY = '{"reason":"initial"}';
const requestBytes = (port, participant) =>
  Buffer.from(
    `POST /api/mdh/token HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nSec-Fetch-Site: same-origin\r\n` +
      `x-participant: ${participant}\r\nContent-Length: ${BODY.length}\r\nConnection: keep-alive\r\n\r\n${BODY}`,
  );

/** One keep-alive connection in a closed loop: a raw HTTP/1.1 client, so that the load generator costs little. */
function connection(port, participant, record) {
  const request = requestBytes(port, participant);
  const sock = net.connect(port, "127.0.0.1");
  sock.setNoDelay(true);
  let buf = Buffer.alloc(0);
  let sentAt = 0;
  let stopped = false;
  let done;
  const finished = new Promise((r) => (done = r));
  const send = () => {
    if (stopped) return done();
    sentAt = performance.now();
    sock.write(request);
  };
  sock.on("connect", send);
  sock.on("error", (err) => {
    stopped = true;
    done(err);
  });
  sock.on("data", (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      const head = buf.indexOf("\r\n\r\n");
      if (head < 0) return;
      const headers = buf.subarray(0, head).toString("latin1");
      const len = Number(/\r\ncontent-length: *(\d+)/i.exec(headers)?.[1] ?? NaN);
      if (buf.length < head + 4 + len) return;
      const status = Number(headers.slice(9, 12));
      const body = buf.subarray(head + 4, head + 4 + len);
      buf = buf.subarray(head + 4 + len);
      record(performance.now() - sentAt, status, body);
      send();
    }
  });
  return {
    stop() {
      stopped = true;
      return finished.then(() => sock.destroy());
    },
  };
}

/** The server process's CPU time (user + system), µs. */
let askCpu = async () => 0;

/**
 * CONNECTIONS connections against `port` for `ms`: answers/s and latencies (ms), and the
 * server's CPU µs per answer (over the whole loop, ramp included): on a machine shared with
 * other work, CPU time per answer moves much less than answers per second.
 */
async function closedLoop(port, ms, check) {
  const lat = [];
  let bad = 0;
  let total = 0;
  let measuring = false;
  const cpu0 = await askCpu();
  const conns = Array.from({ length: CONNECTIONS }, (_, i) =>
    connection(port, PARTICIPANTS[i % PARTICIPANTS.length], (t, status, body) => {
      if (status !== 200 || (check && !check(i % PARTICIPANTS.length, body))) bad += 1;
      total += 1;
      if (measuring) lat.push(t);
    }),
  );
  await new Promise((r) => setTimeout(r, Math.min(300, ms / 4)));
  measuring = true;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  measuring = false;
  const elapsed = performance.now() - t0;
  await Promise.all(conns.map((c) => c.stop()));
  const cpuPerAnswer = ((await askCpu()) - cpu0) / total;
  if (bad) throw new Error(`${bad} answers were not the cached token`);
  lat.sort((a, b) => a - b);
  const at = (q) => lat[Math.min(lat.length - 1, Math.floor(q * (lat.length - 1)))];
  return { rps: (lat.length / elapsed) * 1000, p50: at(0.5), p99: at(0.99), n: lat.length, cpuUs: cpuPerAnswer };
}

const median = (xs) => {
  const a = [...xs].sort((x, y) => x - y);
  return a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
};

async function capacity(redisUrl) {
  // BENCH_SERVER_ARGS: node flags for the server process, e.g. "--cpu-prof" to see where its time goes.
  const execArgv = (process.env.BENCH_SERVER_ARGS ?? "").split(" ").filter(Boolean);
  const child = fork(fileURLToPath(import.meta.url), ["--serve"], { execArgv, env: { ...process.env, BENCH_REDIS: redisUrl }, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  cleanups.push(() => child.kill());
  const { ports } = await new Promise((resolve, reject) => {
    child.once("message", resolve);
    child.once("exit", (code) => reject(new Error(`bench server exited (${code})`)));
  });
  askCpu = () =>
    new Promise((resolve) => {
      child.once("message", (m) => resolve(m.cpuUs));
      child.send("cpu");
    });
  // Each participant's cached token, learnt from the first answer; every later one must match.
  const tokens = {};
  const check = (name) => (i, body) => {
    if (name === "bare") return true;
    const t = JSON.parse(body).access_token;
    tokens[name] ??= [];
    tokens[name][i] ??= t;
    return tokens[name][i] === t;
  };
  for (const name of VARIANTS) await closedLoop(ports[name], WARM_MS, check(name));
  const rounds = Object.fromEntries(VARIANTS.map((v) => [v, []]));
  for (let r = 0; r < ROUNDS; r++) {
    // A rotating order, so that no variant always runs first or after the same one.
    const order = VARIANTS.map((_, i) => VARIANTS[(i + r) % VARIANTS.length]);
    const got = {};
    for (const name of order) got[name] = await closedLoop(ports[name], ROUND_MS, check(name));
    for (const name of VARIANTS) rounds[name].push({ ...got[name], ratio: got[name].rps / got.bare.rps, cpuRatio: got.bare.cpuUs / got[name].cpuUs });
    process.stdout.write(`  round ${r + 1}/${ROUNDS}: ${VARIANTS.map((v) => `${v} ${Math.round(got[v].rps)}/s ${got[v].cpuUs.toFixed(0)} µs`).join(", ")}\n`);
  }
  child.send("stats");
  const { calls } = await new Promise((r) => child.once("message", r));
  child.send("exit");
  await new Promise((r) => child.once("exit", r));
  const summary = {};
  for (const name of VARIANTS) {
    const rs = rounds[name];
    summary[name] = {
      rps: median(rs.map((x) => x.rps)),
      ratio: median(rs.map((x) => x.ratio)),
      cpuUs: median(rs.map((x) => x.cpuUs)),
      cpuRatio: median(rs.map((x) => x.cpuRatio)),
      p50: median(rs.map((x) => x.p50)),
      p99: median(rs.map((x) => x.p99)),
      rounds: rs,
    };
  }
  return { summary, calls };
}

// ---- sealing, in-process -------------------------------------------------------------------

async function sealing(tokenUrl, client) {
  const sealer = createSealer({ secrets: [new TextEncoder().encode("k".repeat(32))] });
  const record = { kind: "participant_token", participant: ADA, token: "t".repeat(900), expiresAt: Date.now() + 3.6e6, lifetimeMs: 3.6e6, fetchedAt: Date.now() };
  const text = JSON.stringify(record);
  const per = async (n, fn) => {
    for (let i = 0; i < 2_000; i++) await fn(i);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await fn(i);
    return ((performance.now() - t0) / n) * 1000;
  };
  const sealed = await sealer.seal("ns:pt:ada", ADA, text);
  const sealUs = await per(20_000, () => sealer.seal("ns:pt:ada", ADA, text));
  const openUs = await per(20_000, () => sealer.open("ns:pt:ada", ADA, sealed));
  const plainDecodeUs = await per(20_000, () => jsonCodec.decode("ns:pt:ada", ADA, text));
  // The sealing codec remembers the last value opened per key: what a cached answer pays.
  const codec = sealingCodec(jsonCodec, sealer);
  const rememberedUs = await per(20_000, () => codec.decode("ns:pt:ada", ADA, sealed));

  const request = () =>
    new Request("http://app.example/api/mdh/token", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Sec-Fetch-Site": "same-origin", "x-participant": ADA },
      body: BODY,
    });
  const handleUs = async (broker) => {
    await broker.handle(request());
    const us = [];
    for (let i = 0; i < 22_000; i++) {
      const t0 = performance.now();
      const res = await broker.handle(request());
      await res.text();
      if (i >= 2_000) us.push((performance.now() - t0) * 1000);
    }
    return median(us);
  };
  const inProcess = {};
  for (let round = 0; round < 3; round++) {
    for (const [name, store, seal] of [
      ["memory", () => null, false],
      ["memory sealed", () => memoryStore(), true],
      ["redis", () => redisStore(client, { prefix: `bench:ip${round}p:` }), false],
      ["redis sealed", () => redisStore(client, { prefix: `bench:ip${round}s:` }), true],
    ]) {
      (inProcess[name] ??= []).push(await handleUs(makeBroker(tokenUrl, store(), seal)));
    }
  }
  // CPU per cached answer in-process, 20 at a time, alternating rounds: redisStore as it is
  // (node-redis told not to arm its per-command timer), the same with the client's own
  // 5 s per-command timer (what a plain `(args) => client.sendCommand(args)` gets), sealed
  // and not.
  const cpuVariants = {
    "redis sealed": makeBroker(tokenUrl, redisStore(client, { prefix: "bench:cpu1:" }), true),
    "redis": makeBroker(tokenUrl, redisStore(client, { prefix: "bench:cpu2:" }), false),
    "redis sealed, client timer per command": makeBroker(tokenUrl, redisStore((a) => client.sendCommand(a), { prefix: "bench:cpu3:" }), true),
  };
  const cpuPerAnswer = async (broker) => {
    const cpu0 = process.cpuUsage();
    let n = 0;
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        for (let i = 0; i < 150; i++) {
          await (await broker.handle(request())).text();
          n++;
        }
      }),
    );
    const cu = process.cpuUsage(cpu0);
    return (cu.user + cu.system) / n;
  };
  const cpu = Object.fromEntries(Object.keys(cpuVariants).map((k) => [k, []]));
  for (const b of Object.values(cpuVariants)) await b.handle(request());
  for (let round = 0; round < 12; round++) {
    const names = Object.keys(cpuVariants);
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + round) % names.length];
      cpu[name].push(await cpuPerAnswer(cpuVariants[name]));
    }
  }
  return {
    cpuUsPerAnswer: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, median(v)])),
    sealUs,
    openUs,
    plainDecodeUs,
    rememberedUs,
    sealedBytes: sealed.length,
    plainBytes: text.length,
    handleP50Us: Object.fromEntries(Object.entries(inProcess).map(([k, v]) => [k, median(v)])),
  };
}

// ---- three instances over token lifetimes ----------------------------------------------------

async function fleetRun(redis) {
  const clock = virtualClock();
  const lifetime = 3600;
  const mdh = await startEmulator(scope, { now: clock.now, lifetime, serviceLifetime: 300 });
  let commands = 0;
  const clients = [];
  for (let i = 0; i < 3; i++) {
    const c = createClient({ url: redis.url });
    c.on("error", () => {});
    await c.connect();
    cleanups.push(() => c.destroy());
    clients.push(c);
  }
  const counted = (c) => (args) => {
    commands += 1;
    return c.sendCommand(args);
  };
  const instances = clients.map((c) => makeBroker(mdh.tokenUrl, redisStore(counted(c), { prefix: "bench:fleet:" }), true, { now: clock.now, rateLimit: { max: 1e9, windowMs: 60_000 } }));
  const participants = PARTICIPANTS;
  // Two pages (devices) per participant, the second opened a few minutes after the first;
  // each asks on load ("initial") and then renews ("scheduled") when mdh-token would: at
  // expires_in − min(renewBeforeSeconds 120, half the lifetime), each time through a random
  // instance. Steps of 30 virtual seconds.
  const lifetimes = 6;
  const stepMs = 30_000;
  const start = clock.now();
  const pages = participants.flatMap((p, i) => [0, 1].map((d) => ({ p, next: d * (7 + 3 * i) * 60_000, started: false })));
  let requests = 0;
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let t = 0; t < lifetimes * lifetime * 1000; t += stepMs) {
    for (const page of pages) {
      if (t < page.next) continue;
      const tok = await instances[Math.floor(rand() * 3)].participantToken(page.p, { reason: page.started ? "scheduled" : "initial" });
      page.started = true;
      page.next = clock.now() - start + (tok.expires_in - Math.min(120, tok.expires_in / 2)) * 1000;
      requests += 1;
    }
    clock.advance(stepMs);
  }
  const stats = { ...mdh.emulator.stats };
  await mdh.close();
  return {
    participants: participants.length,
    lifetimes,
    requests,
    participantCallsPerParticipantPerLifetime: stats.delegatedParticipant / participants.length / lifetimes,
    serviceCalls: stats.clientCredentials,
    redisCommandsPerRequest: commands / requests,
  };
}

// ---- main -------------------------------------------------------------------------------------

async function main() {
  const redis = await startRedis(scope);
  const mdh = await startEmulator(scope);
  const client = createClient({ url: redis.url });
  client.on("error", () => {});
  await client.connect();
  cleanups.push(() => client.destroy());
  const machine = `node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model?.trim()}, load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`;
  console.log(`\nmdh-token/broker bench (${machine})`);
  if (process.env.BENCH_FLEET_ONLY) return console.log(JSON.stringify(await fleetRun(redis))); // the fleet part alone
  console.log(`\ncapacity: ${CONNECTIONS} connections, closed loop, ${ROUNDS} rounds × ${ROUND_MS} ms per variant, interleaved`);
  const cap = await capacity(redis.url);
  console.log(`\n${"variant".padEnd(16)} ${"answers/s".padStart(10)} ${"× bare".padStart(7)} ${"p50".padStart(8)} ${"p99".padStart(8)} ${"CPU/answer".padStart(11)} ${"× bare".padStart(7)} ${"answers/CPU-s".padStart(14)}`);
  for (const [name, s] of Object.entries(cap.summary)) {
    console.log(
      `${name.padEnd(16)} ${String(Math.round(s.rps)).padStart(10)} ${s.ratio.toFixed(2).padStart(7)} ${`${s.p50.toFixed(2)} ms`.padStart(8)} ${`${s.p99.toFixed(2)} ms`.padStart(8)} ` +
        `${`${s.cpuUs.toFixed(1)} µs`.padStart(11)} ${s.cpuRatio.toFixed(2).padStart(7)} ${String(Math.round(1e6 / s.cpuUs)).padStart(14)}`,
    );
  }
  console.log(`upstream calls in the server process: ${cap.calls.clientCredentials} service-token, ${cap.calls.delegatedParticipant} participant-token (all answers above were cache hits)`);

  if (process.env.BENCH_CAPACITY_ONLY) return; // a quick look (with BENCH_ONLY, BENCH_SERVER_ARGS)
  const seal = await sealing(mdh.tokenUrl, client);
  console.log(`\nsealing: seal ${seal.sealUs.toFixed(1)} µs, open ${seal.openUs.toFixed(1)} µs, plain JSON decode ${seal.plainDecodeUs.toFixed(1)} µs, remembered open ${seal.rememberedUs.toFixed(2)} µs per record; ${seal.plainBytes} B plain → ${seal.sealedBytes} B sealed`);
  console.log(`handle() in-process, p50 per cached answer: ${Object.entries(seal.handleP50Us).map(([k, v]) => `${k} ${v.toFixed(1)} µs`).join(", ")}`);
  console.log(`handle() in-process, CPU per cached answer (20 at a time): ${Object.entries(seal.cpuUsPerAnswer).map(([k, v]) => `${k} ${v.toFixed(1)} µs`).join(", ")}`);

  const fl = await fleetRun(redis);
  console.log(
    `\nfleet: 3 instances, ${fl.participants} participants, ${fl.lifetimes} token lifetimes (virtual clock), ${fl.requests} page requests: ` +
      `${fl.participantCallsPerParticipantPerLifetime.toFixed(2)} participant-token calls per participant per lifetime, ${fl.serviceCalls} service-token calls, ` +
      `${fl.redisCommandsPerRequest.toFixed(2)} Redis commands per page request`,
  );
  fs.writeFileSync(OUT, JSON.stringify({ at: new Date().toISOString(), machine, connections: CONNECTIONS, rounds: ROUNDS, roundMs: ROUND_MS, capacity: cap, sealing: seal, fleet: fl }, null, 2));
  console.log(`wrote ${path.relative(ROOT, OUT)}`);
}

if (process.argv.includes("--serve")) {
  await serve();
} else {
  try {
    await main();
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}
