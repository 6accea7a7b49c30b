// A consumer of the package's types: must compile under --strict with no `any`.
import {
  createTokenManager,
  type Token,
  type TokenError,
  type TokenStatus,
  type MyDataHelpsLike,
  type MdhTokenDevtools,
  type AttachSdkOptions,
} from "mdh-token";
import RealMyDataHelps from "@careevolution/mydatahelps-js";

declare const MyDataHelps: MyDataHelpsLike;
declare const mdhToken: MdhTokenDevtools;

export async function main(): Promise<number> {
  const tokens = await createTokenManager({
    broker: "/api/mdh/token",
    headers: { "X-CSRF": "x" },
    credentials: "include",
    storage: "session",
    storageKey: "k",
    renewBeforeSeconds: 120,
    timeoutMs: 10000,
    retry: { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 30000 },
    crossTab: true,
    autoRefresh: true,
    baseUrl: "https://mydatahelps.org/",
    devtools: "myToken",
    logLevel: "debug",
  });
  const fn = await createTokenManager({
    broker: async ({ signal, reason }) => {
      const r = await fetch("/b", { method: "POST", signal, headers: { "X-Reason": reason } });
      return (await r.json()) as { access_token: string; token_type: string; expires_in: number };
    },
  });
  const t: Token = await tokens.getToken();
  const maybe: Token | null = tokens.peek();
  const bearer: "Bearer" = t.token_type;
  MyDataHelps.setParticipantAccessToken(t, "https://mydatahelps.org/");
  const off = tokens.on("error", (e: TokenError) => {
    const code: "broker_unreachable" | "broker_timeout" | "broker_rejected" | "broker_failed" | "invalid_response" | "cleared" | "destroyed" | "invalid_options" | "unsupported_environment" | "wasm_unavailable" | "sdk_unavailable" | "internal" | "passive" = e.code;
    void code, e.status, e.retryAt, e.cause;
  });
  off();
  tokens.on("token", (tok) => void tok.expires_at);
  tokens.on("cleared", () => undefined);
  const st: TokenStatus = tokens.status();
  const detach = tokens.attachSdk(MyDataHelps, { baseUrl: "https://mydatahelps.org/" });
  await detach.ready;
  detach();
  // The real MyDataHelps.js 5.7.0 (its own types) fits MyDataHelpsLike.
  const sdkOptions: AttachSdkOptions = { revive: false };
  tokens.attachSdk(RealMyDataHelps, sdkOptions)();
  const stop = tokens.serveFrames({ origins: ["https://mydatahelps.org"], participantId: "p" });
  stop();
  const res: Response = await tokens.fetch("https://mydatahelps.org/api/v1/delegated/participant", { method: "GET" });
  const s2: TokenStatus = await mdhToken.refresh();
  tokens.setLogLevel("silent");
  tokens.clear();
  tokens.destroy();
  fn.destroy();
  return (maybe?.expires_in ?? 0) + st.brokerCalls + res.status + s2.brokerCalls + bearer.length;
}
