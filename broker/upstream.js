// MyDataHelps' token endpoint: the RS256 client assertion (RFC 7523), the service grant
// (client_credentials, MyDataHelps "REST API Authentication") and the participant exchange
// (delegated_participant, "Participant Access Tokens"); facts in docs/mydatahelps.md. Each
// call is bounded in time and size and judged by the rules the browser package applies, so
// the broker never forwards an answer the page would refuse. Decides nothing about caching.
import { SignJWT } from "jose";
import { BrokerError, safeCode } from "./errors.js";
import { importKey } from "./key.js";
import { readCapped, TOO_LARGE } from "./bytes.js";
import { B64TOKEN, MAX_ACCESS_TOKEN, MAX_LIFETIME_MS, MIN_EXPIRES_IN_MS } from "./records.js";

const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const MAX_UPSTREAM_BYTES = 64 * 1024;

/**
 * The credentials of the service account: `assertion()` signs a fresh client assertion,
 * `namespace` (a promise) names this account's keys in the store. A bad key rejects both,
 * reported at first use.
 */
export function serviceCredentials(o, runtime) {
  const key = importKey(o.privateKey);
  key.catch(() => {});
  return {
    key,
    namespace: digest(runtime, `${o.tokenUrl}\n${o.serviceAccount}\n${o.clientId}\n${o.scope}`),
    async assertion() {
      const iat = Math.floor(runtime.now() / 1000);
      // RFC 7523 §3 / MyDataHelps REST API Authentication: iss = sub = account, aud = token
      // URL, exp a few minutes ahead (seconds, RFC 7519 NumericDate), a fresh jti.
      return new SignJWT({})
        .setProtectedHeader({ alg: "RS256", typ: "JWT" })
        .setIssuer(o.serviceAccount)
        .setSubject(o.serviceAccount)
        .setAudience(o.tokenUrl)
        .setIssuedAt(iat)
        .setExpirationTime(iat + 300)
        .setJti(runtime.randomId())
        .sign(await key);
    },
  };
}

/**
 * The two grants. `serviceGrant()` → { token, lifetimeMs, sentAt, receivedAt };
 * `exchange(participantId, serviceToken)` → { answer, got, sentAt, receivedAt } where got is
 * null for a 4xx (the caller decides).
 * Both throw a BrokerError for an answer no caller can use.
 */
export function upstream(o, { fetch, runtime, observer, log, credentials }) {
  async function post(form) {
    let res;
    let text;
    const ctrl = new AbortController();
    const timer = runtime.setTimer(() => ctrl.abort(), o.upstreamTimeoutMs);
    try {
      res = await fetch(o.tokenUrl, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" },
        body: new URLSearchParams(form).toString(),
        redirect: "manual", // a token endpoint that redirects is misconfigured: judged below
        signal: ctrl.signal,
      });
      text = res.body ? await readCapped(res.body, MAX_UPSTREAM_BYTES) : "";
    } catch (err) {
      // A timeout is "try again later" (503); anything else: we could not reach it (502).
      if (ctrl.signal.aborted) throw new BrokerError(503, "upstream_timeout");
      if (err === TOO_LARGE) text = null;
      else throw new BrokerError(502, "upstream_unreachable");
    } finally {
      runtime.clearTimer(timer);
    }
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null; // not JSON: judged together with the status
    }
    return { status: res.status, body, retryAfter: res.headers.get("retry-after") };
  }

  /** Status handling shared by both grants: the token of a 2xx, null for a 4xx. */
  function judge({ status, body, retryAfter }, what) {
    if (status === 503 || status === 429) {
      // A delay-seconds Retry-After (RFC 9110 §10.2.3) is passed through so the page backs off as asked.
      throw new BrokerError(503, "upstream_unavailable", /^\d{1,4}$/.test(retryAfter ?? "") ? retryAfter : undefined);
    }
    if (status >= 500) throw new BrokerError(502, "upstream_error");
    if (status >= 300 && status < 400) {
      log(`broker: ${what}: the token endpoint redirected (${status}); check tokenUrl`);
      throw new BrokerError(502, "broker_misconfigured");
    }
    if (status >= 200 && status < 300) {
      const expiresIn = typeof body?.expires_in === "string" && /^\d{1,10}$/.test(body.expires_in) ? Number(body.expires_in) : body?.expires_in;
      // The same rules the browser package applies (RFC 6749 §5.1, RFC 6750 §2.1).
      const ok =
        typeof body?.access_token === "string" &&
        body.access_token.length <= MAX_ACCESS_TOKEN &&
        B64TOKEN.test(body.access_token) &&
        Number.isFinite(expiresIn) &&
        expiresIn * 1000 >= MIN_EXPIRES_IN_MS && // less, and the page refuses it (invalid_response)
        expiresIn * 1000 <= MAX_LIFETIME_MS &&
        (body.token_type === undefined || String(body.token_type).toLowerCase() === "bearer");
      if (!ok) {
        log(`broker: ${what}: upstream answered ${status} without a usable token response`);
        throw new BrokerError(502, "upstream_malformed");
      }
      return { token: body.access_token, lifetimeMs: expiresIn * 1000 };
    }
    return null; // 4xx: the caller decides
  }

  /** One observed upstream call: the posted form's answer, judged. */
  function call(grant, form, what) {
    return observer
      .upstream(grant, async () => {
        const sentAt = runtime.now();
        try {
          const answer = await post(form);
          // When the answer arrived: the latest the token can have been issued.
          const receivedAt = runtime.now();
          let got;
          try {
            got = judge(answer, what);
          } catch (err) {
            return { outcome: outcomeOf(answer, err), value: { error: err } };
          }
          return { outcome: got ? "ok" : outcomeOf(answer, null), value: { answer, got, sentAt, receivedAt } };
        } catch (err) {
          if (!(err instanceof BrokerError)) throw err;
          return { outcome: err.code === "upstream_timeout" ? "timeout" : "network", value: { error: err } };
        }
      })
      .then((v) => {
        if (v.error) throw v.error;
        return v;
      });
  }

  return {
    async serviceGrant() {
      const assertion = await credentials.assertion();
      const { answer, got, sentAt, receivedAt } = await call(
        "service",
        {
          scope: "api", // REST API Authentication; `scope` (the option) is the participant grant's
          grant_type: "client_credentials",
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: assertion,
        },
        "service token",
      );
      if (!got) {
        // A 4xx here is our configuration (key, account name, clock), never the participant's fault.
        log(`broker: service token refused: ${answer.status} ${safeCode(answer.body)}`);
        throw new BrokerError(502, "broker_misconfigured");
      }
      return { ...got, sentAt, receivedAt };
    },
    exchange(participantId, serviceToken) {
      return call(
        "participant",
        {
          scope: o.scope,
          grant_type: "delegated_participant",
          participant_id: participantId,
          client_id: o.clientId,
          client_secret: o.clientSecret,
          token: serviceToken,
        },
        "participant token",
      );
    },
  };
}

/** The observer's name for how an upstream call went: never upstream text. */
function outcomeOf({ status, body }, err) {
  if (status >= 200 && status < 300) return "malformed";
  if (status === 429) return "rate_limited";
  if (status === 400 && safeCode(body) === "invalid_grant") return "invalid_grant";
  if (err?.code === "upstream_malformed") return "malformed";
  return `http_${status}`;
}

async function digest(runtime, text) {
  const bytes = await runtime.sha256(new TextEncoder().encode(text));
  return Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}
