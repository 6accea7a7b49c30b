// app/api/mdh/token/route.js
import { createBroker } from "mdh-token/broker";
import { sessionFromRequest } from "@/lib/session"; // your own

// Created at the first request, not when the module loads: `next build` loads route
// modules without the secrets set (CI, Docker), and createBroker checks its options.
let broker;
const getBroker = () =>
  (broker ??= createBroker({
    tokenUrl: process.env.MDH_TOKEN_URL ?? "https://mydatahelps.org/identityserver/connect/token",
    serviceAccount: process.env.MDH_SERVICE_ACCOUNT,
    privateKey: process.env.MDH_PRIVATE_KEY,
    participant: async (request) => (await sessionFromRequest(request))?.participantId ?? null,
  }));

export const POST = (request) => getBroker().handle(request);
