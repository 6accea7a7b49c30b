// What an operator can look at in the demo: the broker's OpenTelemetry metrics through the
// real SDK and its Prometheus exporter at GET /metrics, and the broker's health probe at
// GET /healthz.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ACCOUNT, ADA, BEN, serve, signIn, broker } from "./helpers.js";

const get = (app, path, init) => fetch(new URL(path, app.url), init);

async function scrape(app) {
  const res = await get(app, "/metrics");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/plain/);
  assert.equal(res.headers.get("cache-control"), "no-store");
  return res.text();
}

/** The samples of one Prometheus metric: [{ labels: {name: value}, value }]. */
function samples(text, name) {
  const out = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = Object.fromEntries([...(m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    out.push({ labels, value: Number(m[3]) });
  }
  return out;
}

const find = (list, labels) => list.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));

test("after token requests, /metrics shows the broker's counters by outcome, in the Prometheus text format", async (t) => {
  const { app } = await serve(t);
  const ada = await signIn(app, ADA);
  const ben = await signIn(app, BEN);
  const tokens = [];
  for (const cookie of [ada, ada, ben]) {
    const res = await broker(app, cookie);
    assert.equal(res.status, 200);
    tokens.push((await res.json()).access_token);
  }
  assert.equal((await broker(app, undefined)).status, 401);

  const text = await scrape(app);
  // mdh_token.broker.requests, a counter: dots become underscores, `_total` is appended.
  const requests = samples(text, "mdh_token_broker_requests_total");
  assert.equal(find(requests, { mdh_token_outcome: "ok", http_response_status_code: "200" })?.value, 3, text);
  assert.equal(find(requests, { mdh_token_outcome: "not_signed_in", http_response_status_code: "401" })?.value, 1, text);
  for (const s of requests) assert.equal(s.labels.otel_scope_name, "mdh-token/broker");

  const upstream = samples(text, "mdh_token_broker_upstream_calls_total");
  assert.equal(find(upstream, { mdh_token_grant: "service", mdh_token_outcome: "ok" })?.value, 1);
  assert.equal(find(upstream, { mdh_token_grant: "participant", mdh_token_outcome: "ok" })?.value, 2, "Ada's second request came from the cache");
  const lookups = samples(text, "mdh_token_broker_cache_lookups_total");
  assert.ok(find(lookups, { mdh_token_cache_result: "hit" })?.value >= 1, text);
  assert.equal(find(samples(text, "mdh_token_broker_request_duration_count"), { mdh_token_outcome: "ok" })?.value, 3);

  // Nothing that names or opens a participant's data.
  for (const secret of [ADA, BEN, ...tokens, ada.split("=")[1], ben.split("=")[1], ACCOUNT]) {
    assert.ok(!text.includes(secret), "a participant id, token, session or the service account in /metrics");
  }
});

test("an upstream failure shows in /metrics with its outcome code", async (t) => {
  const { app } = await serve(t);
  const cookie = await signIn(app, ADA);
  app.emulator.setFaultMode("401"); // the participant grant answered 401 invalid_client
  const res = await broker(app, cookie);
  assert.notEqual(res.status, 200);
  const { error } = await res.json();

  const text = await scrape(app);
  assert.equal(find(samples(text, "mdh_token_broker_upstream_calls_total"), { mdh_token_grant: "participant", mdh_token_outcome: "http_401" })?.value, 1, text);
  const refused = find(samples(text, "mdh_token_broker_requests_total"), { mdh_token_outcome: error });
  assert.equal(refused?.value, 1, text);
  assert.equal(refused.labels.http_response_status_code, String(res.status));
  assert.ok(!text.includes(ADA));
});

test("/healthz answers the broker's health probe without asking for a participant token", async (t) => {
  const { app } = await serve(t);
  const res = await get(app, "/healthz");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.deepEqual(await res.json(), { status: "pass", store: "memory", service_token: "ok", circuit: "closed" });
  for (let i = 0; i < 3; i++) assert.equal((await get(app, "/healthz")).status, 200);
  assert.equal(app.emulator.stats.clientCredentials, 1, "probes share the one cached service token");
  assert.equal(app.emulator.stats.delegatedParticipant, 0);
});

test("/healthz fails (503) while the service token cannot be obtained", async (t) => {
  const { app } = await serve(t);
  app.emulator.setFaultMode("down");
  const res = await get(app, "/healthz");
  assert.equal(res.status, 503);
  const body = await res.json();
  assert.equal(body.status, "fail");
  assert.notEqual(body.service_token, "ok");
  assert.match(body.service_token, /^[a-z_]+$/);
});

test("/metrics and /healthz are read-only", async (t) => {
  const { app } = await serve(t);
  for (const path of ["/metrics", "/healthz"]) {
    const res = await get(app, path, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    assert.equal(res.status, 405, path);
    assert.equal(res.headers.get("allow"), "GET, HEAD");
  }
  assert.equal(app.emulator.stats.clientCredentials, 0);
});
