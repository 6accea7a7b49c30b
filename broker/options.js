// createBroker's options: checked once, when the broker is made, with clear TypeErrors, and
// returned with every default filled in. One home for each default.
import { checkKeyShape, derivable } from "./key.js";
import { MAX_CONCURRENT_UPSTREAM } from "./policy.js";
import { checkSealKeys } from "./seal.js";

/** The options with defaults, or a TypeError naming the first bad one. */
export function checkOptions(options) {
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
    // Sealing (seal.js) is on for a shared store: memory never leaves this process.
    seal = store !== null,
    sealKeys,
    telemetry = false,
    maxConcurrentUpstream = MAX_CONCURRENT_UPSTREAM,
    requestTimeoutMs = 9_000,
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
  positive("requestTimeoutMs", requestTimeoutMs);
  if (!Number.isInteger(maxConcurrentUpstream) || maxConcurrentUpstream < 1) fail("maxConcurrentUpstream must be a positive integer");
  if (typeof cacheParticipantTokens !== "boolean") fail("cacheParticipantTokens must be a boolean");
  if (typeof matchPageParticipant !== "boolean") fail("matchPageParticipant must be a boolean");
  if (rateLimit !== false) {
    if (!rateLimit || typeof rateLimit !== "object") fail("rateLimit must be { max, windowMs } or false");
    if (!Number.isInteger(rateLimit.max) || rateLimit.max < 1) fail("rateLimit.max must be a positive integer");
    positive("rateLimit.windowMs", rateLimit.windowMs);
  }
  if (typeof seal !== "boolean") fail("seal must be a boolean");
  checkSealKeys(sealKeys);
  if (seal && !sealKeys && !derivable(privateKey)) fail("seal: a non-extractable CryptoKey privateKey cannot seed the sealing key: pass sealKeys, or an extractable key");
  if (telemetry !== false && telemetry !== true && (telemetry === null || typeof telemetry !== "object")) {
    fail("telemetry must be true, false or { api?, meterProvider?, tracerProvider? }");
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
    seal,
    sealKeys: sealKeys ?? null,
    telemetry: telemetry === true ? {} : telemetry || null,
    maxConcurrentUpstream,
    requestTimeoutMs,
  };
}
