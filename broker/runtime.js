// Every clock, sleep, timer and random source the broker uses, in one object, so that a
// simulation can run the whole broker on a virtual clock (tests/broker/sim*.js).
//
//   now()            epoch ms (the host's `now` option): token expiry, issue times
//   mono()           monotonic ms: waits, back-off, store retry
//   sleep(ms)        → Promise resolved after ms
//   setTimer(fn, ms) → handle; clearTimer(handle)
//   randomId()       a fresh unique string (lock owner ids, assertion jti)
//   sha256(bytes)    → Promise<Uint8Array> (Web Crypto runs it on another thread: its
//                    timing is not the simulation's to decide)

export function realRuntime(now = Date.now) {
  return {
    now,
    mono: () => performance.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    // A timer of our own rather than AbortSignal.timeout(), whose timer does not keep a
    // Node process alive: a host script awaiting participantToken() would just exit.
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (handle) => clearTimeout(handle),
    randomId: () => crypto.randomUUID(),
    sha256: async (bytes) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)),
  };
}

/**
 * `promise`, or a TimeoutError after `ms` of `runtime`'s timers; the loser's outcome is
 * swallowed. The timeout gives way to one more turn of the event loop before it rejects:
 * a process that was busy comes back with its due timers run before the replies it has
 * already received, and an event loop that lagged is not a store that did.
 */
export function within(runtime, promise, ms, what = "timeout") {
  let timer;
  const timeout = new Promise((_, reject) => {
    const fail = () => reject(Object.assign(new Error(what), { name: "TimeoutError" }));
    timer = runtime.setTimer(() => (timer = runtime.setTimer(fail, 0)), ms);
  });
  promise.catch(() => {});
  return Promise.race([promise, timeout]).finally(() => runtime.clearTimer(timer));
}
