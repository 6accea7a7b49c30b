// The shell around policy.js: it performs what the policy decides, against the shared store
// (with this instance's memory as the fallback) and MyDataHelps. One participant token per
// participant at a time across the fleet: the store's lock (`SET NX PX`) elects the one
// instance that calls upstream; the others wait on the store. Every clock, sleep, timer and
// id comes from `runtime` (runtime.js), every store value goes through `codec` (records.js).
import { BrokerError, errName, safeCode, short } from "./errors.js";
import { memoryStore } from "./store.js";
import { within } from "./runtime.js";
import { MIN_EXPIRES_IN_MS } from "./records.js";
import {
  STORE_RETRY_MS, SERVICE_RETRY_INTERVAL_MS, lockTtlMs as lockTtlOf, reusableUntil, serviceRenewAt,
  participantAccept, serviceAccept, failureTtlMs, failureRecord, tokenRecord, answerOf, rateVerdict,
  opensCircuit, circuitAfter, circuitVerdict, CIRCUIT_MEMORY_MS, credible,
} from "./policy.js";

// Refusals this instance makes on its own (circuit open, too many calls open): not
// MyDataHelps' answer, so not remembered as the participant's failure.
const refusals = new WeakSet();
function refusal(retryAfter) {
  const err = new BrokerError(503, "upstream_unavailable", retryAfter);
  refusals.add(err);
  return err;
}

/**
 * @param o checked options (options.js)
 * @param deps { runtime, codec, observer, log, upstream, credentials }
 */
