// mdh-token/broker: the server half of mdh-token. It holds the MyDataHelps service
// account's key, keeps one short-lived service token, trades it for participant tokens
// (MyDataHelps "Participant Access Tokens"; the facts it relies on are in
// docs/mydatahelps.md) and answers the page's POST with only
// { access_token, expires_in, token_type } for the participant of the host's own session.
//
// Web Platform APIs only (fetch, Request/Response, Web Crypto, AbortSignal, streams) and
// jose for the RS256 client assertion, so it runs on Node 20+, Deno, Bun and edge runtimes;
// `node(req, res)` is a thin adapter for Node's http module and Express.
import { SignJWT } from "jose";
import { checkKeyShape, importKey } from "./key.js";
import { memoryStore, redisStore } from "./store.js";

export { memoryStore, redisStore };

const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const REASONS = new Set(["initial", "scheduled", "forced", "expired"]);
// A cached participant token is handed out again only while it has more than half its
// lifetime left, plus this much (clock skew between the page's and the broker's view of
// the same expiry). The page renews at most half a lifetime before expiry, so a
// `scheduled` renewal never gets back the token it is renewing: no loop.
const REUSE_SLACK_MS = 5_000;
// A service token younger than this that draws invalid_grant is not replaced: the
// participant is the problem, and an unknown participant must not churn service tokens.
const SERVICE_RETRY_INTERVAL_MS = 30_000;
// After an upstream failure, every instance answers the same error for this long (or for
// the upstream's Retry-After, at most a minute) instead of calling MyDataHelps again.
const FAILURE_TTL_MS = 2_000;
const MAX_FAILURE_TTL_MS = 60_000;
// A broken shared store is retried this often; meanwhile the local copy serves.
const STORE_RETRY_MS = 1_000;
const MAX_UPSTREAM_BYTES = 64 * 1024;
const MAX_ACCESS_TOKEN = 16_384; // what the browser package accepts (docs/lifecycle.md)
const MAX_EXPIRES_IN = 30 * 24 * 3600;
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/; // RFC 6750 §2.1

/** A failure meant for the page: an HTTP status and a fixed code, never upstream text. */
export class BrokerError extends Error {
  constructor(status, code, retryAfter) {
    super(code);
    this.name = "BrokerError";
    this.status = status;
    this.code = code;
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }
}

/**
 * @param {import("./index.d.ts").BrokerOptions} options
 * @returns {import("./index.d.ts").Broker}
 */
