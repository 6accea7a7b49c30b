// Cache stores for mdh-token/broker. A store keeps short strings with a time to live and
// offers the two atomic operations N broker instances need to share one upstream call:
// add-if-absent (the lock, `SET NX PX`) and compare-and-delete (its release), plus a
// windowed counter for the rate limit. Values are opaque to the store.
//
//   get(key)                → string | null
//   set(key, value, ttlMs)  → void
//   add(key, value, ttlMs)  → true when the key was absent and is now set (SET NX PX)
//   remove(key, value)      → deletes the key only while it still holds `value`
//   incr(key, windowMs)     → { count, ttlMs }: +1 on a counter that lives `windowMs` from its first increment

/**
 * The in-memory store: one process, no dependency. The broker's default, and its own
 * fallback copy when a shared store stops answering.
 * @param {{ now?: () => number }} [o] epoch-ms clock (the broker passes its own)
 */
export function memoryStore({ now = Date.now } = {}) {
  const map = new Map(); // key → { v, exp }
  // The next sweep when the map reaches this size: twice what the last one left, so that
  // sweeping is amortised constant work per new key. An overwrite never sweeps: the broker
  // refreshes its copy of a shared entry on every cached answer.
  let sweepAt = 1_024;
  const live = (key) => {
    const e = map.get(key);
    if (e && e.exp <= now()) {
      map.delete(key);
      return undefined;
    }
    return e;
  };
  const put = (key, v, ttlMs) => {
    // Sweep now and then, so participants who never come back do not pile up.
    if (map.size >= sweepAt && !map.has(key)) {
      for (const k of map.keys()) live(k);
      sweepAt = Math.max(1_024, 2 * map.size);
    }
    map.set(key, { v, exp: now() + Math.max(1, ttlMs) });
  };
  return {
    async get(key) {
      return live(key)?.v ?? null;
    },
    async set(key, value, ttlMs) {
      put(key, value, ttlMs);
    },
    async add(key, value, ttlMs) {
      if (live(key)) return false;
      put(key, value, ttlMs);
      return true;
    },
    async remove(key, value) {
      if (live(key)?.v === value) map.delete(key);
    },
    async incr(key, windowMs) {
      const e = live(key);
      if (!e) {
        put(key, 1, windowMs);
        return { count: 1, ttlMs: windowMs };
      }
      e.v += 1;
      return { count: e.v, ttlMs: e.exp - now() };
    },
  };
}

// Compare-and-delete and a counter that expires a window after its first increment:
// each one Lua script, so it is atomic on the Redis server (EVAL runs scripts alone).
const REMOVE_IF = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
const INCR_WINDOW =
  "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return {n, redis.call('PTTL', KEYS[1])}";

/**
 * A Redis store over a client the host creates and connects: node-redis (v4+,
 * `sendCommand`), ioredis (`call`), or any `(args: string[]) => Promise<reply>`. It sends
 * raw commands, so it imports no Redis library and works with either.
 * @param {object|Function} client
 * @param {{ prefix?: string }} [o] key prefix, default "mdh-token:"
 */
export function redisStore(client, { prefix = "mdh-token:" } = {}) {
  const command = commandOf(client);
  const ms = (n) => String(Math.max(1, Math.ceil(n)));
  return {
    async get(key) {
      const v = await command(["GET", prefix + key]);
      return v == null ? null : String(v);
    },
    async set(key, value, ttlMs) {
      await command(["SET", prefix + key, value, "PX", ms(ttlMs)]);
    },
    async add(key, value, ttlMs) {
      return (await command(["SET", prefix + key, value, "NX", "PX", ms(ttlMs)])) === "OK";
    },
    async remove(key, value) {
      await command(["EVAL", REMOVE_IF, "1", prefix + key, value]);
    },
    async incr(key, windowMs) {
      const [count, ttl] = await command(["EVAL", INCR_WINDOW, "1", prefix + key, ms(windowMs)]);
      return { count: Number(count), ttlMs: Number(ttl) > 0 ? Number(ttl) : windowMs };
    },
  };
}

const NO_CLIENT_TIMEOUT = Object.freeze({ timeout: 0 });

function commandOf(client) {
  if (typeof client === "function") return client;
  // ioredis first: it also has a sendCommand, with another signature (a Command object).
  if (client && typeof client.call === "function") return (args) => client.call(...args);
  // node-redis (v5+) arms an AbortSignal.timeout per command unless told otherwise (its
  // commandOptions.timeout, 5 s by default); the broker bounds every store call itself
  // (storeTimeoutMs), so that timer is only cost: about a sixth of the CPU of a cached answer.
  if (client && typeof client.sendCommand === "function") return (args) => client.sendCommand(args, NO_CLIENT_TIMEOUT);
  throw new TypeError("mdh-token/broker: redisStore needs a node-redis or ioredis client, or a function (args) => Promise");
}
