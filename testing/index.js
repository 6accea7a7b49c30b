// mdh-token/testing: what a host app's own tests need around the real manager (Vitest or
// Jest, under jsdom or happy-dom: docs/testing.md). Its own entry (package.json exports
// "./testing"): the browser bundle never imports it, and it imports nothing.
//
// The clock is the test runner's: every delay here (latency) and in the manager (renewal,
// retries, expiry) is a global setTimeout and Date.now read at the time of the call, so
// vi.useFakeTimers() / jest.useFakeTimers() and their advanceTimersByTimeAsync() drive
// an hour of renewals in a few milliseconds; with real timers everything runs as in a page.

// Jest's jsdom environment has no TextEncoder and TextDecoder (jestjs/jest#9983), which
// the package's wasm glue creates when it is imported: take Node's. Listed in Jest's
// `setupFiles`, this entry runs before a test imports mdh-token (docs/testing.md).
const util = globalThis.process?.getBuiltinModule?.("util");
for (const name of ["TextEncoder", "TextDecoder"]) globalThis[name] ??= util?.[name];

/** @type {import("./index").loadWasm} */
export async function loadWasm() {
  // The package's own bundle: the same module instance as the host's `mdh-token`. Its
  // one export, createTokenManager, loads the wasm before it reads its options: options
  // it refuses load the wasm and make no manager.
  const { createTokenManager } = await import("../pkg/mdh_token.js");
  await createTokenManager(undefined).then(
    (m) => m.destroy(),
    (e) => {
      if (e?.code !== "invalid_options") throw e;
    },
  );
}

const reject = (signal, fail) => signal?.addEventListener("abort", () => fail(signal.reason), { once: true });

// A delay that ends early (rejecting) when the manager aborts the request (its timeout,
// clear(), destroy()), as a real fetch does.
function wait(ms, signal) {
  return new Promise((resolve, fail) => {
    const t = setTimeout(resolve, ms);
    reject(signal, (why) => {
      clearTimeout(t);
      fail(why);
    });
  });
}

/** @type {import("./index").scriptedBroker} */
export function scriptedBroker({ expiresIn = 3600, latencyMs = 0, prefix = "test-token-" } = {}) {
  const steps = [];
  const requests = [];
  const tokens = [];
  let latency = latencyMs;
  let issued = 0;
  const step = (s, times = 1) => {
    for (let i = 0; i < times; i++) steps.push(s);
    return broker;
  };
  const broker = async ({ signal, reason } = {}) => {
    requests.push({ reason, at: Date.now() });
    const s = steps.shift() ?? {};
    const ms = s.latencyMs ?? latency;
    if (s.hang) await new Promise((_, fail) => reject(signal, fail));
    if (ms > 0) await wait(ms, signal);
    if (s.fail !== undefined) throw s.fail;
    const token = { access_token: prefix + ++issued, token_type: "Bearer", expires_in: expiresIn, ...s.answer };
    tokens.push(token.access_token);
    return token;
  };
  return Object.defineProperties(broker, {
    calls: { get: () => requests.length, enumerable: true },
    requests: { value: requests, enumerable: true },
    tokens: { value: tokens, enumerable: true },
    pending: { get: () => steps.length, enumerable: true },
    answer: { value: (fields = {}, { times, latencyMs } = {}) => step({ answer: fields, latencyMs }, times) },
    fail: {
      value: (failure, { times, latencyMs } = {}) =>
        step({ fail: typeof failure === "number" ? { status: failure } : failure, latencyMs }, times),
    },
    hang: { value: ({ times } = {}) => step({ hang: true }, times) },
    latency: {
      value: (ms) => {
        latency = ms;
        return broker;
      },
    },
    reset: {
      value: () => {
        steps.length = requests.length = tokens.length = 0;
        latency = latencyMs;
        return broker;
      },
    },
  });
}

// MyDataHelps.js 5.7.0 in standalone mode, as far as attachSdk and a host's components
// meet it (docs/mydatahelps.md): setParticipantAccessToken records the expiry and
// schedules tokenWillExpire at expires_in − 120 s (each call another timer, never
// cleared); API calls reject with a string once the token expired.
/** @type {import("./index").fakeSdk} */
export function fakeSdk({ participant = { participantID: "test-participant", demographics: { firstName: "Test" } } } = {}) {
  const listeners = new Map();
  let current = null;
  let expires = 0;
  const sdk = {
    tokens: [],
    events: [],
    baseUrl: undefined,
    setParticipantAccessToken(token, baseUrl) {
      current = token.access_token;
      expires = Date.now() + token.expires_in * 1000;
      sdk.baseUrl = baseUrl;
      sdk.tokens.push(token.access_token);
      setTimeout(() => sdk.triggerEvent({ type: "tokenWillExpire" }), Math.max(0, token.expires_in - 120) * 1000);
    },
    on(name, fn) {
      if (!listeners.has(name)) listeners.set(name, new Set());
      listeners.get(name).add(fn);
    },
    off(name, fn) {
      listeners.get(name)?.delete(fn);
    },
    triggerEvent(event) {
      sdk.events.push(event.type);
      for (const fn of [...(listeners.get(event.type) ?? [])]) fn(event);
    },
    listenerCount: (name) => listeners.get(name)?.size ?? 0,
    get accessToken() {
      return current !== null && Date.now() < expires ? current : null;
    },
    getParticipantInfo() {
      return sdk.accessToken === null
        ? Promise.reject(current === null ? "must be explicitly provided an access token" : "access token is expired or invalid")
        : Promise.resolve(JSON.parse(JSON.stringify(participant)));
    },
  };
  return sdk;
}
