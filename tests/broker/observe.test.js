// The observer seam (broker/observe.js): what a tracing observer sees. The upstream call
// runs inside the page request's async context (so a span can be its child), outcomes are
// named without upstream text, and events fire where they should.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import { makeBroker } from "../../broker/broker.js";
import { jsonCodec } from "../../broker/records.js";
import { memoryStore } from "../../broker/store.js";
import { ACCOUNT, PKCS8_PEM, pageRequest, tokenResponse } from "./helpers.js";

function observed(script, { codec } = {}) {
  const als = new AsyncLocalStorage();
  const seen = { pages: [], upstream: [], events: [] };
  let n = 0;
  const observer = {
    pageRequest: (run) =>
      als.run(++n, async () => {
        const r = await run();
        seen.pages.push({ status: r.status, code: r.code });
        return r.value;
      }),
    upstream: async (grant, run) => {
      const page = als.getStore();
      try {
        const r = await run();
        seen.upstream.push({ grant, outcome: r.outcome, page });
        return r.value;
      } catch (err) {
        seen.upstream.push({ grant, outcome: "error", page });
        throw err;
      }
    },
    event: (name) => seen.events.push(name),
  };
  let calls = 0;
  const fetch = async (url, init) => {
    const form = new URLSearchParams(init.body);
    const step = script(form, ++calls);
    return new Response(typeof step.body === "string" ? step.body : JSON.stringify(step.body), { status: step.status ?? 200, headers: step.headers ?? {} });
  };
  const b = makeBroker(
    { tokenUrl: "https://mdh.example/identityserver/connect/token", serviceAccount: ACCOUNT, privateKey: PKCS8_PEM, participant: (req) => req.headers.get("x-test-participant"), rateLimit: false, store: memoryStore() },
    { observer, fetch, codec, credentials: { key: Promise.resolve(null), namespace: Promise.resolve("ns"), assertion: async () => "assertion" } },
  );
  return { b, seen };
}

test("observer: upstream calls inside their page request's context, outcomes named, events in order", async () => {
  let down = false;
  const { b, seen } = observed((form) =>
    form.get("grant_type") === "client_credentials" ? tokenResponse(300, "svc") : down ? { status: 503, headers: { "Retry-After": "3" }, body: { error: "secret text" } } : tokenResponse(),
  );
  assert.equal((await b.handle(pageRequest({ participant: "ada" }))).status, 200);
  assert.equal((await b.handle(pageRequest({ participant: "ada" }))).status, 200);
  down = true;
  assert.equal((await b.handle(pageRequest({ participant: "ben" }))).status, 503);
  assert.equal((await b.handle(pageRequest({ participant: "chloe" }))).status, 503, "the circuit: no call");
  assert.deepEqual(seen.pages, [
    { status: 200, code: "ok" },
    { status: 200, code: "ok" },
    { status: 503, code: "upstream_unavailable" },
    { status: 503, code: "upstream_unavailable" },
  ]);
  assert.deepEqual(seen.upstream, [
    { grant: "service", outcome: "ok", page: 1 },
    { grant: "participant", outcome: "ok", page: 1 },
    { grant: "participant", outcome: "http_503", page: 3 },
  ]);
  assert.deepEqual(seen.events, ["cache_miss", "cache_hit", "circuit_open"]);
});

test("codec: every record goes through it; a decode that refuses (null) is absent, refetched, never served", async () => {
  const encoded = [];
  let refuse = false;
  const codec = {
    encode: async (key, participantId, record) => {
      encoded.push({ key, participantId, kind: record.kind });
      return jsonCodec.encode(key, participantId, record);
    },
    decode: async (key, participantId, text) => (refuse ? null : jsonCodec.decode(key, participantId, text)),
  };
  const { b } = observed((form) => (form.get("grant_type") === "client_credentials" ? tokenResponse(300, "svc") : tokenResponse()), { codec });
  const first = await b.participantToken("ada");
  assert.equal((await b.participantToken("ada")).access_token, first.access_token);
  assert.deepEqual(encoded.map((e) => [e.key, e.participantId, e.kind]), [
    ["ns:svc", null, "service_token"],
    ["ns:pt:ada", "ada", "participant_token"],
  ]);
  refuse = true;
  assert.notEqual((await b.participantToken("ada")).access_token, first.access_token, "a refused entry is fetched again");
});