export function createBroker(options) {
  const o = checkOptions(options);
  const { now } = o;
  // A host logger that throws must not break a token request half-way.
  const log = (line) => {
    try {
      o.log(line);
    } catch {
      // ignored
    }
  };
  const fetchImpl = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
  const local = memoryStore({ now });
  const shared = o.store ?? local;
  // Long enough for one upstream call; a holder slower than that (or dead) is taken over.
  const lockTtlMs = o.upstreamTimeoutMs + 2_000;
  const flights = new Map(); // key → the one in-process promise for it
  let storeDown = false;
  let storeRetryAt = 0;
  let lastServiceRetry = -Infinity;
  let serviceFetches = 0; // service tokens this process fetched
  let lastServiceEntry = null;
  let initLogged = false;

  const init = (async () => ({
    key: await importKey(o.privateKey),
    ns: await digest(`${o.tokenUrl}\n${o.serviceAccount}\n${o.clientId}\n${o.scope}`),
  }))();
  init.catch(() => {}); // reported on first use, as a 502

  async function ready() {
    try {
      return await init;
    } catch (err) {
      if (!initLogged) log(`broker: the private key could not be imported (${errName(err)}): check privateKey`);
      initLogged = true;
      throw new BrokerError(502, "broker_misconfigured");
    }
  }

  // ---- the store, with this instance's memory as the fallback ---------------------------

  async function viaShared(op, fallback) {
    if (shared === local) return op(local);
    if (storeDown && mono() < storeRetryAt) return fallback();
    try {
      const result = await within(op(shared), o.storeTimeoutMs);
      if (storeDown) log("broker: cache store answers again; sharing tokens across instances");
      storeDown = false;
      return result;
    } catch (err) {
      storeRetryAt = mono() + STORE_RETRY_MS;
      if (!storeDown) log(`broker: cache store unavailable (${errName(err)}); serving from this instance's memory cache`);
      storeDown = true;
      return fallback();
    }
  }

  const cache = {
    get: (key) => viaShared((s) => s.get(key), () => local.get(key)),
    async set(key, value, ttlMs) {
      if (shared !== local) await local.set(key, value, ttlMs);
      await viaShared((s) => s.set(key, value, ttlMs), () => undefined);
    },
    /** Takes the lock; returns the store that holds it, or null. */
    lock(key, value, ttlMs) {
      let gaveUp = false;
      return viaShared(
        async (s) => {
          const taken = s.add(key, value, ttlMs);
          // An answer that comes after we gave up on the store (a client's offline queue
          // replaying) must not leave a lock nobody will release: drop it at once.
          taken.then((ok) => ok && gaveUp && s.remove(key, value).catch(() => {}), () => {});
          return (await taken) ? s : null;
        },
        async () => {
          gaveUp = true;
          return (await local.add(key, value, ttlMs)) ? local : null;
        },
      );
    },
    unlock: (key, value, where) => (where === local ? local.remove(key, value) : viaShared((s) => s.remove(key, value), () => undefined)),
    incr: (key, windowMs) => viaShared((s) => s.incr(key, windowMs), () => local.incr(key, windowMs)),
  };

  async function readEntry(key, participantId) {
    const text = await cache.get(key);
    if (typeof text !== "string") return null;
    let e;
    try {
      e = JSON.parse(text);
    } catch {
      return null;
    }
    // The participant id is inside the entry too: a key mix-up can never cross participants.
    const ok = typeof e?.t === "string" && Number.isFinite(e.e) && Number.isFinite(e.l) && Number.isFinite(e.f) && e.p === participantId;
    if (!ok || e.e <= now()) return null;
    // Keep a copy here, so that this instance can go on serving it if the store goes away.
    if (shared !== local && !storeDown) await local.set(key, text, e.e - now());
    return e;
  }

  async function readFailure(key) {
    const text = await cache.get(key);
    if (typeof text !== "string") return null;
    try {
      const { s, c, r } = JSON.parse(text);
      return Number.isInteger(s) && typeof c === "string" ? new BrokerError(s, c, typeof r === "string" ? r : undefined) : null;
    } catch {
      return null;
    }
  }

  /**
   * The entry for `key` that `accept` takes: from the store, from the one flight under way
   * in this process, or from one upstream call made under the store's lock (`SET NX PX`),
   * which every other instance waits on, polling the store, instead of calling too.
   */
  async function obtain(key, participantId, accept, fetcher, { ttlOf, before }) {
    for (let round = 0; round < 3; round++) {
      const joined = flights.get(key);
      if (joined) {
        const entry = await joined;
        if (accept(entry)) return entry;
        continue; // e.g. a forced renewal that joined a flight answered from the cache
      }
      const hit = await readEntry(key, participantId);
      if (hit && accept(hit)) return hit;
      if (flights.has(key)) continue;
      const flight = coordinated(key, participantId, accept, fetcher, ttlOf, before);
      flights.set(key, flight);
      flight.then(() => flights.delete(key), () => flights.delete(key));
      return flight;
    }
    return coordinated(key, participantId, accept, fetcher, ttlOf, before);
  }

  async function coordinated(key, participantId, accept, fetcher, ttlOf, before) {
    const lockKey = `${key}:lock`;
    const failKey = `${key}:fail`;
    const id = crypto.randomUUID();
    const giveUpAt = mono() + 2 * lockTtlMs;
    let delay = 5;
    for (;;) {
      const failed = await readFailure(failKey);
      if (failed) throw failed;
      const where = await cache.lock(lockKey, id, lockTtlMs);
      if (where) {
        try {
          const hit = await readEntry(key, participantId);
          if (hit && accept(hit)) return hit;
          return await fetchAndStore(key, failKey, fetcher, ttlOf, before);
        } finally {
          await cache.unlock(lockKey, id, where).catch(() => {});
        }
      }
      if (mono() > giveUpAt) {
        log("broker: gave up waiting for another instance's upstream call; calling MyDataHelps directly");
        return fetchAndStore(key, failKey, fetcher, ttlOf, before);
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 100);
      const hit = await readEntry(key, participantId);
      if (hit && accept(hit)) return hit;
    }
  }

  async function fetchAndStore(key, failKey, fetcher, ttlOf, before) {
    if (before) await before();
    let entry;
    try {
      entry = await fetcher();
    } catch (err) {
      if (err instanceof BrokerError) {
        const ttl = err.retryAfter ? Math.min(Number(err.retryAfter) * 1000, MAX_FAILURE_TTL_MS) : FAILURE_TTL_MS;
        await cache.set(failKey, JSON.stringify({ s: err.status, c: err.code, r: err.retryAfter }), ttl).catch(() => {});
      }
      throw err;
    }
    await cache.set(key, JSON.stringify(entry), Math.max(1_000, ttlOf(entry) - now())).catch(() => {});
    return entry;
  }

  // ---- upstream -----------------------------------------------------------------------

  async function post(form) {
    let res;
    let text;
    // A timer of our own rather than AbortSignal.timeout(), whose timer does not keep a
    // Node process alive: a host script awaiting participantToken() would just exit.
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), o.upstreamTimeoutMs);
    try {
      res = await fetchImpl(o.tokenUrl, {
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
      clearTimeout(timer);
    }
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null; // not JSON: judged together with the status
    }
    return { status: res.status, body, retryAfter: res.headers.get("retry-after") };
  }

  /** Status handling shared by both grants: the token response of a 2xx, null for a 4xx. */
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
      // The same rules the browser package applies (RFC 6749 §5.1, RFC 6750 §2.1), so the
      // broker never forwards an answer the page would reject.
      const ok =
        typeof body?.access_token === "string" &&
        body.access_token.length <= MAX_ACCESS_TOKEN &&
        B64TOKEN.test(body.access_token) &&
        Number.isFinite(expiresIn) &&
        expiresIn > 0 &&
        expiresIn <= MAX_EXPIRES_IN &&
        (body.token_type === undefined || String(body.token_type).toLowerCase() === "bearer");
      if (!ok) {
        log(`broker: ${what}: upstream answered ${status} without a usable token response`);
        throw new BrokerError(502, "upstream_malformed");
      }
      return { token: body.access_token, lifetimeMs: expiresIn * 1000 };
    }
    return null; // 4xx: the caller decides
  }

  async function fetchServiceToken() {
    const { key } = await ready();
    const iat = Math.floor(now() / 1000);
    // RFC 7523 §3 / MyDataHelps REST API Authentication: iss = sub = account, aud = token
    // URL, exp a few minutes ahead (seconds, RFC 7519 NumericDate), a fresh jti.
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: "RS256", typ: "JWT" })
      .setIssuer(o.serviceAccount)
      .setSubject(o.serviceAccount)
      .setAudience(o.tokenUrl)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 300)
      .setJti(crypto.randomUUID())
      .sign(key);
    const sentAt = now();
    const answer = await post({
      scope: "api", // REST API Authentication; `scope` (the option) is the participant grant's
      grant_type: "client_credentials",
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: assertion,
    });
    const got = judge(answer, "service token");
    if (!got) {
      // A 4xx here is our configuration (key, account name, clock), never the participant's fault.
      log(`broker: service token refused: ${answer.status} ${safeCode(answer.body)}`);
      throw new BrokerError(502, "broker_misconfigured");
    }
    log(`broker: new service token (expires_in ${got.lifetimeMs / 1000} s)`);
    serviceFetches += 1;
    lastServiceEntry = { t: got.token, e: sentAt + got.lifetimeMs, l: got.lifetimeMs, f: now(), p: "" };
    return lastServiceEntry;
  }

  // Renewed ahead of expiry: serviceTokenRenewMs before, or at half its life for short ones.
  const serviceRenewAt = (e) => e.e - Math.min(o.serviceTokenRenewMs, e.l / 2);

  /** The shared service token; `not` excludes one that MyDataHelps just refused. */
  async function serviceToken(not) {
    const { ns } = await ready();
    const arrived = now();
    return obtain(`${ns}:svc`, "", (e) => e.t !== not && (e.f >= arrived || now() < serviceRenewAt(e)), fetchServiceToken, {
      ttlOf: serviceRenewAt,
    });
  }

  async function exchange(participantId, token) {
    const answer = await post({
      scope: o.scope,
      grant_type: "delegated_participant",
      participant_id: participantId,
      client_id: o.clientId,
      client_secret: o.clientSecret,
      token,
    });
    return { answer, got: judge(answer, "participant token") };
  }

  async function fetchParticipantToken(participantId, reason) {
    const fetchesBefore = serviceFetches;
    let service = await serviceToken();
    // Fetched by this very call (or one it joined): MyDataHelps just issued it, so an
    // invalid_grant is about the participant.
    const fresh = serviceFetches > fetchesBefore && service === lastServiceEntry;
    let sentAt = now();
    let { answer, got } = await exchange(participantId, service.t);
    if (!got && answer.status === 400 && safeCode(answer.body) === "invalid_grant" && !fresh && now() - lastServiceRetry >= SERVICE_RETRY_INTERVAL_MS) {
      // The cached service token may have been revoked early (upstream restart, key
      // rotation): try once with another one before blaming the participant.
      lastServiceRetry = now();
      service = await serviceToken(service.t);
      sentAt = now();
      ({ answer, got } = await exchange(participantId, service.t));
    }
    if (!got) {
      const code = safeCode(answer.body);
      log(`broker: participant token for ${short(participantId)} refused: ${answer.status} ${code}`);
      // 401: MyDataHelps refused this participant's delegation: final for the page too.
      if (answer.status === 401) throw new BrokerError(401, "participant_unauthorized");
      // invalid_grant with a service token that works: unknown or withdrawn participant.
      if (code === "invalid_grant") throw new BrokerError(403, "participant_not_allowed");
      throw new BrokerError(502, "broker_misconfigured");
    }
    log(`broker: participant token for ${short(participantId)} from MyDataHelps (${reason}, expires_in ${got.lifetimeMs / 1000} s)`);
    return { t: got.token, e: sentAt + got.lifetimeMs, l: got.lifetimeMs, f: now(), p: participantId };
  }

  const reusableUntil = (e) => e.e - e.l / 2 - REUSE_SLACK_MS;

  async function participantToken(participantId, { reason = "initial" } = {}) {
    checkParticipantId(participantId);
    if (!REASONS.has(reason)) throw new TypeError(`mdh-token/broker: reason must be one of ${[...REASONS].join(", ")}`);
    const { ns } = await ready();
    const arrived = now();
    const key = `${ns}:pt:${encodeURIComponent(participantId)}`;
    // forced / expired: the page knows its token is no good; only one MyDataHelps issued
    // after this request arrived will do (this request's own upstream call is always
    // taken). initial / scheduled may reuse a cached one with enough life left.
    const reuse = o.cacheParticipantTokens && (reason === "initial" || reason === "scheduled");
    const accept = reuse ? (e) => e.f >= arrived || now() < reusableUntil(e) : (e) => e.f > arrived;
    const before = o.rateLimit && (async () => {
      const { count, ttlMs } = await cache.incr(`${key}:rate`, o.rateLimit.windowMs);
      if (count > o.rateLimit.max) {
        log(`broker: rate limit for ${short(participantId)}: more than ${o.rateLimit.max} MyDataHelps calls in ${o.rateLimit.windowMs / 1000} s`);
        throw new BrokerError(429, "rate_limited", String(Math.max(1, Math.ceil(ttlMs / 1000))));
      }
    });
    const entry = await obtain(key, participantId, accept, () => fetchParticipantToken(participantId, reason), { ttlOf: reusableUntil, before });
    return { access_token: entry.t, expires_in: Math.max(1, Math.floor((entry.e - now()) / 1000)), token_type: "Bearer" };
  }

  // ---- the page's POST ------------------------------------------------------------------

  /** One answer for handle() and node(): { status, headers, body }. */
  async function respond({ method, header, selfOrigin, readBody, subject }) {
    const answer = (status, body, extra = {}) => ({ status, body, headers: { ...BASE_HEADERS, ...extra } });
    try {
      if (method !== "POST") return answer(405, { error: "method_not_allowed" }, { Allow: "POST" });
      if (!sameSite(header, selfOrigin, o.allowedOrigins)) return answer(403, { error: "cross_site_request" });
      // application/json is not a CORS-safelisted type: no form can send it, and a
      // cross-origin fetch needs a preflight this broker never grants (docs/broker.md, "CSRF guard").
      if (mediaType(header("content-type")) !== "application/json") return answer(415, { error: "json_required" });
      const text = await readBody(o.maxBodyBytes);
      let reason = "initial";
      let claimed;
      if (text !== null) {
        const body = typeof text === "string" ? parseJson(text) : text;
        if (body === INVALID || body === null || typeof body !== "object" || Array.isArray(body)) return answer(400, { error: "invalid_body" });
        if (body.reason !== undefined) {
          if (!REASONS.has(body.reason)) return answer(400, { error: "invalid_body" });
          reason = body.reason;
        }
        if (body.participant !== undefined) {
          if (typeof body.participant !== "string") return answer(400, { error: "invalid_body" });
          claimed = body.participant;
        }
      }
      // Identity from the host's own session only: never from the body or the query.
      let participantId;
      try {
        participantId = await o.participant(subject);
      } catch (err) {
        log(`broker: participant() threw (${errName(err)})`);
        return answer(500, { error: "internal_error" });
      }
      if (participantId === null || participantId === undefined || participantId === "") return answer(401, { error: "not_signed_in" });
      if (!isParticipantId(participantId)) {
        log("broker: participant() must return a participant id (a non-empty string) or null");
        return answer(500, { error: "internal_error" });
      }
      // The page's manager names the participant it is bound to (its `participant`
      // option). Never a source of identity: only a reason to refuse, when this session
      // now belongs to someone else (a shared computer: Ben signed in while Ada's tab
      // was open). 403 is final for the page: it drops its token and stops.
      if (o.matchPageParticipant && claimed !== undefined && claimed !== participantId) {
        log("broker: the page is bound to another participant than its session: refused");
        return answer(403, { error: "participant_mismatch" });
      }
      const token = await participantToken(participantId, { reason });
      return answer(200, token);
    } catch (err) {
      if (err instanceof BrokerError) {
        return answer(err.status, { error: err.code }, err.retryAfter ? { "Retry-After": err.retryAfter } : {});
      }
      // The kind of failure only: a message could quote a request or an upstream answer.
      log(`broker: unexpected ${errName(err)}`);
      return answer(500, { error: "internal_error" });
    }
  }

  return {
    participantToken,

    async handle(request) {
      const out = await respond({
        method: request.method,
        header: (name) => request.headers.get(name),
        selfOrigin: new URL(request.url).origin,
        readBody: (limit) => webBody(request, limit),
        subject: request,
      });
      return new Response(JSON.stringify(out.body), { status: out.status, headers: out.headers });
    },

    async node(req, res) {
      const header = (name) => {
        const v = req.headers[name];
        return v === undefined ? null : Array.isArray(v) ? v.join(", ") : String(v);
      };
      const out = await respond({
        method: req.method,
        header,
        selfOrigin: `${req.socket?.encrypted ? "https" : "http"}://${header("host") ?? "invalid"}`,
        readBody: (limit) => nodeBody(req, limit),
        subject: req,
      });
      if (res.headersSent || res.writableEnded) return;
      const data = new TextEncoder().encode(JSON.stringify(out.body));
      // A body over the cap was left unread: close instead of draining it.
      const close = out.status === 413 ? { Connection: "close" } : {};
      res.writeHead(out.status, { ...out.headers, ...close, "Content-Length": String(data.length) });
      res.end(data);
    },
  };
}

