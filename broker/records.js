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

export const MAX_ACCESS_TOKEN = 16_384; // what the browser package accepts (docs "Rules it keeps")
export const MAX_LIFETIME_MS = 30 * 24 * 3600 * 1000;
export const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/; // RFC 6750 §2.1

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
      if (!Number.isInteger(r.status) || typeof r.code !== "string") return null;
      const out = { kind: "failure", status: r.status, code: r.code };
      if (typeof r.retryAfter === "string") out.retryAfter = r.retryAfter;
      return out;
    }
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
