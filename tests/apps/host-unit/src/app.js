// A small host component tree, as a team writes one: the provider at the top feeding
// MyDataHelps.js (here the fake of mdh-token/testing), a component that asks the SDK
// for the participant once there is a token, and a sign-out button. Plain
// createElement, so that Vitest and Jest run it without a JSX transform.
import { createElement as h, useEffect, useState } from "react";
import { TokenProvider, useTokenManager, useTokenStatus } from "mdh-token/react";

export function Participant({ sdk }) {
  const tokens = useTokenManager();
  const status = useTokenStatus();
  const [me, setMe] = useState(null);
  useEffect(() => {
    if (status?.state === "valid") sdk.getParticipantInfo().then(setMe, () => setMe(null));
  }, [status?.state]);
  return h(
    "section",
    null,
    h("p", { "data-testid": "who" }, me?.demographics?.firstName ?? "nobody"),
    h("p", { "data-testid": "state" }, status?.state ?? "starting"),
    h("button", { onClick: () => tokens?.clear() }, "Forget the token"),
  );
}

/** `sdk`: the SDK, or a loader of it (as `() => import("@careevolution/mydatahelps-js")`). */
export function App({ broker, sdk, load = sdk, onError }) {
  return h(TokenProvider, { options: { broker, participant: "p-1", crossTab: false }, sdk: load, onError }, h(Participant, { sdk }));
}
