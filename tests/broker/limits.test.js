// The broker's bounds that a simulation world does not express well: the per-instance cap
// on concurrent upstream calls with many participants at once, and the request deadline
// for a trickled body or a participant() that never settles. Time is virtual: timers fire
// when the test says so.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { makeBroker } from "../../broker/broker.js";
import { ACCOUNT, PKCS8_PEM, pageRequest, tokenResponse } from "./helpers.js";

const FAKE_URL = "https://mdh.example/identityserver/connect/token";
const flush = () => new Promise((resolve) => setImmediate(resolve));

/** A runtime on a virtual clock: `advance(ms)` fires the timers due. */
function virtualRuntime() {
  let t = 0;
  let ids = 0;
  const timers = new Map();
  const rt = {
    now: () => 1_768_467_600_000 + t,
    mono: () => t,
    setTimer: (fn, ms) => {
      const id = ++ids;
      timers.set(id, { at: t + ms, fn });
      return id;
    },
    clearTimer: (id) => timers.delete(id),
    sleep: (ms) => new Promise((resolve) => rt.setTimer(resolve, ms)),
    randomId: () => `id${++ids}`,
    sha256: async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)),
    async advance(ms) {
      const end = t + ms;
      for (;;) {
        await flush();
        const due = [...timers].filter(([, x]) => x.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        timers.delete(due[0]);
        t = due[1].at;
        due[1].fn();
      }
      t = end;
      await flush();
    },
  };
  return rt;
}

function broker(options = {}, fetch) {
  const runtime = virtualRuntime();
  const b = makeBroker(
    {
      tokenUrl: FAKE_URL,
      serviceAccount: ACCOUNT,
      privateKey: PKCS8_PEM,
      participant: (req) => (req instanceof Request ? req.headers.get("x-test-participant") : req.headers["x-test-participant"]) ?? null,
      rateLimit: false,
      ...options,
    },
    { runtime, fetch, credentials: { key: Promise.resolve(null), namespace: Promise.resolve("ns"), assertion: async () => "assertion" } },
  );
  return { b, runtime };
}

/** A promise's state without waiting for it. */
function watch(promise) {
  const w = { settled: false, value: undefined };
  promise.then((v) => Object.assign(w, { settled: true, value: v }), (e) => Object.assign(w, { settled: true, value: e }));
  return w;
}

test("at most 8 upstream calls are open at once per instance; the others get 503 with Retry-After, not a call", async () => {
  let open = 0;
  let most = 0;
  const waiting = [];
  const fetch = async (url, init) => {
    const form = new URLSearchParams(init.body);
    if (form.get("grant_type") === "client_credentials") return new Response(JSON.stringify(tokenResponse(300, "svc").body), { status: 200 });
    open++;
    most = Math.max(most, open);
    await new Promise((resolve) => waiting.push(resolve));
    open--;
    return new Response(JSON.stringify(tokenResponse(3600).body), { status: 200 });
  };
  const { b, runtime } = broker({}, fetch);
  const answers = Array.from({ length: 40 }, (_, i) => watch(b.handle(pageRequest({ participant: `p-${i}` }))));
  await runtime.advance(10);
  assert.ok(most <= 8, `${most} upstream calls were open at once`);
  while (waiting.length) waiting.shift()();
  await runtime.advance(10);
  const statuses = answers.map((a) => a.value.status);
  assert.equal(statuses.filter((s) => s === 200).length, most);
  const refused = answers.filter((a) => a.value.status === 503);
  assert.equal(refused.length, 40 - most);
  for (const a of refused) {
    assert.equal(a.value.headers.get("retry-after"), "1");
    assert.deepEqual(await a.value.json(), { error: "upstream_unavailable" });
  }
});

test("a request body that trickles and never ends is answered 503 request_timeout by the deadline, connection closed", async () => {
  const { b, runtime } = broker({}, () => assert.fail("no upstream call"));
  const req = Object.assign(new EventEmitter(), {
    method: "POST",
    headers: { "content-type": "application/json", "sec-fetch-site": "same-origin", "x-test-participant": "ada" },
    pause() {},
  });
  const res = { headersSent: false, writableEnded: false, status: 0, headers: null, writeHead(s, h) { this.status = s; this.headers = h; }, end(d) { this.body = new TextDecoder().decode(d); this.writableEnded = true; } };
  const done = watch(b.node(req, res));
  await runtime.advance(1);
  req.emit("data", new TextEncoder().encode('{"rea'));
  await runtime.advance(8_990);
  assert.equal(done.settled, false, "still inside the deadline");
  await runtime.advance(10);
  assert.equal(done.settled, true, "answered at the deadline");
  assert.equal(res.status, 503);
  assert.deepEqual(JSON.parse(res.body), { error: "request_timeout" });
  assert.equal(res.headers["Retry-After"], "1");
  assert.equal(res.headers.Connection, "close");
});

test("a participant() that never settles is answered 503 request_timeout by the deadline", async () => {
  const { b, runtime } = broker({ participant: () => new Promise(() => {}), requestTimeoutMs: 3_000 }, () => assert.fail("no upstream call"));
  const done = watch(b.handle(pageRequest({ participant: "ada" })));
  await runtime.advance(2_999);
  assert.equal(done.settled, false);
  await runtime.advance(1);
  assert.equal(done.settled, true);
  assert.equal(done.value.status, 503);
  assert.deepEqual(await done.value.json(), { error: "request_timeout" });
});

test("a stored failure with a status outside 100-599 or a CR/LF Retry-After is refused: node() answers, never throws", async (t) => {
  const http = await import("node:http");
  const { memoryStore } = await import("../../broker/store.js");
  const store = memoryStore();
  const fetch = async () => new Response(JSON.stringify(tokenResponse(3600).body), { status: 200 });
  const b = makeBroker(
    { tokenUrl: FAKE_URL, serviceAccount: ACCOUNT, privateKey: PKCS8_PEM, participant: (req) => req.headers["x-test-participant"], store, rateLimit: false },
    { fetch, credentials: { key: Promise.resolve(null), namespace: Promise.resolve("ns"), assertion: async () => "assertion" } },
  );
  const thrown = [];
  const server = http.createServer((req, res) =>
    b.node(req, res).catch((err) => {
      thrown.push(err);
      res.destroy();
    }),
  );
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${server.address().port}/token`;
  const bad = [
    { kind: "failure", status: 999, code: "upstream_error" },
    { kind: "failure", status: 503, code: "upstream_unavailable", retryAfter: "1\r\nSet-Cookie: a=b" },
    { kind: "failure", status: 200, code: "upstream_error" },
  ];
  for (const [i, record] of bad.entries()) {
    await store.set(`ns:pt:p${i}:fail`, JSON.stringify(record), 60_000);
    const res = await globalThis.fetch(url, { method: "POST", headers: { "content-type": "application/json", "x-test-participant": `p${i}` }, body: "{}" }).catch((e) => e);
    assert.deepEqual(thrown, [], `record ${i}: node() threw`);
    assert.equal(res.status, 200, `record ${i}: refused as garbage, a token fetched instead`);
  }
});
