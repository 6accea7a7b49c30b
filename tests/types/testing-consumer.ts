// A consumer of mdh-token/testing: must compile under --strict with no `any`.
import { createTokenManager, type TokenState, type TokenErrorCode } from "mdh-token";
import { scriptedBroker, fakeSdk, type ScriptedBroker, type FakeSdk } from "mdh-token/testing";

export async function unit(): Promise<number> {
  const broker: ScriptedBroker = scriptedBroker({ expiresIn: 600, latencyMs: 50 });
  broker.answer({ expires_in: 300 }).fail(503, { times: 2 }).fail(new Error("offline")).hang().latency(0);
  const sdk: FakeSdk = fakeSdk({ participant: { participantID: "p-1" } });
  const tm = await createTokenManager({ broker, participant: "p-1", crossTab: false });
  const detach = tm.attachSdk(sdk);
  await detach.ready;
  const state: TokenState = tm.status().state;
  const code: TokenErrorCode = "wasm_unavailable";
  const me = await sdk.getParticipantInfo();
  void [state, code, me.participantID, sdk.accessToken, sdk.tokens.length, broker.requests[0]?.reason];
  // @ts-expect-error calls is read-only
  broker.calls = 3;
  // @ts-expect-error not a state
  const wrong: TokenState = "starting";
  void wrong;
  return broker.calls + broker.pending + sdk.listenerCount("tokenWillExpire");
}
