// A consumer of mdh-token/react: must compile under --strict with no `any`.
import { StrictMode, useEffect, useState } from "react";
import { TokenProvider, useTokenManager, useTokenStatus, type TokenProviderProps } from "mdh-token/react";
import type { TokenError, TokenManager, TokenStatus, Token } from "mdh-token";
import MyDataHelps from "@careevolution/mydatahelps-js";

function Participant() {
  const tokens: TokenManager | null = useTokenManager();
  const status: TokenStatus | null = useTokenStatus();
  const [token, setToken] = useState<Token | null>(null);
  useEffect(() => {
    if (tokens) void tokens.getToken().then(setToken);
  }, [tokens]);
  return <p>{status?.state ?? "starting"} {token?.expires_in}</p>;
}

export function App() {
  const onError = (e: TokenError) => console.warn(e.code);
  const props: TokenProviderProps = { options: { broker: "/api/mdh/token" } };
  return (
    <StrictMode>
      <TokenProvider options={{ broker: "/api/mdh/token", storage: "session" }} sdk={MyDataHelps} sdkOptions={{ revive: true }} onError={onError}>
        <Participant />
      </TokenProvider>
      <TokenProvider {...props}>
        <Participant />
      </TokenProvider>
      {/* MyDataHelps.js loaded after mount, never on a server (Next.js App Router). */}
      <TokenProvider options={{ broker: "/api/mdh/token" }} sdk={() => import("@careevolution/mydatahelps-js")}>
        <Participant />
      </TokenProvider>
    </StrictMode>
  );
}

export function Misuse() {
  // @ts-expect-error options are required
  return <TokenProvider><Participant /></TokenProvider>;
}

export function NotALoader() {
  // @ts-expect-error a loader must return a promise of MyDataHelps.js
  return <TokenProvider options={{ broker: "/b" }} sdk={() => 42}><Participant /></TokenProvider>;
}
