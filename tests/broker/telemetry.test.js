// The OpenTelemetry observer (broker/telemetry.js) through the real API and SDK, with
// in-memory exporters: counters and histograms by outcome, a span per page request with
// the upstream call as its child, and nothing identifying in any attribute.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as api from "@opentelemetry/api";
import { otelSdk, sum } from "./otel.js";
import { otelObserver, METRICS, SPANS } from "../../broker/telemetry.js";

test("page requests, upstream calls and events become counters, histograms and nested spans", async (t) => {
  const sdk = otelSdk(t);
  const obs = otelObserver({ meterProvider: sdk.meterProvider, tracerProvider: sdk.tracerProvider });
  await obs.ready;
  const hit = await obs.pageRequest(async () => {
    obs.event("cache_hit");
    return { status: 200, code: "ok", value: "answer 1" };
  });
  assert.equal(hit, "answer 1");
  const miss = await obs.pageRequest(async () => {
    obs.event("cache_miss");
    const svc = await obs.upstream("service", async () => ({ outcome: "ok", value: "svc" }));
    const pt = await obs.upstream("participant", async () => ({ outcome: "invalid_grant", value: svc }));
    return { status: 403, code: "participant_not_allowed", value: pt };
  });
  assert.equal(miss, "svc");
  const failed = await obs.pageRequest(async () => {
    await assert.rejects(
      obs.upstream("participant", async () => {
        throw Object.assign(new Error("the upstream said something with a token in it"), { code: "upstream_timeout" });
      }),
      /token in it/,
    );
    obs.event("rate_limited");
    obs.event("store_fallback");
    obs.event("store_recovery");
    obs.event("circuit_open");
    obs.event("no_such_event");
    return { status: 503, code: "upstream_timeout", value: null };
  });
  assert.equal(failed, null);

  const m = await sdk.metrics();
  assert.equal(sum(m[METRICS.requests]), 3);
  assert.equal(sum(m[METRICS.requests], { "mdh_token.outcome": "ok", "http.response.status_code": 200 }), 1);
  assert.equal(sum(m[METRICS.requests], { "mdh_token.outcome": "participant_not_allowed", "error.type": "participant_not_allowed" }), 1);
  assert.equal(sum(m[METRICS.requests], { "mdh_token.outcome": "upstream_timeout", "http.response.status_code": 503 }), 1);
  assert.equal(sum(m[METRICS.requestDuration]), 3, "one duration per request");
  assert.ok(m[METRICS.requestDuration].every((p) => p.value.sum >= 0 && p.value.sum < 10));
  assert.equal(sum(m[METRICS.upstreamCalls], { "mdh_token.grant": "service", "mdh_token.outcome": "ok" }), 1);
  assert.equal(sum(m[METRICS.upstreamCalls], { "mdh_token.grant": "participant", "mdh_token.outcome": "invalid_grant" }), 1);
  assert.equal(sum(m[METRICS.upstreamCalls], { "mdh_token.grant": "participant", "mdh_token.outcome": "error" }), 1);
  assert.equal(sum(m[METRICS.upstreamDuration]), 3);
  assert.equal(sum(m[METRICS.cacheLookups], { "mdh_token.cache.result": "hit" }), 1);
  assert.equal(sum(m[METRICS.cacheLookups], { "mdh_token.cache.result": "miss" }), 1);
  assert.equal(sum(m[METRICS.rateLimited]), 1);
  assert.equal(sum(m[METRICS.storeTransitions], { "mdh_token.store.state": "fallback" }), 1);
  assert.equal(sum(m[METRICS.storeTransitions], { "mdh_token.store.state": "shared" }), 1);
  assert.equal(sum(m[METRICS.circuitTransitions], { "mdh_token.circuit.state": "open" }), 1);

  const spans = await sdk.spans();
  const requests = spans.filter((s) => s.name === SPANS.request);
  const upstreams = spans.filter((s) => s.name === SPANS.upstream);
  assert.equal(requests.length, 3);
  assert.equal(upstreams.length, 3);
  // Each upstream span is the child of the page request it was made for.
  const byId = new Map(requests.map((s) => [s.spanContext().spanId, s]));
  for (const u of upstreams) {
    const parent = byId.get(u.parentSpanContext?.spanId);
    assert.ok(parent, "an upstream span has its page request as parent");
    assert.equal(u.spanContext().traceId, parent.spanContext().traceId);
  }
  assert.deepEqual(requests.map((s) => s.attributes["http.response.status_code"]), [200, 403, 503]);
  assert.deepEqual(requests.map((s) => s.status.code), [api.SpanStatusCode.UNSET, api.SpanStatusCode.UNSET, api.SpanStatusCode.ERROR]);
  assert.deepEqual(requests[0].events.map((e) => e.name), ["mdh_token.cache_hit"]);
  const thrown = upstreams.find((s) => s.attributes["mdh_token.outcome"] === "error");
  assert.equal(thrown.attributes["error.type"], "upstream_timeout");
  assert.equal(thrown.status.code, api.SpanStatusCode.ERROR);
  // Only fixed, low-cardinality attributes: nothing from an error's message.
  for (const s of spans) for (const v of Object.values(s.attributes)) assert.ok(typeof v === "number" || /^[a-z_]{1,40}$/.test(v), String(v));
});

test("with the API's globals (what an installed SDK registers) and without an API: same answers", async (t) => {
  const sdk = otelSdk(t);
  api.metrics.setGlobalMeterProvider(sdk.meterProvider);
  api.trace.setGlobalTracerProvider(sdk.tracerProvider);
  t.after(() => {
    api.metrics.disable();
    api.trace.disable();
  });
  const viaGlobals = otelObserver();
  await viaGlobals.ready;
  assert.equal(await viaGlobals.pageRequest(async () => ({ status: 200, code: "ok", value: 7 })), 7);
  assert.equal(sum((await sdk.metrics())[METRICS.requests]), 1);
  assert.equal((await sdk.spans()).length, 1);
  // An API object that is not OpenTelemetry's: a pass-through that records nothing.
  const none = otelObserver({ api: {} });
  await none.ready;
  assert.equal(await none.pageRequest(async () => ({ status: 200, code: "ok", value: 8 })), 8);
  assert.equal(await none.upstream("service", async () => ({ outcome: "ok", value: 9 })), 9);
  await assert.rejects(none.upstream("service", async () => Promise.reject(new Error("x"))), /x/);
  none.event("cache_hit");
  assert.equal(sum((await sdk.metrics())[METRICS.requests]), 1);
});

test("an upstream HTTP status keeps its outcome (http_503, http_401); anything not a short code is other", async (t) => {
  const sdk = otelSdk(t);
  const obs = otelObserver({ meterProvider: sdk.meterProvider, tracerProvider: sdk.tracerProvider });
  await obs.ready;
  const outcomes = ["http_503", "http_401", "http_503", "http_5031", "eyJhbGciOiJSUzI1NiJ9", "00000000-0000-4000-8000-000000000000", "HTTP_503"];
  for (const outcome of outcomes) await obs.upstream("participant", async () => ({ outcome, value: null }));
  const m = await sdk.metrics();
  assert.equal(sum(m[METRICS.upstreamCalls], { "mdh_token.outcome": "http_503" }), 2);
  assert.equal(sum(m[METRICS.upstreamCalls], { "mdh_token.outcome": "http_401" }), 1);
  assert.equal(sum(m[METRICS.upstreamCalls], { "mdh_token.outcome": "other" }), 4);
  assert.equal(sum(m[METRICS.upstreamCalls]), outcomes.length);
});