const BASE_HEADERS = Object.freeze({
  "Content-Type": "application/json; charset=utf-8",
  // RFC 6749 §5.1: token responses are not cached, errors included.
  "Cache-Control": "no-store",
  Pragma: "no-cache",
  "X-Content-Type-Options": "nosniff",
});

function checkOptions(options) {
  const fail = (what) => {
    throw new TypeError(`mdh-token/broker: ${what}`);
  };
  if (!options || typeof options !== "object") fail("createBroker needs an options object");
  const {
    tokenUrl,
    serviceAccount,
    privateKey,
    participant,
    clientId = "RKStudio.DelegatedParticipant",
    clientSecret = "secret",
    scope = "api",
    store = null,
    log = () => {},
    now = Date.now,
    fetch,
    upstreamTimeoutMs = 8_000,
    serviceTokenRenewMs = 30_000,
    cacheParticipantTokens = true,
    matchPageParticipant = true,
    rateLimit = { max: 10, windowMs: 60_000 },
    maxBodyBytes = 1024,
    allowedOrigins = [],
    storeTimeoutMs = 500,
  } = options;
  let url;
  try {
    url = new URL(tokenUrl);
  } catch {
    fail("tokenUrl must be an absolute URL (…/identityserver/connect/token)");
  }
  // The assertion and the service token travel here: plain http only to this machine (tests, emulators).
  if (url.protocol !== "https:" && !(url.protocol === "http:" && /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/.test(url.hostname))) {
    fail("tokenUrl must be https (http only for localhost)");
  }
  for (const [name, v] of Object.entries({ serviceAccount, clientId, clientSecret, scope })) {
    if (typeof v !== "string" || v === "") fail(`${name} must be a non-empty string`);
  }
  checkKeyShape(privateKey);
  if (typeof participant !== "function") fail("participant must be a function (request) => participant id or null");
  if (typeof log !== "function") fail("log must be a function (line) => void");
  if (typeof now !== "function") fail("now must be a function returning epoch ms");
  if (fetch !== undefined && typeof fetch !== "function") fail("fetch must be a function");
  if (store !== null && !["get", "set", "add", "remove", "incr"].every((m) => typeof store[m] === "function")) {
    fail("store must have get, set, add, remove and incr (memoryStore() or redisStore(client))");
  }
  const positive = (name, v) => (Number.isFinite(v) && v > 0 ? v : fail(`${name} must be a positive number`));
  positive("upstreamTimeoutMs", upstreamTimeoutMs);
  positive("serviceTokenRenewMs", serviceTokenRenewMs);
  positive("maxBodyBytes", maxBodyBytes);
  positive("storeTimeoutMs", storeTimeoutMs);
  if (typeof cacheParticipantTokens !== "boolean") fail("cacheParticipantTokens must be a boolean");
  if (typeof matchPageParticipant !== "boolean") fail("matchPageParticipant must be a boolean");
  if (rateLimit !== false) {
    if (!rateLimit || typeof rateLimit !== "object") fail("rateLimit must be { max, windowMs } or false");
    if (!Number.isInteger(rateLimit.max) || rateLimit.max < 1) fail("rateLimit.max must be a positive integer");
    positive("rateLimit.windowMs", rateLimit.windowMs);
  }
  if (!Array.isArray(allowedOrigins)) fail("allowedOrigins must be an array of origins");
  const origins = new Set(
    allowedOrigins.map((a) => {
      let u;
      try {
        u = new URL(a);
      } catch {
        fail(`allowedOrigins: ${JSON.stringify(String(a)).slice(0, 80)} is not an origin`);
      }
      if (u.origin === "null" || u.pathname !== "/" || u.search || u.hash || u.username) fail(`allowedOrigins: ${JSON.stringify(String(a)).slice(0, 80)} is not an origin (scheme://host[:port])`);
      return u.origin;
    }),
  );
  return {
    tokenUrl: url.href,
    serviceAccount,
    privateKey,
    participant,
    clientId,
    clientSecret,
    scope,
    store,
    log,
    now,
    upstreamTimeoutMs,
    serviceTokenRenewMs,
    cacheParticipantTokens,
    matchPageParticipant,
    rateLimit: rateLimit === false ? null : { max: rateLimit.max, windowMs: rateLimit.windowMs },
    maxBodyBytes,
    allowedOrigins: origins,
    storeTimeoutMs,
  };
}

