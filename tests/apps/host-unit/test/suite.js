// The host's tests, written once for both runners: `runner` brings the test functions and
// the runner's fake timers (Vitest's vi or Jest's jest). Assertions with node:assert.
import assert from "node:assert/strict";
import { createElement as h } from "react";
import { render, screen, act, cleanup, fireEvent } from "@testing-library/react";
import { createTokenManager } from "mdh-token";
import { scriptedBroker, fakeSdk, loadWasm } from "mdh-token/testing";
import { App } from "../src/app.js";

export function suite({ test, beforeAll, afterEach, timers }) {
  // The wasm is real IO: loaded once with real timers, before any test fakes them.
  beforeAll(() => loadWasm());
  afterEach(() => {
    cleanup(); // unmounts: the provider destroys its manager
    timers.useReal();
  });
  const text = (id) => screen.getByTestId(id).textContent;
  // Runs the fake clock forward; React updates flushed inside act().
  const advance = (ms) => act(() => timers.advance(ms));

  test("the real manager in a test DOM: TokenProvider + attachSdk feed the SDK, the tree renders the participant", async () => {
    const broker = scriptedBroker();
    const sdk = fakeSdk({ participant: { participantID: "p-1", demographics: { firstName: "Ada" } } });
    render(h(App, { broker, sdk }));
    assert.equal(text("state"), "starting");
    await screen.findByText("Ada");
    assert.equal(text("state"), "valid");
    assert.equal(broker.calls, 1);
    assert.deepEqual(broker.requests.map((r) => r.reason), ["initial"]);
    assert.deepEqual(sdk.tokens, broker.tokens, "the SDK got the broker's token");
    assert.equal(sdk.accessToken, "test-token-1");
  });

  test("createTokenManager() itself: getToken, status, fetch-free broker function", async () => {
    const broker = scriptedBroker({ expiresIn: 900 });
    const tm = await createTokenManager({ broker, crossTab: false });
    try {
      const t = await tm.getToken();
      assert.equal(t.access_token, "test-token-1");
      assert.ok(t.expires_in > 890 && t.expires_in <= 900, `expires_in ${t.expires_in}`); // whole seconds left now
      assert.equal(tm.status().state, "valid");
      assert.equal((await tm.refresh()).access_token, "test-token-2");
      assert.equal(broker.calls, 2);
    } finally {
      tm.destroy();
    }
  });

  test("renewals without waiting: two hours of 10-minute tokens on the runner's fake timers", async () => {
    timers.useFake();
    const broker = scriptedBroker({ expiresIn: 600 });
    const sdk = fakeSdk();
    render(h(App, { broker, sdk }));
    await advance(0);
    assert.equal(text("state"), "valid");
    assert.equal(text("who"), "Test");
    const start = Date.now();
    for (let i = 0; i < 24; i++) {
      await advance(5 * 60_000);
      assert.notEqual(sdk.accessToken, null, "the SDK never holds an expired token");
    }
    assert.ok(Date.now() - start >= 2 * 3600_000, "the fake clock moved two hours");
    // Renewed every 480 s (120 s before expiry): 15 renewals in 7,200 s, plus the first.
    assert.equal(broker.calls, 16);
    assert.deepEqual(broker.requests.slice(1).map((r) => r.reason), Array(15).fill("scheduled"));
    assert.deepEqual(sdk.tokens, broker.tokens, "each token reached the SDK once, in order");
  });

  test("a failing broker: backoff, then a token once it recovers (scripted failures and latency)", async () => {
    timers.useFake();
    const broker = scriptedBroker({ latencyMs: 200 }).fail(503, { times: 2 });
    const sdk = fakeSdk();
    render(h(App, { broker, sdk }));
    await advance(0);
    assert.equal(text("state"), "renewing");
    await advance(200); // the first answer: 503
    assert.equal(broker.calls, 1);
    assert.equal(text("state"), "backoff");
    await advance(10_000); // retries (jittered, ≤ 500 ms then ≤ 1 s) and their latency
    assert.equal(broker.calls, 3);
    assert.equal(text("state"), "valid");
    assert.equal(text("who"), "Test");
    assert.deepEqual(sdk.tokens, ["test-token-1"]);
  });

  test("sign-out: clear() empties the state, the SDK keeps no renewal going", async () => {
    timers.useFake();
    const broker = scriptedBroker();
    const sdk = fakeSdk();
    render(h(App, { broker, sdk }));
    await advance(0);
    assert.equal(text("state"), "valid");
    await act(async () => fireEvent.click(screen.getByText("Forget the token")));
    assert.equal(text("state"), "empty");
    // MyDataHelps.js's tokenWillExpire timer of the old token still fires (at 58 min):
    // it must not fetch a token for a participant who signed out.
    await advance(2 * 3600_000);
    assert.ok(sdk.events.includes("tokenWillExpire"), "the SDK's old timer fired");
    assert.equal(broker.calls, 1, "no broker call after clear()");
    assert.equal(text("state"), "empty");
  });

  test("the SDK as a loader (sdk={() => import(…)}), and a loader that fails reported as sdk_unavailable", async () => {
    const broker = scriptedBroker();
    const sdk = fakeSdk();
    render(h(App, { broker, sdk, load: () => Promise.resolve({ default: sdk }) }));
    await screen.findByText("Test");
    assert.deepEqual(sdk.tokens, ["test-token-1"]);
    cleanup();
    const errors = [];
    const offline = new TypeError("Failed to fetch dynamically imported module");
    render(h(App, { broker, sdk: fakeSdk(), load: () => Promise.reject(offline), onError: (e) => errors.push(e) }));
    await screen.findByText("valid");
    assert.deepEqual(errors.map((e) => [e.name, e.code, e.cause]), [["TokenError", "sdk_unavailable", offline]]);
  });
}
