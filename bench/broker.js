// `npm run bench:broker`: latency of mdh-token/broker's cached answers (a participant token
// already in the cache, reason "initial"), p50 / p99, on this machine:
//   - handle(Request) in-process, memory store and Redis store;
//   - POST over loopback HTTP to broker.node on node:http (keep-alive client), both stores,
//     beside the same server answering a fixed JSON body (the HTTP floor).
// Upstream is the demo's MyDataHelps emulator on loopback; redis-server is Debian's, started
// on a free port. Prints a table and writes bench/broker-results.json (git-ignored).
// A measurement, never a test: nothing here fails on a number.
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createClient } from "redis";
import { createBroker, redisStore } from "mdh-token/broker";
import { ROOT } from "./size.js";
import { ACCOUNT, ADA, PKCS8_PEM, startEmulator, startRedis } from "../tests/broker/helpers.js";

const IN_PROCESS = 20_000; // requests per in-process figure (after WARMUP)
const OVER_HTTP = 4_000; // requests per HTTP figure
const WARMUP = 2_000;
const OUT = path.join(ROOT, "bench/broker-results.json");

const cleanups = [];
const scope = { after: (fn) => cleanups.push(fn) };

function percentiles(samples) {
  const a = [...samples].sort((x, y) => x - y);
  const at = (q) => a[Math.min(a.length - 1, Math.floor(q * (a.length - 1)))];
  return { n: a.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: a[a.length - 1] };
}

const request = () =>
  new Request("http://app.example/api/mdh/token", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Sec-Fetch-Site": "same-origin", "x-participant": ADA },
    body: '{"reason":"initial"}',
  });

async function inProcess(broker) {
  const token = (await (await broker.handle(request())).json()).access_token;
  for (let i = 0; i < WARMUP; i++) await broker.handle(request());
  const us = [];
  for (let i = 0; i < IN_PROCESS; i++) {
    const t0 = performance.now();
    const res = await broker.handle(request());
    const body = await res.json();
    us.push((performance.now() - t0) * 1000);
    if (body.access_token !== token) throw new Error("a cached answer changed token: not a cache hit");
  }
  return percentiles(us);
}

async function overHttp(handler, check) {
  const server = http.createServer(handler);
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const { port } = server.address();
  const once = () =>
    new Promise((resolve, reject) => {
      const req = http.request(
        { host: "127.0.0.1", port, path: "/api/mdh/token", method: "POST", agent, headers: { "Content-Type": "application/json", "Sec-Fetch-Site": "same-origin", "x-participant": ADA } },
        (res) => {
          let data = "";
          res.setEncoding("utf8");
          res.on("data", (c) => (data += c));
          res.on("end", () => (res.statusCode === 200 ? resolve(data) : reject(new Error(`status ${res.statusCode}`))));
        },
      );
      req.on("error", reject);
      req.end('{"reason":"initial"}');
    });
  const first = JSON.parse(await once()).access_token;
  for (let i = 0; i < WARMUP; i++) await once();
  const us = [];
  for (let i = 0; i < OVER_HTTP; i++) {
    const t0 = performance.now();
    const data = await once();
    us.push((performance.now() - t0) * 1000);
    if (check && JSON.parse(data).access_token !== first) throw new Error("a cached answer changed token: not a cache hit");
  }
  agent.destroy();
  await new Promise((r) => server.close(r));
  return percentiles(us);
}

async function main() {
  const mdh = await startEmulator(scope);
  const redis = await startRedis(scope);
  const client = createClient({ url: redis.url });
  client.on("error", () => {});
  await client.connect();
  cleanups.push(() => client.destroy());
  const make = (store) =>
    createBroker({
      tokenUrl: mdh.tokenUrl,
      serviceAccount: ACCOUNT,
      privateKey: PKCS8_PEM,
      participant: (req) => (req instanceof Request ? req.headers.get("x-participant") : req.headers["x-participant"]),
      store,
      rateLimit: false,
    });
  const memory = make(null);
  const shared = make(redisStore(client, { prefix: "bench:" }));
  const fixed = JSON.stringify({ access_token: "x".repeat(64), expires_in: 3600, token_type: "Bearer" });
  const rows = {
    "handle(), memory store": await inProcess(memory),
    "handle(), Redis store": await inProcess(shared),
    "HTTP floor (fixed JSON, no broker)": await overHttp((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(fixed) });
        res.end(fixed);
      });
    }),
    "HTTP → node(), memory store": await overHttp((req, res) => memory.node(req, res), true),
    "HTTP → node(), Redis store": await overHttp((req, res) => shared.node(req, res), true),
  };
  const upstream = { ...mdh.emulator.stats };
  const fmt = (us) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${Math.round(us)} µs`);
  console.log(`\nmdh-token/broker: cached answers (node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")})\n`);
  console.log(`${"case".padEnd(38)} ${"n".padStart(6)} ${"p50".padStart(9)} ${"p90".padStart(9)} ${"p99".padStart(9)} ${"max".padStart(9)}`);
  for (const [name, p] of Object.entries(rows)) {
    console.log(`${name.padEnd(38)} ${String(p.n).padStart(6)} ${fmt(p.p50).padStart(9)} ${fmt(p.p90).padStart(9)} ${fmt(p.p99).padStart(9)} ${fmt(p.max).padStart(9)}`);
  }
  console.log(`\nupstream calls during the run: ${upstream.clientCredentials} service-token, ${upstream.delegatedParticipant} participant-token (one per broker: the rest were cache hits)`);
  fs.writeFileSync(OUT, JSON.stringify({ at: new Date().toISOString(), node: process.version, loadavg: os.loadavg(), unit: "µs", rows, upstream }, null, 2));
  console.log(`wrote ${path.relative(ROOT, OUT)}`);
}

try {
  await main();
} finally {
  for (const fn of cleanups.reverse()) await fn();
}
