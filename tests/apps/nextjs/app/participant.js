// app/participant.js
"use client";
import { useEffect, useState } from "react";
import { useTokenManager, useTokenStatus } from "mdh-token/react";

export function Participant() {
  const tokens = useTokenManager(); // the manager, or null (server render, first render)
  const status = useTokenStatus(); // status() as of the last event, or null
  const [me, setMe] = useState(null);
  useEffect(() => {
    if (status?.state !== "valid") return;
    // Imported here, on the client: MyDataHelps.js reads `window` when it is imported.
    import("@careevolution/mydatahelps-js")
      .then(({ default: MyDataHelps }) => MyDataHelps.getParticipantInfo())
      .then(setMe);
  }, [status?.state]);
  return (
    <p>
      {me?.demographics?.firstName} ({status?.state ?? "starting"})
      <button onClick={() => tokens?.clear()}>Forget the token</button>
    </p>
  );
}
