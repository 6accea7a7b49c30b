// Shared set-up for the mdh-token/broker tests: the MyDataHelps emulator of the demo
// (signature, aud, exp and single-use jti checked) on a loopback port, brokers mounted on
// node:http, a real redis-server on a free port in a temp dir, and leak checks.
import { spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createBroker } from "mdh-token/broker";
import { createEmulator, TOKEN_PATH, PARTICIPANT_PATH } from "../../www/lib/emulator.js";
import { EMULATED_PARTICIPANTS } from "../../www/lib/participants.js";

export const ACCOUNT = "RKStudio.1234.broker-test";
// One key pair per test process: generating RSA keys dominates otherwise.
export const KEYS = generateKeyPairSync("rsa", { modulusLength: 2048 });
export const PKCS8_PEM = KEYS.privateKey.export({ type: "pkcs8", format: "pem" });
export const PKCS1_PEM = KEYS.privateKey.export({ type: "pkcs1", format: "pem" });
export const [ADA, BEN, CHLOE] = EMULATED_PARTICIPANTS.map((p) => p.participantID);

import { virtualClock } from "../support/clock.js";
export { virtualClock };

import { until } from "../support/poll.js";
export { until };

const listen = (server) => new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));
const closeServer = (server) =>
  new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

/**
 * The demo's MyDataHelps emulator on its own loopback server. `seen` records every form
 * the token endpoint received (client assertions included) for the leak checks.
 */
export async function startEmulator(t, { now = Date.now, lifetime = 3600, serviceLifetime = 300, slowMs = 5_000 } = {}) {
  const emulator = createEmulator({
    serviceAccounts: new Map([[ACCOUNT, KEYS.publicKey]]),
    participants: EMULATED_PARTICIPANTS,
    now,
    participantTokenLifetimeSeconds: lifetime,
    serviceTokenLifetimeSeconds: serviceLifetime,
    slowMs,
  });
  const seen = [];
  const server = http.createServer((req, res) => {
    const p = new URL(req.url, "http://x").pathname;
    if (p === TOKEN_PATH) {
      // Tee the form for the tests, then hand the emulator a fresh copy of the request body.
      const chunks = [];
      req.on("data", (c) => chunks.push(c));
      req.on("end", () => seen.push(Buffer.concat(chunks).toString("utf8")));
    }
    emulator.handle(req, res, p).then(
      (handled) => {
        if (!handled) {
          res.writeHead(404);
          res.end();
        }
      },
      () => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      },
    );
  });
  const port = await listen(server);
  const tokenUrl = `http://127.0.0.1:${port}${TOKEN_PATH}`;
  emulator.setTokenUrl(tokenUrl);
  const close = async () => {
    emulator.close();
    await closeServer(server);
  };
  t?.after(close);
  return {
    emulator,
    tokenUrl,
    seen,
    close,
    /** Every secret that went over the wire: issued tokens and the client assertions. */
    secrets() {
      const assertions = seen.map((f) => new URLSearchParams(f).get("client_assertion")).filter(Boolean);
      return [...emulator.issuedTokens(), ...assertions];
    },
    /** Whose participant token this is, asked of the emulator's participant API. */
    async whose(accessToken) {
      const res = await fetch(`http://127.0.0.1:${port}${PARTICIPANT_PATH}`, { headers: { Authorization: `Bearer ${accessToken}` } });
      return res.status === 200 ? (await res.json()).participantID : `status ${res.status}`;
    },
  };
}

/** Key material that must never reach a log line: the PEM bodies, in 40-character pieces. */
export function keyPieces() {
  const pieces = [];
  for (const pem of [PKCS8_PEM, PKCS1_PEM]) {
    const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
    for (let i = 0; i + 40 <= b64.length; i += 40) pieces.push(b64.slice(i, i + 40));
  }
  return pieces;
}

/** Asserts that no secret (nor a 40-character piece of one) is in `lines`. */
export function assertNoSecret(assert, lines, secrets) {
  const hay = lines.join("\n");
  for (const s of [...secrets, ...keyPieces()]) {
    for (let i = 0; i + 40 <= s.length; i += 20) {
      if (hay.includes(s.slice(i, i + 40))) assert.fail(`a secret reached the log: …${s.slice(i, i + 6)}…`);
    }
    if (s.length < 40 && s.length >= 16 && hay.includes(s)) assert.fail("a short secret reached the log");
  }
}

