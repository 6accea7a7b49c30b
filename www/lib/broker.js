// The reference broker: the server half of mdh-token. It holds the service account's key,
// keeps one short-lived service token, and trades it for participant tokens. The page only
// ever receives { access_token, expires_in, token_type } for the participant of its own
// session (MyDataHelps "Participant Access Tokens"; facts in /work/shared/MYDATAHELPS.md).
import { randomUUID } from "node:crypto";
import { signJwt } from "./jwt.js";

const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/** A failure meant for the browser: a status and a fixed `error` code, never upstream text. */
export class BrokerError extends Error {
  constructor(status, error, retryAfter) {
    super(error);
    this.status = status;
    this.error = error;
    this.retryAfter = retryAfter;
  }
}

/**
 * @param {object} o
 * @param {string} o.tokenUrl absolute URL of `…/identityserver/connect/token`
 * @param {string} o.serviceAccount service account name (assertion iss and sub)
 * @param {import("node:crypto").KeyObject} o.privateKey its RSA private key
 * @param {() => number} [o.now] epoch ms, injectable for tests
 * @param {(msg: string) => void} [o.log] receives lines that never contain a token
 */
export function createBroker({
  tokenUrl,
  serviceAccount,
  privateKey,
  now = Date.now,
  fetch: fetchImpl = globalThis.fetch,
  upstreamTimeoutMs = 8_000,
  // Renew the service token this long before it expires, so a token handed to MyDataHelps
  // is never seconds from death when it arrives (clock skew, slow network).
  serviceTokenMarginMs = 30_000,
  clientId = "RKStudio.DelegatedParticipant",
  clientSecret = "secret",
  log = () => {},
}) {
  let cached = null; // { token, renewAt }
  let pending = null; // the one in-flight service-token fetch every caller shares

  async function post(form) {
    let res;
    try {
      res = await fetchImpl(tokenUrl, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
        body: new URLSearchParams(form).toString(),
        redirect: "error",
        signal: AbortSignal.timeout(upstreamTimeoutMs),
      });
    } catch (err) {
      // A timeout is "try again later" (503); anything else means we could not reach it (502).
      if (err?.name === "TimeoutError") throw new BrokerError(503, "upstream_timeout");
      throw new BrokerError(502, "upstream_unreachable");
    }
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null; // not JSON: judged below together with the status
    }
    return { status: res.status, body, retryAfter: res.headers.get("retry-after") };
  }

  /** Status handling shared by both grants; returns the JSON body of a 2xx answer. */
  function judge({ status, body, retryAfter }, what) {
    if (status === 503 || status === 429) {
      // Pass a plain delay-seconds Retry-After through (RFC 9110 §10.2.3) so the page backs off as asked.
      throw new BrokerError(503, "upstream_unavailable", /^\d{1,4}$/.test(retryAfter ?? "") ? retryAfter : undefined);
    }
    if (status >= 500) throw new BrokerError(502, "upstream_error");
    if (status >= 200 && status < 300) {
      const ok =
        body &&
        typeof body.access_token === "string" &&
        body.access_token.length > 0 &&
        Number.isFinite(body.expires_in) &&
        body.expires_in > 0 &&
        (body.token_type === undefined || String(body.token_type).toLowerCase() === "bearer");
      if (!ok) {
        log(`broker: ${what}: upstream answered ${status} without a usable token response`);
        throw new BrokerError(502, "upstream_malformed");
      }
      return body;
    }
    return null; // 4xx: the caller decides
  }

  async function fetchServiceToken() {
    const iat = Math.floor(now() / 1000);
    // RFC 7523 §3 / MyDataHelps REST auth: iss = sub = account, aud = token URL, single-use jti.
    const assertion = signJwt(
      { iss: serviceAccount, sub: serviceAccount, aud: tokenUrl, iat, exp: iat + 300, jti: randomUUID() },
      privateKey,
    );
    const answer = await post({
      grant_type: "client_credentials",
      scope: "api",
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: assertion,
    });
    const body = judge(answer, "service token");
    if (!body) {
      // 4xx here is our configuration (key, account name, clock), never the participant's fault.
      log(`broker: service token refused: ${answer.status} ${safeCode(answer.body)}`);
      throw new BrokerError(502, "broker_misconfigured");
    }
    const lifetimeMs = body.expires_in * 1000;
    log(`broker: new service token (expires_in ${body.expires_in}s)`);
    return { token: body.access_token, renewAt: now() + Math.max(lifetimeMs - serviceTokenMarginMs, lifetimeMs / 2) };
  }

  /** The cached service token, or one fetch shared by every concurrent caller. */
  function serviceToken() {
    if (cached && now() < cached.renewAt) return Promise.resolve({ token: cached.token, fresh: false });
    if (!pending) {
      pending = fetchServiceToken().then(
        (entry) => ((cached = entry), (pending = null), { token: entry.token, fresh: true }),
        (err) => {
          pending = null;
          throw err;
        },
      );
    }
    return pending;
  }

  async function exchange(participantId, token) {
    const answer = await post({
      grant_type: "delegated_participant",
      participant_id: participantId,
      scope: "api",
      client_id: clientId,
      client_secret: clientSecret,
      token,
    });
    return { answer, body: judge(answer, "participant token") };
  }

  return {
    /** A participant token for `participantId`, which the caller took from a trusted session. */
    async participantToken(participantId) {
      let service = await serviceToken();
      let { answer, body } = await exchange(participantId, service.token);
      if (!body && answer.status === 400 && safeCode(answer.body) === "invalid_grant" && !service.fresh) {
        // The cached service token may have been revoked early (restart, key rotation):
        // drop it and try once with a fresh one before blaming the participant.
        if (cached?.token === service.token) cached = null;
        service = await serviceToken();
        ({ answer, body } = await exchange(participantId, service.token));
      }
      if (!body) {
        const code = safeCode(answer.body);
        log(`broker: participant token refused: ${answer.status} ${code}`);
        // 401: MyDataHelps refused this participant's delegation: final for the page too.
        if (answer.status === 401) throw new BrokerError(401, "participant_unauthorized");
        // invalid_grant even with a fresh service token: unknown or withdrawn participant.
        if (code === "invalid_grant") throw new BrokerError(403, "participant_not_allowed");
        throw new BrokerError(502, "broker_misconfigured");
      }
      return { access_token: body.access_token, expires_in: body.expires_in, token_type: "Bearer" };
    },
    /** Drops the cached service token (tests; key rotation). */
    forgetServiceToken() {
      cached = null;
    },
  };
}

/** An OAuth `error` code fit for a log line: short, from a fixed alphabet, or "-". */
function safeCode(body) {
  const code = body?.error;
  return typeof code === "string" && /^[a-z_]{1,40}$/.test(code) ? code : "-";
}
