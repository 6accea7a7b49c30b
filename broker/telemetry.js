// An observer for the broker over the vendor-neutral OpenTelemetry API
// (`@opentelemetry/api`, an optional peer dependency): metrics and spans cost nothing until
// the host installs an SDK, and nothing at all when the package is absent. No SDK here.
//
// What it records is fixed and low-cardinality: outcome codes, grants, HTTP statuses.
// Never a token, assertion, key or participant id (the observer is never given one).
//
// Names follow the OpenTelemetry semantic conventions where one fits: durations in seconds
// as histograms named `*.duration`, counters without a `_total` suffix (Prometheus
// exporters add it), `http.response.status_code` and `error.type` as in the HTTP
// conventions. The broker's own are under `mdh_token.broker.*`, so that they never collide
// with the host's `http.server.request.duration` from its HTTP instrumentation.

export const SCOPE = "mdh-token/broker";
// Imported at run time by name, not as a literal: a bundler must not fail a host's build
// because this optional package is absent (webpack, Turbopack and Vite are told to leave it
// alone). Bundled hosts pass the module instead: `telemetry: { api }`.
const API = "@opentelemetry/api";

export const METRICS = Object.freeze({
  requests: "mdh_token.broker.requests",
  requestDuration: "mdh_token.broker.request.duration",
  upstreamCalls: "mdh_token.broker.upstream.calls",
  upstreamDuration: "mdh_token.broker.upstream.duration",
  cacheLookups: "mdh_token.broker.cache.lookups",
  storeTransitions: "mdh_token.broker.store.transitions",
  rateLimited: "mdh_token.broker.rate_limited",
  circuitTransitions: "mdh_token.broker.circuit.transitions",
});

export const SPANS = Object.freeze({ request: "mdh_token.broker.request", upstream: "mdh_token.broker.upstream" });

// Cached answers take well under a millisecond; MyDataHelps calls tens to hundreds.
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

// event name → [counter, attributes]
const EVENTS = {
  cache_hit: ["cacheLookups", { "mdh_token.cache.result": "hit" }],
  cache_miss: ["cacheLookups", { "mdh_token.cache.result": "miss" }],
  store_fallback: ["storeTransitions", { "mdh_token.store.state": "fallback" }],
  store_recovery: ["storeTransitions", { "mdh_token.store.state": "shared" }],
  rate_limited: ["rateLimited", {}],
  circuit_open: ["circuitTransitions", { "mdh_token.circuit.state": "open" }],
  circuit_close: ["circuitTransitions", { "mdh_token.circuit.state": "closed" }],
};

// The API's enum values (SpanKind.INTERNAL, SpanStatusCode.ERROR), fixed by the spec's
// protocol: taken as numbers so that an API object without the enums works too.
const INTERNAL = 0;
const ERROR = 2;

// A fixed code (`ok`, `invalid_grant`, `upstream_unavailable`, …) or an upstream HTTP
// status as `http_<status>`: never free text, so never a token, id or upstream message.
const CODE = /^(?:[a-z_]{1,40}|http_[1-5][0-9]{2})$/;
const safeCode = (c) => (typeof c === "string" && CODE.test(c) ? c : "other");

/**
 * The broker's observer over OpenTelemetry.
 * @param {{ api?: object, meterProvider?: object, tracerProvider?: object }} [o]
 *   `api`: the `@opentelemetry/api` module (default: imported if installed, else a no-op);
 *   `meterProvider` / `tracerProvider`: default the API's globals (what an SDK registers).
 * @returns the observer, plus `ready` (resolves once the API is loaded or found absent)
 */