/**
 * The CSRF guard's second line (the first is the JSON content type). Fetch Metadata first:
 * browsers set Sec-Fetch-Site themselves and no script can forge it; same-origin (or none,
 * a user-typed request) passes, same-site / cross-site only from an allowed origin. Without
 * it (older browsers) the Origin header decides; a client sending neither (curl, a server)
 * is no browser being tricked into sending someone's cookies.
 */
function sameSite(header, selfOrigin, allowed) {
  const origin = header("origin");
  const site = header("sec-fetch-site");
  if (site !== null) {
    if (site === "same-origin" || site === "none") return true;
    return origin !== null && allowed.has(origin);
  }
  if (origin === null) return true;
  if (allowed.has(origin)) return true;
  try {
    // Host only: TLS often ends at a proxy, so the scheme this process sees may not be the page's.
    return new URL(origin).host === new URL(selfOrigin).host; // "null" (an opaque origin) throws: refused
  } catch {
    return false;
  }
}

const INVALID = Symbol("invalid");
function parseJson(text) {
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    return INVALID;
  }
}

const mediaType = (v) => String(v ?? "").split(";")[0].trim().toLowerCase();

const TOO_LARGE = new Error("too large");

/** Reads a byte stream as UTF-8, stopping at `limit` bytes (throws TOO_LARGE). */
async function readCapped(stream, limit) {
  const reader = stream.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      reader.cancel().catch(() => {});
      throw TOO_LARGE;
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(all);
}

