// app/providers.js
"use client";
import { TokenProvider } from "mdh-token/react";

// A Client Component: a server file cannot pass the `sdk` loader (a function) itself.
export function Providers({ participant, children }) {
  return (
    <TokenProvider
      options={{ broker: "/api/mdh/token", participant }}
      sdk={() => import("@careevolution/mydatahelps-js")}
    >
      {children}
    </TokenProvider>
  );
}
