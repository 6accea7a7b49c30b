// Run by Deno and Bun (tests/broker/runtimes.test.js): the broker under another runtime,
// against the emulator the Node test started. Prints one JSON line of what it saw.
import { createBroker, memoryStore } from "../../broker/index.js";

const env = (name) => (typeof Deno !== "undefined" ? Deno.env.get(name) : process.env[name]);
const logs = [];
// A store that shows what is written to it, sealed as for Redis (Web Crypto HKDF + AES-GCM).
const inner = memoryStore();
const written = [];
const store = { ...inner, set: (key, value, ttlMs) => (written.push(value), inner.set(key, value, ttlMs)) };
const broker = createBroker({
  store,
  seal: true,
  tokenUrl: env("MDH_TOKEN_URL"),
  serviceAccount: env("MDH_ACCOUNT"),
  privateKey: env("MDH_KEY"), // a PKCS#1 PEM: wrapped into PKCS#8 without any Node API
  participant: (request) => request.headers.get("x-session-participant"),
  log: (line) => logs.push(line),
});
const ask = (reason, headers = {}) =>
  broker.handle(
    new Request("http://app.example/api/mdh/token", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Sec-Fetch-Site": "same-origin", "x-session-participant": env("MDH_PARTICIPANT"), ...headers },
      body: JSON.stringify({ reason }),
    }),
  );
const first = await ask("initial");
const again = await ask("scheduled");
const forced = await ask("forced");
const crossSite = await ask("initial", { "Sec-Fetch-Site": "cross-site" });
const out = {
  runtime: typeof Deno !== "undefined" ? `deno ${Deno.version.deno}` : typeof Bun !== "undefined" ? `bun ${Bun.version}` : "node",
  statuses: [first.status, again.status, forced.status, crossSite.status],
  cacheControl: first.headers.get("cache-control"),
  tokens: [(await first.json()).access_token, (await again.json()).access_token, (await forced.json()).access_token],
  logs,
  sealed: written.length >= 2 && written.every((v) => /^s1\.[A-Za-z0-9_-]{8}\.[0-9a-z]+\.[A-Za-z0-9_-]+$/.test(v)),
  written: written.join("\n"),
};
console.log(JSON.stringify(out));
