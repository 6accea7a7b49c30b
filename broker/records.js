// What the broker keeps in a store, as records with named fields, and the one codec that
// turns them into store values and back. A store is input from outside (another instance,
// an older version, an operator, an attacker with Redis access): every value is validated
// on read, and anything that does not validate is treated as absent (refetched), never
// served. A sealing codec (authenticated encryption bound to the key and participant)
// wraps this one: same interface.
//
//   codec.encode(storeKey, participantId | null, record) → Promise<string>
//   codec.decode(storeKey, participantId | null, text)   → Promise<record | null>
//
// Records (the lock value and the rate counters are not records: plain strings / integers):
//   { kind: "participant_token", participant, token, expiresAt, lifetimeMs, fetchedAt }
//   { kind: "service_token", token, expiresAt, lifetimeMs, fetchedAt }
//   { kind: "failure", status, code, retryAfter? }
//   { kind: "circuit", openUntil, failures }          (the fleet-wide back-off)

export const MAX_ACCESS_TOKEN = 16_384; // what the browser package accepts (docs/lifecycle.md)
export const MAX_LIFETIME_MS = 30 * 24 * 3600 * 1000;
// The browser package refuses a token with less than this left (src/core/token.rs).
export const MIN_EXPIRES_IN_MS = 2_000;
export const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/; // RFC 6750 §2.1

// The failures the broker remembers, code → status.
const FAILURE_STATUS = Object.freeze({
  participant_unauthorized: 401,
  participant_not_allowed: 403,
  rate_limited: 429,
  upstream_error: 502,
  upstream_unreachable: 502,
  upstream_malformed: 502,
  broker_misconfigured: 502,
  upstream_unavailable: 503,
  upstream_timeout: 503,
});

const isToken = (t) => typeof t === "string" && t.length > 0 && t.length <= MAX_ACCESS_TOKEN && B64TOKEN.test(t);
const isTime = (v) => Number.isFinite(v);

/** The record if it is well-formed for `participantId` (null: the service token), else null. */
export function validRecord(r, participantId) {
  if (r === null || typeof r !== "object") return null;
  switch (r.kind) {
    case "participant_token":
    case "service_token": {
      if (r.kind === "participant_token" ? r.participant !== participantId || typeof participantId !== "string" : participantId !== null) return null;
      const ok = isToken(r.token) && isTime(r.expiresAt) && isTime(r.fetchedAt) && Number.isFinite(r.lifetimeMs) && r.lifetimeMs > 0 && r.lifetimeMs <= MAX_LIFETIME_MS;
      if (!ok) return null;
      const out = { kind: r.kind, token: r.token, expiresAt: r.expiresAt, lifetimeMs: r.lifetimeMs, fetchedAt: r.fetchedAt };
      if (r.kind === "participant_token") out.participant = r.participant;
      return out;
    }
    case "failure": {
      // Only a failure this broker could have stored: its code with its status, and a
      // Retry-After of delay-seconds (RFC 9110 §10.2.3). Anything else would reach
      // Response / writeHead, which throw on a status outside 200-599 or a CR/LF.
      if (!Object.hasOwn(FAILURE_STATUS, r.code) || FAILURE_STATUS[r.code] !== r.status) return null;
      if (r.retryAfter !== undefined && !(typeof r.retryAfter === "string" && /^\d{1,4}$/.test(r.retryAfter))) return null;
      const out = { kind: "failure", status: r.status, code: r.code };
      if (r.retryAfter !== undefined) out.retryAfter = r.retryAfter;
      return out;
    }
    case "circuit":
      if (!isTime(r.openUntil) || !Number.isInteger(r.failures) || r.failures < 1 || r.failures > 1_000) return null;
      return { kind: "circuit", openUntil: r.openUntil, failures: r.failures };
    default:
      return null;
  }
}

/** The default codec: JSON with named fields, validated on decode. */
export const jsonCodec = Object.freeze({
  async encode(_storeKey, _participantId, record) {
    return JSON.stringify(record);
  },
  async decode(_storeKey, participantId, text) {
    if (typeof text !== "string") return null;
    try {
      return validRecord(JSON.parse(text), participantId);
    } catch {
      return null;
    }
  },
});