async function webBody(request, limit) {
  if (Number(request.headers.get("content-length")) > limit) throw new BrokerError(413, "payload_too_large");
  if (!request.body) return null;
  try {
    return await readCapped(request.body, limit);
  } catch (err) {
    if (err === TOO_LARGE) throw new BrokerError(413, "payload_too_large");
    throw new BrokerError(400, "invalid_body");
  }
}

/** The body of a Node request: parsed already by a framework (Express, Fastify), or read here. */
function nodeBody(req, limit) {
  if (req.body !== undefined && req.body !== null) {
    if (typeof req.body === "string") return Promise.resolve(req.body);
    if (req.body instanceof Uint8Array) return Promise.resolve(new TextDecoder().decode(req.body));
    return Promise.resolve(req.body); // an object a JSON body parser made
  }
  if (req.readableEnded) return Promise.resolve(null); // consumed by someone else: no reason given
  if (Number(req.headers["content-length"]) > limit) return Promise.reject(new BrokerError(413, "payload_too_large"));
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    const onData = (chunk) => {
      size += chunk.length;
      if (size > limit) {
        // Stop here; the answer closes the connection (node() sets Connection: close).
        req.off("data", onData);
        req.off("end", onEnd);
        req.pause();
        reject(new BrokerError(413, "payload_too_large"));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      const all = new Uint8Array(size);
      let at = 0;
      for (const c of chunks) {
        all.set(c, at);
        at += c.length;
      }
      resolve(new TextDecoder().decode(all));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.once("error", () => reject(new BrokerError(400, "invalid_body")));
  });
}

// MyDataHelps participant ids are GUIDs; hosts may map their own, so any short printable string.
const isParticipantId = (v) => typeof v === "string" && v.length > 0 && v.length <= 200 && !/[\u0000-\u001f\u007f]/.test(v);
function checkParticipantId(v) {
  if (!isParticipantId(v)) throw new TypeError("mdh-token/broker: participantId must be a non-empty string of at most 200 printable characters");
}

/** An OAuth `error` code fit for a log line: short, from a fixed alphabet, or "-". */
function safeCode(body) {
  const code = body?.error;
  return typeof code === "string" && /^[a-z_]{1,40}$/.test(code) ? code : "-";
}

/** An error's name (never its message) for a log line. */
const errName = (err) => (typeof err?.name === "string" && /^[A-Za-z]{1,40}$/.test(err.name) ? err.name : "error");
const short = (id) => (id.length > 8 ? `${id.slice(0, 8)}…` : id);
const mono = () => performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or a TimeoutError after `ms`; the loser's outcome is swallowed. */
function within(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error("store timeout"), { name: "TimeoutError" })), ms);
  });
  promise.catch(() => {});
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function digest(text) {
  const bytes = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}
