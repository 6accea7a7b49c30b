// A MyDataHelps emulator: the token endpoint (both grants the broker uses) and the one
// participant API call the demo makes. Strict where MyDataHelps is strict, so a broker that
// passes here is built right; it is not a model of everything MyDataHelps does.
// Facts: docs/mydatahelps.md. OAuth error shapes: RFC 6749 §5.2.
import { randomBytes } from "node:crypto";
import { compactVerify, decodeJwt } from "jose";
import { HttpError, mediaType, readBody, sendJson, sendText } from "./http.js";

export const TOKEN_PATH = "/mdh/identityserver/connect/token";
export const PARTICIPANT_PATH = "/mdh/api/v1/delegated/participant";
export const FAULTS_PATH = "/mdh/_faults";
export const FAULT_MODES = Object.freeze(["ok", "down", "slow", "401", "malformed"]);

const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
// Both spellings appear in CareEvolution's public material (docs/mydatahelps.md).
const DELEGATED_CLIENTS = new Set(["RKStudio.DelegatedParticipant", "MyDataHelps.DelegatedParticipant"]);
const DELEGATED_SCOPES = new Set(["api", "api user/*.read"]);
const CLOCK_SKEW_S = 60;

/** An RFC 6749 §5.2 error answer. */
class OAuthError extends Error {
  constructor(error, description, status = 400) {
    super(description);
    this.error = error;
    this.status = status;
  }
}

/**
 * @param {object} o
 * @param {Map<string, import("node:crypto").KeyObject>} o.serviceAccounts name → public key
 * @param {object[]} o.participants ParticipantInfo objects
 * @param {() => number} o.now epoch ms; injectable so tests expire tokens without sleeping
 */
