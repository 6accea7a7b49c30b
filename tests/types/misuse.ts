// Misuse the types must refuse: each @ts-expect-error fails the check if it is not an error.
import { createTokenManager } from "mdh-token";

export async function misuse(): Promise<void> {
  // @ts-expect-error broker is required
  await createTokenManager({});
  // @ts-expect-error storage is one of memory | session | local
  await createTokenManager({ broker: "/b", storage: "disk" });
  const tokens = await createTokenManager({ broker: "/b" });
  // @ts-expect-error unknown event name
  tokens.on("tokenWillExpire", () => undefined);
  // @ts-expect-error the token is read-only
  (await tokens.getToken()).access_token = "x";
  // @ts-expect-error status() has no access_token
  void tokens.status().access_token;
  // @ts-expect-error serveFrames needs origins
  tokens.serveFrames({});
  // @ts-expect-error revive is a boolean
  tokens.attachSdk({ setParticipantAccessToken() {}, on() {}, off() {} }, { revive: "no" });
}
