// Observability through one injected observer; the default observes nothing. A tracing
// observer (OpenTelemetry, say) wraps the calls below in spans: the upstream call runs inside
// the page request's `run`, so its async context is the page request's.
//
//   pageRequest(run): wraps one page request; run resolves { status, code, value } (code "ok"
//     or the error code) and never rejects; returns value.
//   upstream(grant, run): wraps one upstream HTTP call; grant is "service"
//     (client_credentials) or "participant" (delegated_participant); run resolves
//     { outcome, value } (outcome "ok", "invalid_grant", "http_503", "rate_limited",
//     "timeout", "malformed", "network", …) or rejects (the observer records "error" and
//     rethrows); returns value.
//   event(name): "cache_hit" | "cache_miss" | "store_fallback" | "store_recovery" |
//     "rate_limited" | "circuit_open" | "circuit_close"
//
// No attribute may carry a token, a participant id or upstream text: the calls above pass none.

export const noObserver = {
  pageRequest: (run) => run().then((r) => r.value),
  upstream: (grant, run) => run().then((r) => r.value),
  event() {},
};
