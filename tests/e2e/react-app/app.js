// The React test app of tests/e2e/react.test.js, bundled by esbuild once with React 17
// and once with React 19 (development builds: StrictMode double-invokes there).
import * as React from "react";
import { TokenProvider, useTokenManager, useTokenStatus } from "mdh-token/react";

const h = React.createElement;

// Counts effect runs: 2 per mount under React 18+ StrictMode in development, 1 in React 17.
function Probe() {
  React.useEffect(() => {
    window.effects = (window.effects ?? 0) + 1;
  }, []);
  return null;
}

function Status() {
  const status = useTokenStatus();
  const tm = useTokenManager();
  if (typeof window !== "undefined") window.tm = tm;
  return h("p", { id: "status" }, status ? `${status.state} ${status.brokerCalls}` : "none");
}

/** The element tree; `errors` collects onError's codes; `sdk` is optional. */
export function app(options, errors, sdk) {
  return h(
    React.StrictMode,
    null,
    h(TokenProvider, { options: { broker: "/broker", storageKey: "rk", ...options }, sdk, onError: (e) => errors.push(e.code) }, h(Probe), h(Status)),
  );
}

export { Status };