/** createBroker against `mdh` with test defaults; `participant` reads the x-test-participant header. */
export function testBroker(mdh, options = {}) {
  return createBroker({
    tokenUrl: mdh.tokenUrl,
    serviceAccount: ACCOUNT,
    privateKey: PKCS8_PEM,
    // Stands in for the host's session lookup (a cookie → session store in real life).
    participant: (req) => (req instanceof Request ? req.headers.get("x-test-participant") : req.headers["x-test-participant"]) ?? null,
    ...options,
  });
}

/** The POST mdh-token sends, as a Web Request. */
export function pageRequest({ participant, reason = "initial", url = "http://app.example/api/mdh/token", headers = {}, body } = {}) {
  return new Request(url, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "Sec-Fetch-Site": "same-origin",
      ...(participant ? { "x-test-participant": participant } : {}),
      ...headers,
    },
    body: body ?? JSON.stringify({ reason }),
  });
}

/** Mounts `broker.node` on a loopback node:http server; returns its URL. */
export async function mount(t, broker) {
  const server = http.createServer((req, res) => broker.node(req, res));
  const port = await listen(server);
  t?.after(() => closeServer(server));
  return `http://127.0.0.1:${port}/api/mdh/token`;
}

/** The POST mdh-token sends, over HTTP. */
export function post(url, { participant, reason = "initial", headers = {}, body } = {}) {
  return fetch(url, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      ...(participant ? { "x-test-participant": participant } : {}),
      ...headers,
    },
    body: body ?? JSON.stringify({ reason }),
  });
}

/** A free loopback TCP port (bound, then released). */
export async function freePort() {
  const srv = net.createServer();
  const port = await listen(srv);
  await new Promise((r) => srv.close(r));
  return port;
}

/** +PONG from a Redis server on `port`, or false. */
function ping(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    let data = "";
    sock.setTimeout(500, () => (sock.destroy(), resolve(false)));
    sock.on("error", () => resolve(false));
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      data += d;
      if (data.includes("\r\n")) {
        sock.destroy();
        resolve(data.startsWith("+PONG"));
      }
    });
  });
}

/**
 * A real redis-server (Debian's) on a free loopback port, with a temp dir and no
 * persistence; `stop()` ends it (by its pid) and `start()` brings it back on the same port.
 */
export async function startRedis(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mdh-token-redis-"));
  const port = await freePort();
  let proc = null;
  const r = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      proc = spawn(
        "redis-server",
        ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", "--logfile", path.join(dir, "redis.log")],
        { stdio: "ignore" },
      );
      const exited = new Promise((resolve) => proc.once("exit", resolve));
      proc.exited = exited;
      await until(() => ping(port), { what: `redis-server on port ${port}`, timeout: 10_000 });
    },
    async stop() {
      if (!proc || proc.exitCode !== null) return;
      proc.kill("SIGTERM");
      await proc.exited;
      proc = null;
    },
  };
  await r.start();
  t?.after(async () => {
    await r.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return r;
}

/** A scripted upstream: `script` answers each token-endpoint call; `calls` records the forms. */
export function fakeUpstream(script) {
  const calls = [];
  const fetch = async (url, init) => {
    const form = new URLSearchParams(init.body);
    calls.push({ url, form, init });
    const step = await script(form, calls.length);
    if (step instanceof Response) return step;
    const { status = 200, body, headers = {} } = step;
    const text = typeof body === "string" ? body : JSON.stringify(body);
    return new Response(text, { status, headers: { "Content-Type": "application/json", ...headers } });
  };
  return { fetch, calls, grants: (g) => calls.filter((c) => c.form.get("grant_type") === g).length };
}

/** A token response (RFC 6749 §5.1) with a fresh random access token. */
let serial = 0;
export function tokenResponse(expiresIn = 3600, prefix = "tok") {
  serial += 1;
  return { status: 200, body: { access_token: `${prefix}${serial}x${"A".repeat(40)}${Math.random().toString(36).slice(2)}`, expires_in: expiresIn, token_type: "Bearer" } };
}
