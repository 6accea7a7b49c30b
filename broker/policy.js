// The broker's decisions, as pure functions of records, answers and `now`: which cached
// token a request may take, how long a failure is remembered, when the service token is
// renewed, what a token record answers. No IO, no clock read here: callers pass time in.
// The shell that performs the store and upstream calls is fleet.js.

import { MIN_EXPIRES_IN_MS } from "./records.js";

export const REASONS = new Set(["initial", "scheduled", "forced", "expired"]);

// A cached participant token is handed out again only while it has more than half its
// lifetime left, plus this much (clock skew between the page's and the broker's view of
// the same expiry). The page renews at most half a lifetime before expiry, so a
// `scheduled` renewal never gets back the token it is renewing: no loop.
export const REUSE_SLACK_MS = 5_000;
// A service token that draws invalid_grant is replaced and the exchange retried once when
// it is this old (by its issue time, shared by the fleet), or when this instance has not
// replaced one for this long; else the participant is the problem, and an unknown
// participant must not churn service tokens. One the fleet already replaced is reused.
export const SERVICE_RETRY_INTERVAL_MS = 30_000;
// After an upstream failure, every instance answers the same error for this long (or for
// the upstream's Retry-After, at most a minute) instead of calling MyDataHelps again.
export const FAILURE_TTL_MS = 2_000;
export const MAX_FAILURE_TTL_MS = 60_000;
// A broken shared store is retried this often; meanwhile the local copy serves.
export const STORE_RETRY_MS = 1_000;

// Clocks of the fleet's instances may disagree by this much (NTP keeps them far closer).
export const CLOCK_SKEW_MS = 5_000;

/**
 * Whether a token record read from the store is believable at `now`: issued no later than
 * now (give or take the skew), expiring no later than its lifetime after issue, and with
 * enough left for the page to accept it. A record that is not is refetched, never served.
 */
export function credible(r, now) {
  return (
    r.fetchedAt <= now + CLOCK_SKEW_MS &&
    r.expiresAt <= r.fetchedAt + r.lifetimeMs + CLOCK_SKEW_MS &&
    r.expiresAt - now <= r.lifetimeMs + CLOCK_SKEW_MS &&
    r.expiresAt - now >= MIN_EXPIRES_IN_MS
  );
}

/** Long enough for one upstream call; a holder slower than that (or dead) is taken over. */
export const lockTtlMs = (upstreamTimeoutMs) => upstreamTimeoutMs + 2_000;

/** Until when a participant token may be handed out again (initial / scheduled). */
export const reusableUntil = (r) => r.expiresAt - r.lifetimeMs / 2 - REUSE_SLACK_MS;

/** When the service token is renewed: renewMs before expiry, or at half its life when short. */
export const serviceRenewAt = (r, renewMs) => r.expiresAt - Math.min(renewMs, r.lifetimeMs / 2);

/**
 * Which participant-token record a request that arrived at `arrived` takes, at `now`.
 * forced / expired: the page knows its token is no good; only one MyDataHelps issued after
 * this request arrived will do (this request's own upstream call is always taken).
 * initial / scheduled may reuse a cached one with enough life left.
 */
export function participantAccept(reason, cacheParticipantTokens, arrived) {
  const reuse = cacheParticipantTokens && (reason === "initial" || reason === "scheduled");
  return reuse ? (r, now) => r.fetchedAt >= arrived || now < reusableUntil(r) : (r) => r.fetchedAt > arrived;
}

/** Which service-token record a request takes; `not` excludes one MyDataHelps just refused. */
export function serviceAccept(arrived, renewMs, not) {
  return (r, now) => r.token !== not && (r.fetchedAt >= arrived || now < serviceRenewAt(r, renewMs));
}

/** How long every instance remembers this failure. */
export function failureTtlMs(err) {
  return err.retryAfter ? Math.min(Number(err.retryAfter) * 1000, MAX_FAILURE_TTL_MS) : FAILURE_TTL_MS;
}

/** The record of a failure, as stored. */
export function failureRecord(err) {
  const r = { kind: "failure", status: err.status, code: err.code };
  if (err.retryAfter !== undefined) r.retryAfter = err.retryAfter;
  return r;
}

/**
 * The record of a token MyDataHelps issued: expiry from when the request was sent (errs
 * short), issue time when the answer arrived (errs late, so `forced` never takes a token
 * issued before it arrived).
 */
export function tokenRecord(kind, participantId, { token, lifetimeMs, sentAt, receivedAt }) {
  const r = { kind, token, expiresAt: sentAt + lifetimeMs, lifetimeMs, fetchedAt: receivedAt };
  if (kind === "participant_token") r.participant = participantId;
  return r;
}

/** The page's answer for a token record at `now` (RFC 6749 §5.1). */
export function answerOf(r, now) {
  return { access_token: r.token, expires_in: Math.max(1, Math.floor((r.expiresAt - now) / 1000)), token_type: "Bearer" };
}

/** The rate limit's verdict on a counter: null (go ahead) or the Retry-After seconds. */
export function rateVerdict({ count, ttlMs }, max) {
  return count > max ? String(Math.max(1, Math.ceil(ttlMs / 1000))) : null;
}

// The fleet-wide back-off (a circuit breaker shared through the store). An upstream call
// that says MyDataHelps as a whole is unwell (503/429, 5xx, timeout, unreachable) opens
// it: every instance then answers 503 with Retry-After instead of calling, for the
// upstream's Retry-After (RFC 9110 §10.2.3; at most MAX_FAILURE_TTL_MS) or, without one,
// 1 s doubling per consecutive failure up to 30 s. Then one call fleet-wide (the probe,
// under a lock) tries again: success closes it, failure opens it for longer.
export const CIRCUIT_BASE_MS = 1_000;
export const CIRCUIT_MAX_MS = 30_000;
// How long the failure count outlives an open circuit (so the doubling continues).
export const CIRCUIT_MEMORY_MS = 60_000;
// Per instance: upstream calls open at once, at most (a slow MyDataHelps must not gather
// hundreds of open calls); the next ones get 503 Retry-After: 1.
export const MAX_CONCURRENT_UPSTREAM = 8;

const SYSTEMIC = new Set(["upstream_unavailable", "upstream_timeout", "upstream_error", "upstream_unreachable"]);

/** Whether a failed upstream call says something about MyDataHelps as a whole. */
export const opensCircuit = (err) => SYSTEMIC.has(err?.code);

/** The circuit record after a failure `err`, given the one before (or null). */
export function circuitAfter(prev, err, now) {
  const failures = Math.min((prev?.failures ?? 0) + 1, 1_000);
  const delay = err.retryAfter ? Math.min(Number(err.retryAfter) * 1000, MAX_FAILURE_TTL_MS) : Math.min(CIRCUIT_BASE_MS * 2 ** (failures - 1), CIRCUIT_MAX_MS);
  return { kind: "circuit", openUntil: now + Math.max(delay, CIRCUIT_BASE_MS), failures };
}

/** "closed", "half-open" (one probe may call) or the Retry-After seconds while open. */
export function circuitVerdict(rec, now) {
  if (!rec) return "closed";
  if (now < rec.openUntil) return String(Math.max(1, Math.ceil((rec.openUntil - now) / 1000)));
  return "half-open";
}
