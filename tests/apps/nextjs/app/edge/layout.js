// app/edge/layout.js
import { TokenProvider } from "mdh-token/react";
import { currentSession } from "@/lib/session"; // your own

// A Server Component rendering the provider itself: mdh-token/react is a client entry.
export default async function EdgeLayout({ children }) {
  const session = await currentSession();
  return (
    <TokenProvider options={{ broker: "/api/edge/token", participant: session?.participantId, storageKey: "edge" }}>
      {children}
    </TokenProvider>
  );
}
