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
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startServer } from "./app.js";
import { optionsFromEnv } from "./lib/config.js";

let app;
try {
  app = await startServer(optionsFromEnv(process.env));
} catch (err) {
  console.error(`mdh-token demo: ${err.message}`);
  process.exit(1);
}
console.log(`mdh-token demo: ${app.url}`);
console.log(app.mode === "emulator" ? "target: built-in MyDataHelps emulator (/mdh/)" : `target: ${app.tokenUrl}`);
console.log(`broker metrics: ${app.url}metrics (Prometheus text format), health: ${app.url}healthz`);
if (!app.packageBuilt) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  const missing = existsSync(path.join(root, "pkg", "mdh_token.js")) ? "pkg/mdh_token_bg.wasm" : "pkg/mdh_token.js";
  console.warn(`warning: the package is not built (${missing} missing); run \`npm run build\` first.`);
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    app.close().then(() => process.exit(0));
  });
}