export function otelObserver({ api, meterProvider, tracerProvider } = {}) {
  let live = null; // instruments, once the API is at hand
  const bind = (otel) => {
    if (!otel?.metrics || !otel?.trace) return;
    const meter = (meterProvider ?? otel.metrics.getMeterProvider()).getMeter(SCOPE);
    const tracer = (tracerProvider ?? otel.trace.getTracerProvider()).getTracer(SCOPE);
    const counter = (name, description, unit = "{request}") => meter.createCounter(name, { description, unit });
    const histogram = (name, description) => meter.createHistogram(name, { description, unit: "s", advice: { explicitBucketBoundaries: BUCKETS } });
    live = {
      otel,
      tracer,
      requests: counter(METRICS.requests, "Page token requests answered, by outcome code"),
      requestDuration: histogram(METRICS.requestDuration, "Time to answer a page token request"),
      upstreamCalls: counter(METRICS.upstreamCalls, "MyDataHelps token endpoint calls, by grant and outcome", "{call}"),
      upstreamDuration: histogram(METRICS.upstreamDuration, "Duration of MyDataHelps token endpoint calls"),
      cacheLookups: counter(METRICS.cacheLookups, "Token cache lookups, by result (hit, miss)", "{lookup}"),
      storeTransitions: counter(METRICS.storeTransitions, "Shared store left (fallback to this instance's memory) or rejoined (shared)", "{transition}"),
      rateLimited: counter(METRICS.rateLimited, "Page requests refused by the per-participant rate limit"),
      circuitTransitions: counter(METRICS.circuitTransitions, "Upstream circuit opened or closed", "{transition}"),
    };
  };
  let settled = false;
  const ready = (
    api
      ? Promise.resolve(bind(api))
      : import(/* webpackIgnore: true */ /* turbopackIgnore: true */ /* @vite-ignore */ API).then(
          (m) => bind(m.metrics ? m : m.default),
          () => {}, // not installed: stay a no-op
        )
  ).then(() => void (settled = true));

  const seconds = (t0) => (performance.now() - t0) / 1000;

  const self = {
    ready,

    pageRequest(run) {
      // The first requests wait for the API's import (once, a few ms), so none goes unseen.
      if (!settled) return ready.then(() => self.pageRequest(run));
      if (!live) return run().then((r) => r.value);
      const { otel, tracer } = live;
      const t0 = performance.now();
      return tracer.startActiveSpan(SPANS.request, { kind: INTERNAL }, async (span) => {
        let r;
        try {
          r = await run();
        } catch (err) {
          // The contract says run() never rejects; if it does, record it and pass it on.
          r = { status: 500, code: "internal_error" };
          finish(span, r, t0);
          throw err;
        }
        finish(span, r, t0);
        return r.value;
      });
    },

    upstream(grant, run) {
      if (!settled) return ready.then(() => self.upstream(grant, run));
      if (!live) return run().then((r) => r.value);
      const { otel, tracer } = live;
      const t0 = performance.now();
      const g = grant === "service" ? "service" : "participant";
      return tracer.startActiveSpan(SPANS.upstream, { kind: INTERNAL, attributes: { "mdh_token.grant": g } }, async (span) => {
        let outcome;
        try {
          const r = await run();
          outcome = safeCode(r.outcome);
          return r.value;
        } catch (err) {
          outcome = "error";
          span.setAttribute("error.type", safeCode(err?.code ?? "other"));
          throw err;
        } finally {
          const attrs = { "mdh_token.grant": g, "mdh_token.outcome": outcome };
          live.upstreamCalls.add(1, attrs);
          live.upstreamDuration.record(seconds(t0), attrs);
          span.setAttribute("mdh_token.outcome", outcome);
          if (outcome !== "ok") span.setStatus({ code: ERROR });
          span.end();
        }
      });
    },

    event(name) {
      if (!live) return;
      const e = EVENTS[name];
      if (!e) return;
      live[e[0]].add(1, e[1]);
      // On the page request's span too, so one trace shows whether it was a hit.
      live.otel.trace.getActiveSpan()?.addEvent(`mdh_token.${name}`);
    },
  };
  return self;

  function finish(span, r, t0) {
    const code = safeCode(r.code);
    const attrs = { "http.response.status_code": r.status, "mdh_token.outcome": code };
    if (code !== "ok") attrs["error.type"] = code;
    live.requests.add(1, attrs);
    live.requestDuration.record(seconds(t0), attrs);
    span.setAttributes(attrs);
    // As for HTTP server spans: a 5xx is this side's error, a 4xx the caller's.
    if (r.status >= 500) span.setStatus({ code: ERROR });
    span.end();
  }
}
