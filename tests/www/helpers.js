// Shared set-up for the demo-server tests: an in-process server on port 0, a virtual clock,
// one RSA key pair per test process (generating one per test would dominate the run time).
import { randomUUID, sign } from "node:crypto";
import { request } from "node:http";
import { startServer } from "../../www/app.js";
import { ephemeralKeyPair } from "../../www/lib/keys.js";
import { EMULATED_PARTICIPANTS } from "../../www/lib/participants.js";

export const ACCOUNT = "RKStudio.1234.demo";
export const KEYS = ephemeralKeyPair();
export const OTHER_KEYS = ephemeralKeyPair();
export const [ADA, BEN, CHLOE] = EMULATED_PARTICIPANTS.map((p) => p.participantID);
export const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

import { virtualClock } from "../support/clock.js";
export { virtualClock };

/** Starts the demo server in-process; `t.after` closes it. */
export async function serve(t, options = {}) {
  const clock = options.clock ?? virtualClock();
  const app = await startServer({ port: 0, keyPair: KEYS, now: clock.now, log: () => {}, ...options });
  t.after(() => app.close());
  return { app, clock };
}

/** Signs in through the sign-in form and returns the session cookie ("name=value"). */
export async function signIn(app, participantId) {
  const res = await fetch(new URL("/signin", app.url), {
    method: "POST",
    redirect: "manual",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ participant: participantId }),
  });
  if (res.status !== 303) throw new Error(`sign-in failed: ${res.status}`);
  return res.headers.get("set-cookie").split(";")[0];
}

/**
 * POST /api/mdh/token as the page's mdh-token does: a JSON body `{ reason }` with
 * `Content-Type: application/json` (and the demo page's extra X-Requested-With), unless
 * `headers` / `body` say otherwise.
 */
export function broker(app, cookie, { reason = "initial", headers, body } = {}) {
  return fetch(new URL("/api/mdh/token", app.url), {
    method: "POST",
    headers: {
      ...(cookie ? { Cookie: cookie } : {}),
      ...(headers ?? { "Content-Type": "application/json", "X-Requested-With": "mdh-token" }),
    },
    body: body ?? JSON.stringify({ reason }),
  });
}

/** POST a form to the emulator's token endpoint. */
export function tokenEndpoint(app, fields, contentType = "application/x-www-form-urlencoded") {
  return fetch(app.tokenUrl, {
    method: "POST",
    headers: { "Content-Type": contentType },
    body: new URLSearchParams(fields).toString(),
  });
}

const b64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

/**
 * A compact JWT signed RS256 with node:crypto whatever `header` claims: tests forge
 * assertions (an HS256 header over an RSA signature, say) that no JWT library would make.
 */
export function signJwt(claims, privateKey, header = { alg: "RS256", typ: "JWT" }) {
  const input = `${b64url(header)}.${b64url(claims)}`;
  return `${input}.${sign("sha256", Buffer.from(input), privateKey).toString("base64url")}`;
}

/** A client assertion as the broker builds it; `claims` overrides, `key` signs. */
export function assertion(app, clock, { claims = {}, key = KEYS.privateKey, header } = {}) {
  const iat = Math.floor(clock.now() / 1000);
  return signJwt({ iss: ACCOUNT, sub: ACCOUNT, aud: app.tokenUrl, iat, exp: iat + 300, jti: randomUUID(), ...claims }, key, header);
}

export const clientCredentials = (app, clock, opts, extra = {}) =>
  tokenEndpoint(app, {
    grant_type: "client_credentials",
    scope: "api",
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: assertion(app, clock, opts),
    ...extra,
  });

export async function serviceToken(app, clock) {
  const res = await clientCredentials(app, clock);
  if (res.status !== 200) throw new Error(`client_credentials failed: ${res.status}`);
  return (await res.json()).access_token;
}

export const delegated = (app, fields) =>
  tokenEndpoint(app, {
    grant_type: "delegated_participant",
    scope: "api",
    client_id: "RKStudio.DelegatedParticipant",
    client_secret: "secret",
    ...fields,
  });

export function participantInfo(app, accessToken) {
  return fetch(new URL("/mdh/api/v1/delegated/participant", app.url), {
    headers: accessToken === undefined ? {} : { Authorization: `Bearer ${accessToken}` },
  });
}

/** A GET whose path is sent byte for byte (fetch would normalise "..", so traversal needs this). */
export function rawGet(app, path) {
  const { hostname, port } = new URL(app.url);
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path, method: "GET" }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.end();
  });
}
