#!/usr/bin/env node
// CLI for the demo: `node www/server.js` (what `npm start` runs after building the package).
//
// Environment:
//   PORT                   port to listen on (default 8080; 0 = any free port)
//   HOST                   interface (default 127.0.0.1; use 0.0.0.0 to try it from a phone)
//   MDH_TOKEN_LIFETIME     emulator participant-token lifetime in seconds (default 90)
// Real MyDataHelps instead of the emulator (all three required together):
//   MDH_BASE_URL           e.g. https://designer.mydatahelps.org; token URL = ${MDH_BASE_URL}/identityserver/connect/token
//   MDH_SERVICE_ACCOUNT    service account name, e.g. RKStudio.1234.test
//   MDH_PRIVATE_KEY        its RSA private key (PEM; "\n" escapes allowed), or
//   MDH_PRIVATE_KEY_FILE   a path to that PEM
//   MDH_PARTICIPANT_IDS    required in real mode: the sign-in list, "guid[=Name],guid[=Name]".
//                          The emulated participants' GUIDs do not exist in a real project, so
//                          the sign-in page lists these instead; identity still comes only
//                          from the session, never from the page.
//   MDH_API_BASE_URL       optional: the SDK's participant API base (default MDH_BASE_URL)
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "./app.js";
import { parseParticipantList } from "./lib/participants.js";

function optionsFromEnv(env) {
  const options = {};
  if (env.PORT !== undefined && env.PORT !== "") options.port = integer("PORT", env.PORT, 0, 65535);
  if (env.HOST) options.host = env.HOST;
  if (env.MDH_TOKEN_LIFETIME) options.tokenLifetimeSeconds = integer("MDH_TOKEN_LIFETIME", env.MDH_TOKEN_LIFETIME, 1, 86_400);

  const key = env.MDH_PRIVATE_KEY || (env.MDH_PRIVATE_KEY_FILE && readFileSync(env.MDH_PRIVATE_KEY_FILE, "utf8"));
  const realVars = { MDH_BASE_URL: env.MDH_BASE_URL, MDH_SERVICE_ACCOUNT: env.MDH_SERVICE_ACCOUNT, "MDH_PRIVATE_KEY(_FILE)": key };
  const set = Object.entries(realVars).filter(([, v]) => v);
  if (set.length > 0 && set.length < 3) {
    const missing = Object.keys(realVars).filter((k) => !realVars[k]);
    throw new Error(`real MyDataHelps mode needs ${missing.join(" and ")} as well`);
  }
  if (set.length === 3) {
    const participants = parseParticipantList(env.MDH_PARTICIPANT_IDS);
    if (participants.length === 0) throw new Error("real MyDataHelps mode needs MDH_PARTICIPANT_IDS (guid[=Name],…)");
    options.upstream = {
      baseUrl: new URL(env.MDH_BASE_URL).href,
      apiBaseUrl: env.MDH_API_BASE_URL ? new URL(env.MDH_API_BASE_URL).href : undefined,
      serviceAccount: env.MDH_SERVICE_ACCOUNT,
      privateKeyPem: key.replace(/\\n/g, "\n"),
      participants,
    };
  }
  return options;
}

function integer(name, text, min, max) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}`);
  return n;
}

let app;
try {
  app = await startServer(optionsFromEnv(process.env));
} catch (err) {
  console.error(`mdh-token demo: ${err.message}`);
  process.exit(1);
}
console.log(`mdh-token demo: ${app.url}`);
console.log(app.mode === "emulator" ? "target: built-in MyDataHelps emulator (/mdh/)" : `target: ${app.tokenUrl}`);
if (!app.packageBuilt) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  const missing = existsSync(path.join(root, "index.js")) ? "pkg/mdh_token.js" : "index.js";
  console.warn(`warning: the package is not built (${missing} missing); run \`npm run build\` first.`);
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    app.close().then(() => process.exit(0));
  });
}