export function createEmulator({
  serviceAccounts,
  participants,
  now = Date.now,
  participantTokenLifetimeSeconds = 90,
  serviceTokenLifetimeSeconds = 300,
  slowMs = 15_000,
}) {
  const byId = new Map(participants.map((p) => [p.participantID.toLowerCase(), p]));
  const tokens = new Map(); // access_token → { kind, subject, expiresAt }
  const usedJti = new Map(); // jti → exp (ms); kept until the assertion could not be used anyway
  const slowTimers = new Set();
  const issued = []; // recent access tokens, so tests can prove none leaks onto a page
  const stats = { clientCredentials: 0, delegatedParticipant: 0, participantInfo: 0 };
  let tokenUrl = null;
  let mode = "ok";

  function sweep(t) {
    for (const [token, rec] of tokens) if (rec.expiresAt <= t) tokens.delete(token);
    for (const [jti, exp] of usedJti) if (exp <= t) usedJti.delete(jti);
  }

  function issue(kind, subject, lifetimeS) {
    const t = now();
    sweep(t);
    // 48 random bytes → 64 base64url characters, inside RFC 6750 §2.1's b64token alphabet.
    const access_token = randomBytes(48).toString("base64url");
    tokens.set(access_token, { kind, subject, expiresAt: t + lifetimeS * 1000 });
    issued.push(access_token);
    if (issued.length > 500) issued.shift();
    return { access_token, expires_in: lifetimeS, token_type: "Bearer" };
  }

  /** RFC 7523 §3 checks; every failure is client authentication failing → invalid_client. */
  async function clientCredentials(form) {
    if (form.get("scope") !== "api") throw new OAuthError("invalid_scope", "scope must be api");
    const type = form.get("client_assertion_type");
    const assertion = form.get("client_assertion");
    if (!type || !assertion) throw new OAuthError("invalid_request", "client_assertion_type and client_assertion are required");
    if (type !== ASSERTION_TYPE) throw new OAuthError("invalid_client", "unsupported client_assertion_type");
    if (assertion.length > 16 * 1024) throw new OAuthError("invalid_client", "not a JWT");
    let claims;
    try {
      // Unverified: only to find the account's key; nothing is trusted before the signature.
      claims = decodeJwt(assertion);
    } catch {
      throw new OAuthError("invalid_client", "not a compact JWT");
    }
    const key = typeof claims.iss === "string" ? serviceAccounts.get(claims.iss) : undefined;
    if (!key) throw new OAuthError("invalid_client", "unknown service account");
    try {
      // RS256 and nothing else, so "alg: none" and HS256-with-the-public-key confusion
      // (RFC 8725 §2.1) cannot get through.
      await compactVerify(assertion, key, { algorithms: ["RS256"] });
    } catch (err) {
      throw new OAuthError("invalid_client", err?.code === "ERR_JOSE_ALG_NOT_ALLOWED" ? "only RS256 is accepted" : "signature does not verify");
    }
    if (claims.sub !== claims.iss) throw new OAuthError("invalid_client", "sub must equal iss");
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.includes(tokenUrl)) throw new OAuthError("invalid_client", "aud must be the token endpoint URL");
    const nowS = now() / 1000;
    if (typeof claims.exp !== "number" || claims.exp <= nowS) throw new OAuthError("invalid_client", "assertion expired");
    if (typeof claims.nbf === "number" && claims.nbf > nowS + CLOCK_SKEW_S) throw new OAuthError("invalid_client", "assertion not yet valid");
    if (typeof claims.iat === "number" && claims.iat > nowS + CLOCK_SKEW_S) throw new OAuthError("invalid_client", "assertion issued in the future");
    if (typeof claims.jti !== "string" || !claims.jti) throw new OAuthError("invalid_client", "jti is required");
    if (usedJti.has(claims.jti)) throw new OAuthError("invalid_client", "assertion already used (jti replay)");
    usedJti.set(claims.jti, claims.exp * 1000);
    return issue("service", claims.iss, serviceTokenLifetimeSeconds);
  }

  function delegatedParticipant(form) {
    const clientId = form.get("client_id");
    if (!clientId || !form.has("client_secret")) throw new OAuthError("invalid_request", "client_id and client_secret are required");
    if (!DELEGATED_CLIENTS.has(clientId) || form.get("client_secret") !== "secret") {
      throw new OAuthError("invalid_client", "unknown client or wrong secret");
    }
    if (!DELEGATED_SCOPES.has(form.get("scope"))) throw new OAuthError("invalid_scope", "scope must be api");
    const token = form.get("token");
    const participantId = form.get("participant_id");
    if (!token || !participantId) throw new OAuthError("invalid_request", "token and participant_id are required");
    const rec = tokens.get(token);
    if (!rec || rec.kind !== "service" || rec.expiresAt <= now()) {
      throw new OAuthError("invalid_grant", "service token is invalid or expired");
    }
    if (!byId.has(participantId.toLowerCase())) throw new OAuthError("invalid_grant", "unknown participant");
    if (mode === "401") throw new OAuthError("invalid_client", "fault injected: 401", 401);
    return issue("participant", participantId.toLowerCase(), participantTokenLifetimeSeconds);
  }

  async function tokenEndpoint(req, res) {
    if (req.method !== "POST") {
      sendJson(res, 405, { error: "invalid_request", error_description: "use POST" }, { Allow: "POST" });
      return;
    }
    const body = await readBody(req);
    if (mode === "down") {
      sendJson(res, 503, { error: "temporarily_unavailable" }, { "Retry-After": "5" });
      return;
    }
    if (mode === "slow") {
      // Answer eventually, like an overloaded server; the broker's own timeout should fire first.
      await new Promise((resolve) => {
        const timer = setTimeout(() => (slowTimers.delete(timer), resolve()), slowMs);
        slowTimers.add(timer);
      });
      if (res.destroyed) return;
    }
    if (mode === "malformed") {
      sendText(res, 200, "<html><body>Service temporarily rerouted</body></html>", { "Content-Type": "text/html" });
      return;
    }
    // RFC 6749 §5.1: token responses must not be cached; §3.2: parameters are form-encoded.
    const noStore = { "Cache-Control": "no-store", Pragma: "no-cache" };
    try {
      if (mediaType(req) !== "application/x-www-form-urlencoded") {
        throw new OAuthError("invalid_request", "body must be application/x-www-form-urlencoded");
      }
      const form = new URLSearchParams(body);
      const grant = form.get("grant_type");
      let answer;
      if (grant === "client_credentials") {
        stats.clientCredentials++;
        answer = await clientCredentials(form);
      } else if (grant === "delegated_participant") {
        stats.delegatedParticipant++;
        answer = delegatedParticipant(form);
      } else if (!grant) {
        throw new OAuthError("invalid_request", "grant_type is required");
      } else {
        throw new OAuthError("unsupported_grant_type", "grant_type not supported");
      }
      sendJson(res, 200, answer, noStore);
    } catch (err) {
      if (!(err instanceof OAuthError)) throw err;
      sendJson(res, err.status, { error: err.error, error_description: err.message }, noStore);
    }
  }

  function participantEndpoint(req, res) {
    stats.participantInfo++;
    if (req.method !== "GET" && req.method !== "HEAD") {
      sendJson(res, 405, { error: "method_not_allowed" }, { Allow: "GET" });
      return;
    }
    // RFC 6750 §2.1 (header form only) and §3 (WWW-Authenticate on failure).
    const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/.exec(String(req.headers.authorization ?? ""));
    const rec = match && tokens.get(match[1]);
    if (!rec || rec.kind !== "participant" || rec.expiresAt <= now()) {
      const challenge = match ? 'Bearer realm="mdh", error="invalid_token"' : 'Bearer realm="mdh"';
      sendJson(res, 401, { error: "invalid_token" }, { "WWW-Authenticate": challenge });
      return;
    }
    sendJson(res, 200, byId.get(rec.subject), { "Cache-Control": "no-store" });
  }

  async function faultsEndpoint(req, res) {
    if (req.method === "GET") {
      sendJson(res, 200, { mode, modes: FAULT_MODES });
      return;
    }
    if (req.method !== "POST") {
      sendJson(res, 405, { error: "method_not_allowed" }, { Allow: "GET, POST" });
      return;
    }
    // Requiring JSON makes a cross-site form post impossible without a CORS preflight we never grant.
    if (mediaType(req) !== "application/json") throw new HttpError(415, "json_required");
    let next;
    try {
      next = JSON.parse(await readBody(req, 1024)).mode;
    } catch {
      throw new HttpError(400, "invalid_json");
    }
    if (!FAULT_MODES.includes(next)) throw new HttpError(400, "unknown_mode");
    mode = next;
    sendJson(res, 200, { mode, modes: FAULT_MODES });
  }

  return {
    stats,
    /** Must be set to the absolute token URL before the first request: it is the expected `aud`. */
    setTokenUrl(url) {
      tokenUrl = url;
    },
    get tokenUrl() {
      return tokenUrl;
    },
    get faultMode() {
      return mode;
    },
    setFaultMode(next) {
      if (!FAULT_MODES.includes(next)) throw new Error(`unknown fault mode ${next}`);
      mode = next;
    },
    /** Recently issued access tokens (service and participant), for leak checks in tests. */
    issuedTokens: () => [...issued],
    /** Forgets every token, as a restarted MyDataHelps would for revoked grants. */
    revokeAll: () => tokens.clear(),
    /** Handles `/mdh/…`; returns false when the path is not the emulator's. */
    async handle(req, res, pathname) {
      if (pathname === TOKEN_PATH) await tokenEndpoint(req, res);
      else if (pathname === PARTICIPANT_PATH) participantEndpoint(req, res);
      else if (pathname === FAULTS_PATH) await faultsEndpoint(req, res);
      else return false;
      return true;
    },
    close() {
      for (const timer of slowTimers) clearTimeout(timer);
      slowTimers.clear();
    },
  };
}
