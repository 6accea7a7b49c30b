// Turns the CLI's environment into startServer() options (variables documented in server.js).
import { readFileSync } from "node:fs";
import { parseParticipantList } from "./participants.js";

/** @param {Record<string, string|undefined>} env  @param {(p: string) => string} [readFile] */
export function optionsFromEnv(env, readFile = (p) => readFileSync(p, "utf8")) {
  const options = {};
  if (env.PORT !== undefined && env.PORT !== "") options.port = integer("PORT", env.PORT, 0, 65535);
  if (env.HOST) options.host = env.HOST;
  if (env.MDH_TOKEN_LIFETIME) options.tokenLifetimeSeconds = integer("MDH_TOKEN_LIFETIME", env.MDH_TOKEN_LIFETIME, 1, 86_400);

  const key = env.MDH_PRIVATE_KEY || (env.MDH_PRIVATE_KEY_FILE && readFile(env.MDH_PRIVATE_KEY_FILE));
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