export function tokenService(o, { runtime, codec, observer, log, upstream, credentials }) {
  const { now, mono } = runtime;
  const local = memoryStore({ now });
  const shared = o.store ?? local;
  const lockTtlMs = lockTtlOf(o.upstreamTimeoutMs);
  const flights = new Map(); // key → the one in-process promise for it
  let storeDown = false;
  let storeRetryAt = 0;
  let initLogged = false;
  let serviceFetches = 0; // service tokens this instance fetched
  let lastService = null;
  let lastServiceRetry = -Infinity; // this instance's last service-token replacement on invalid_grant
  let openCalls = 0; // upstream calls open now, this instance

  async function ready() {
    try {
      await credentials.key;
      return { ns: await credentials.namespace };
    } catch (err) {
      if (!initLogged) log(`broker: the private key could not be imported (${errName(err)}): check privateKey`);
      initLogged = true;
      throw new BrokerError(502, "broker_misconfigured");
    }
  }

  // ---- the store, with this instance's memory as the fallback ---------------------------

  let lastRefusalLog = -Infinity;

  /**
   * `op` on the shared store, or `fallback` (this instance's memory). A command the store
   * answers with an error reply (a WRONGTYPE, a non-integer counter, OOM) failed alone:
   * the fallback serves it and the store stays in use. No answer in storeTimeoutMs, or no
   * connection, is an outage: the fallback serves everything for STORE_RETRY_MS.
   */
  async function viaShared(op, fallback) {
    if (shared === local) return op(local);
    if (storeDown && mono() < storeRetryAt) return fallback();
    try {
      const result = await within(runtime, op(shared), o.storeTimeoutMs, "store timeout");
      if (storeDown) {
        log("broker: cache store answers again; sharing tokens across instances");
        observer.event("store_recovery");
      }
      storeDown = false;
      return result;
    } catch (err) {
      if (isErrorReply(err)) {
        if (mono() - lastRefusalLog >= 60_000) {
          lastRefusalLog = mono();
          log(`broker: cache store refused a command (${errName(err)}); served from this instance's memory`);
        }
        return fallback();
      }
      storeRetryAt = mono() + STORE_RETRY_MS;
      if (!storeDown) {
        log(`broker: cache store unavailable (${errName(err)}); serving from this instance's memory cache`);
        observer.event("store_fallback");
      }
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
    // Always tried where the lock was taken, store outage or not: a lock left behind
    // would hold every other instance until its TTL.
    unlock: (key, value, where) => (where === local ? local.remove(key, value) : within(runtime, shared.remove(key, value), o.storeTimeoutMs, "store timeout")),
    incr: (key, windowMs) => viaShared((s) => s.incr(key, windowMs), () => local.incr(key, windowMs)),
  };

  /** The token record at `key`, validated by the codec, live at `now`; else null. */
  async function readToken(key, participantId) {
    const text = await cache.get(key);
    if (typeof text !== "string") return null;
    const r = await codec.decode(key, participantId, text);
    const kind = participantId === null ? "service_token" : "participant_token";
    if (r?.kind !== kind || !credible(r, now())) return null;
    // Keep a copy here, so that this instance can go on serving it if the store goes away.
    if (shared !== local && !storeDown) await local.set(key, text, r.expiresAt - now());
    return r;
  }

  async function readFailure(key, participantId) {
    // This instance's own memory first: a failure it wrote while the store was away is
    // still its failure when the store comes back without it.
    const text = (shared !== local ? await local.get(key) : null) ?? (await cache.get(key));
    if (typeof text !== "string") return null;
    const r = await codec.decode(key, participantId, text);
    return r?.kind === "failure" ? new BrokerError(r.status, r.code, r.retryAfter) : null;
  }

  /**
   * The record for `key` that `accept` takes: from the store, from the one flight under way
   * in this process, or from one upstream call made under the store's lock (`SET NX PX`),
   * which every other instance waits on, polling the store, instead of calling too.
   */
  async function obtain(key, participantId, accept, fetcher, job) {
    const ok = (r) => r !== null && accept(r, now());
    for (let round = 0; round < 3; round++) {
      const joined = flights.get(key);
      if (joined) {
        const r = await joined;
        if (ok(r)) return r;
        continue; // e.g. a forced renewal that joined a flight answered from the cache
      }
      const hit = await readToken(key, participantId);
      if (ok(hit)) {
        job.hit = true;
        return hit;
      }
      if (flights.has(key)) continue;
      const flight = coordinated(key, participantId, ok, fetcher, job);
      flights.set(key, flight);
      flight.then(() => flights.delete(key), () => flights.delete(key));
      return flight;
    }
    return coordinated(key, participantId, ok, fetcher, job);
  }

  async function coordinated(key, participantId, ok, fetcher, job) {
    const lockKey = `${key}:lock`;
    const failKey = `${key}:fail`;
    const id = runtime.randomId();
    const giveUpAt = mono() + 2 * lockTtlMs;
    let delay = 5;
    let holder = null; // { value, since }: who holds the lock, first seen when
    for (;;) {
      const failed = await readFailure(failKey, participantId);
      if (failed) throw failed;
      const where = await cache.lock(lockKey, id, lockTtlMs);
      if (where) {
        try {
          // Re-read under the lock: the holder before us may have failed and let go
          // between our first read and our lock.
          const failedMeanwhile = await readFailure(failKey, participantId);
          if (failedMeanwhile) throw failedMeanwhile;
          const hit = await readToken(key, participantId);
          if (ok(hit)) return hit;
          return await fetchAndStore(key, failKey, participantId, fetcher, job);
        } finally {
          await cache.unlock(lockKey, id, where).catch(() => {});
        }
      }
      // The lock's TTL, enforced here too: a lock that outlives it (written without
      // one, or a store that lost it) is taken away from its holder, compare-and-delete.
      const value = await cache.get(lockKey);
      if (typeof value === "string" && value === holder?.value) {
        if (mono() - holder.since > lockTtlMs) {
          log("broker: a lock outlived its TTL; taken over");
          await viaShared((s) => s.remove(lockKey, value), () => local.remove(lockKey, value)).catch(() => {});
          holder = null;
          continue;
        }
      } else {
        holder = typeof value === "string" ? { value, since: mono() } : null;
      }
      if (mono() > giveUpAt) {
        log("broker: gave up waiting for another instance's upstream call; calling MyDataHelps directly");
        return fetchAndStore(key, failKey, participantId, fetcher, job);
      }
      await runtime.sleep(delay);
      delay = Math.min(delay * 2, 100);
      const hit = await readToken(key, participantId);
      if (ok(hit)) return hit;
    }
  }

  async function fetchAndStore(key, failKey, participantId, fetcher, { ttlOf, before }) {
    let record;
    try {
      // An open circuit refuses before the rate limit counts a call that will not be made.
      const { verdict } = await circuit();
      if (verdict !== "closed" && verdict !== "half-open") throw refusal(verdict);
      if (before) await before();
      record = await fetcher();
    } catch (err) {
      if (err instanceof BrokerError && !refusals.has(err)) {
        const text = await codec.encode(failKey, participantId, failureRecord(err));
        await cache.set(failKey, text, failureTtlMs(err)).catch(() => {});
      }
      throw err;
    }
    const text = await codec.encode(key, participantId, record);
    await cache.set(key, text, Math.max(1_000, ttlOf(record) - now())).catch(() => {});
    return record;
  }

  // ---- the fleet-wide back-off and the per-instance cap -----------------------------------

  async function circuitKey() {
    return `${(await ready()).ns}:circuit`;
  }

  /** The circuit's record as stored (text, for compare-and-delete) and its verdict now. */
  async function circuit() {
    const key = await circuitKey();
    const text = await cache.get(key);
    const rec = typeof text === "string" ? await codec.decode(key, null, text) : null;
    const open = rec?.kind === "circuit" ? rec : null;
    return { key, text: open ? text : null, rec: open, verdict: circuitVerdict(open, now()) };
  }

  /**
   * One upstream call, if the cap and the circuit let it through: at most
   * maxConcurrentUpstream open on this instance; none while the circuit is open; one
   * fleet-wide (the probe) when it is half open. Its outcome opens or closes the circuit.
   */
  async function gated(run) {
    if (openCalls >= o.maxConcurrentUpstream) throw refusal("1");
    openCalls++;
    let probe = null;
    try {
      const state = await circuit();
      if (state.verdict === "half-open") {
        const id = runtime.randomId();
        const where = await cache.lock(`${state.key}:probe`, id, lockTtlMs);
        if (!where) throw refusal("1");
        probe = { id, where };
      } else if (state.verdict !== "closed") {
        throw refusal(state.verdict);
      }
      let result;
      try {
        result = await run();
      } catch (err) {
        if (!refusals.has(err) && opensCircuit(err)) await tripCircuit(state, err);
        else await closeCircuit(state);
        throw err;
      }
      await closeCircuit(state);
      return result;
    } finally {
      openCalls--;
      if (probe) await cache.unlock(`${await circuitKey()}:probe`, probe.id, probe.where).catch(() => {});
    }
  }

  async function tripCircuit(state, err) {
    const rec = circuitAfter(state.rec, err, now());
    const text = await codec.encode(state.key, null, rec);
    await cache.set(state.key, text, rec.openUntil - now() + CIRCUIT_MEMORY_MS).catch(() => {});
    log(`broker: MyDataHelps unavailable (${err.code}); every instance waits ${Math.round((rec.openUntil - now()) / 1000)} s before calling it again`);
    observer.event("circuit_open");
  }

  async function closeCircuit(state) {
    if (!state.text) return;
    await Promise.all([local.remove(state.key, state.text), viaShared((s) => s.remove(state.key, state.text), () => undefined)]).catch(() => {});
    log("broker: MyDataHelps answers again");
    observer.event("circuit_close");
  }

  // ---- the service token and the exchange ------------------------------------------------

  async function fetchServiceToken() {
    const got = await gated(() => upstream.serviceGrant());
    log(`broker: new service token (expires_in ${got.lifetimeMs / 1000} s)`);
    serviceFetches += 1;
    lastService = tokenRecord("service_token", null, got);
    return lastService;
  }

  /**
   * Another service token than `refused`, which just drew invalid_grant, or null (the
   * participant is refused). One the fleet already has (another request replaced it, or is
   * replacing it) costs nothing; a new grant only when `refused` is 30 s old or more, or
   * once per 30 s on this instance: an unknown participant cannot churn service tokens, and
   * a revoked one fails nobody else.
   */
  async function replacementService(refused) {
    const { ns } = await ready();
    const key = `${ns}:svc`;
    const current = flights.has(key) ? await flights.get(key).catch(() => null) : await readToken(key, null);
    if (current && current.token !== refused.token) return current;
    const old = now() - refused.fetchedAt >= SERVICE_RETRY_INTERVAL_MS;
    if (!old && now() - lastServiceRetry < SERVICE_RETRY_INTERVAL_MS) return null;
    lastServiceRetry = now();
    return serviceToken(refused.token);
  }

  /** The shared service token; `not` excludes one that MyDataHelps just refused. */
  async function serviceToken(not) {
    const { ns } = await ready();
    const accept = serviceAccept(now(), o.serviceTokenRenewMs, not);
    return obtain(`${ns}:svc`, null, accept, fetchServiceToken, { ttlOf: (r) => serviceRenewAt(r, o.serviceTokenRenewMs) });
  }

  async function fetchParticipantToken(participantId, reason) {
    const fetchesBefore = serviceFetches;
    let service = await serviceToken();
    // Fetched by this very call (or one it joined): MyDataHelps just vouched for it, so an
    // invalid_grant is about the participant.
    const fresh = serviceFetches > fetchesBefore && service === lastService;
    let { answer, got, sentAt, receivedAt } = await gated(() => upstream.exchange(participantId, service.token));
    if (!got && !fresh && answer.status === 400 && safeCode(answer.body) === "invalid_grant") {
      // The service token may have been revoked early (upstream restart, key rotation):
      // try once with another one before blaming the participant.
      const other = await replacementService(service);
      if (other) {
        service = other;
        ({ answer, got, sentAt, receivedAt } = await gated(() => upstream.exchange(participantId, service.token)));
      }
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
    const record = tokenRecord("participant_token", participantId, { ...got, sentAt, receivedAt });
    if (record.expiresAt - now() < MIN_EXPIRES_IN_MS) {
      // Spent on the way (a slow answer of a short lifetime): the page would refuse it.
      log(`broker: participant token for ${short(participantId)} arrived with under ${MIN_EXPIRES_IN_MS / 1000} s left`);
      throw new BrokerError(502, "upstream_malformed");
    }
    log(`broker: participant token for ${short(participantId)} from MyDataHelps (${reason}, expires_in ${got.lifetimeMs / 1000} s)`);
    return record;
  }

  /** A token for `participantId` (checked by the caller), as the page gets it. */
  async function participantToken(participantId, reason) {
    const { ns } = await ready();
    const key = `${ns}:pt:${await keyPart(participantId, runtime)}`;
    const accept = participantAccept(reason, o.cacheParticipantTokens, now());
    const before =
      o.rateLimit &&
      (async () => {
        const retryAfter = rateVerdict(await cache.incr(`${key}:rate`, o.rateLimit.windowMs), o.rateLimit.max);
        if (retryAfter !== null) {
          log(`broker: rate limit for ${short(participantId)}: more than ${o.rateLimit.max} MyDataHelps calls in ${o.rateLimit.windowMs / 1000} s`);
          observer.event("rate_limited");
          throw new BrokerError(429, "rate_limited", retryAfter);
        }
      });
    const job = { hit: false, ttlOf: reusableUntil, before };
    const record = await obtain(key, participantId, accept, () => fetchParticipantToken(participantId, reason), job);
    observer.event(job.hit ? "cache_hit" : "cache_miss");
    return answerOf(record, now());
  }

  // serviceToken and circuit: for the health probe (health.js).
  return { participantToken, serviceToken: () => serviceToken(), circuit: async () => (await circuit()).verdict };
}

/**
 * A participant id's part of its store keys. An id of letters, digits, ".", "_" and "-"
 * up to 200 characters (a MyDataHelps GUID) is itself, so an operator can find it; any
 * other (up to the page's 1,024 characters, any UTF-16) is "~" and the base64url SHA-256
 * of its UTF-16 code units ("~" is outside the first alphabet: the two never meet). Every
 * record names its participant too, so even a collision could not cross participants.
 */
async function keyPart(id, runtime) {
  if (/^[A-Za-z0-9._-]{1,200}$/.test(id)) return id;
  const units = new Uint16Array(id.length);
  for (let i = 0; i < id.length; i++) units[i] = id.charCodeAt(i);
  const digest = await runtime.sha256(new Uint8Array(units.buffer));
  return `~${btoa(String.fromCharCode(...digest)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
}

/**
 * An error reply of the store (node-redis ErrorReply and its subclasses, ioredis
 * ReplyError): the command failed, the connection did not.
 */
const isErrorReply = (err) => /^(ErrorReply|SimpleError|BlobError|ReplyError)$/.test(err?.constructor?.name ?? "") || err?.name === "ReplyError";
