// The MyDataHelps emulator: both grants of the token endpoint, the participant endpoint, faults.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ACCOUNT, ADA, BEN, ASSERTION_TYPE, OTHER_KEYS,
  serve, assertion, clientCredentials, serviceToken, delegated, participantInfo, tokenEndpoint,
} from "./helpers.js";

async function oauthError(res, status, error) {
  assert.equal(res.status, status);
  const body = await res.json();
  assert.equal(body.error, error, `expected ${error}, got ${JSON.stringify(body)}`);
  assert.equal(typeof body.error_description, "string");
  assert.equal(body.access_token, undefined);
}

test("client_credentials with a valid assertion yields a service token", async (t) => {
  const { app, clock } = await serve(t);
  const res = await clientCredentials(app, clock);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  const body = await res.json();
  assert.deepEqual(Object.keys(body).sort(), ["access_token", "expires_in", "token_type"]);
  assert.match(body.access_token, /^[A-Za-z0-9_-]{40,}$/);
  assert.equal(body.expires_in, 300);
  assert.equal(body.token_type, "Bearer");
  assert.equal(app.emulator.stats.clientCredentials, 1);
});

test("client_credentials rejects bad assertions with invalid_client", async (t) => {
  const { app, clock } = await serve(t);
  // Each case names the check it must trip, so a case cannot pass by failing on another one.
  const cases = {
    "signed with another key": [{ key: OTHER_KEYS.privateKey }, /signature/],
    "wrong aud": [{ claims: { aud: "https://mydatahelps.org/identityserver/connect/token" } }, /aud/],
    "expired exp": [{ claims: { exp: Math.floor(clock.now() / 1000) - 1 } }, /expired/],
    "missing exp": [{ claims: { exp: undefined } }, /expired/],
    "unknown account": [{ claims: { iss: "RKStudio.9999.nobody", sub: "RKStudio.9999.nobody" } }, /unknown service account/],
    "sub differs from iss": [{ claims: { sub: "someone.else" } }, /sub/],
    "missing jti": [{ claims: { jti: undefined } }, /jti/],
    "iat in the future": [{ claims: { iat: Math.floor(clock.now() / 1000) + 3600, exp: Math.floor(clock.now() / 1000) + 3900 } }, /future/],
    "HS256 header": [{ header: { alg: "HS256", typ: "JWT" } }, /RS256/],
  };
  for (const [name, [opts, why]] of Object.entries(cases)) {
    await t.test(name, async () => {
      const res = await clientCredentials(app, clock, opts);
      assert.equal(res.status, 400);
      const body = await res.json();
      assert.equal(body.error, "invalid_client");
      assert.match(body.error_description, why);
    });
  }
  await t.test("alg none, no signature", async () => {
    const enc = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const iat = Math.floor(clock.now() / 1000);
    const jwt = `${enc({ alg: "none" })}.${enc({ iss: ACCOUNT, sub: ACCOUNT, aud: app.tokenUrl, exp: iat + 300, jti: "x" })}.`;
    const res = await tokenEndpoint(app, { grant_type: "client_credentials", scope: "api", client_assertion_type: ASSERTION_TYPE, client_assertion: jwt });
    await oauthError(res, 400, "invalid_client");
  });
  await t.test("not a JWT", async () => {
    const res = await tokenEndpoint(app, { grant_type: "client_credentials", scope: "api", client_assertion_type: ASSERTION_TYPE, client_assertion: "abc" });
    await oauthError(res, 400, "invalid_client");
  });
  await t.test("wrong client_assertion_type", async () => {
    await oauthError(await clientCredentials(app, clock, {}, { client_assertion_type: "urn:example:other" }), 400, "invalid_client");
  });
  assert.equal(app.emulator.stats.clientCredentials, Object.keys(cases).length + 3);
});

test("client_credentials: a replayed jti is refused, an assertion past exp too", async (t) => {
  const { app, clock } = await serve(t);
  const jwt = assertion(app, clock);
  const form = { grant_type: "client_credentials", scope: "api", client_assertion_type: ASSERTION_TYPE, client_assertion: jwt };
  assert.equal((await tokenEndpoint(app, form)).status, 200);
  await oauthError(await tokenEndpoint(app, form), 400, "invalid_client");
  // A new jti works; the same JWT after its exp fails on exp.
  assert.equal((await clientCredentials(app, clock)).status, 200);
  const late = assertion(app, clock);
  clock.advance(301_000);
  await oauthError(await tokenEndpoint(app, { ...form, client_assertion: late }), 400, "invalid_client");
});

test("token endpoint request errors: scope, grant type, missing fields, encoding, method", async (t) => {
  const { app, clock } = await serve(t);
  await oauthError(await clientCredentials(app, clock, {}, { scope: "api offline_access" }), 400, "invalid_scope");
  await oauthError(await tokenEndpoint(app, { grant_type: "password", username: "a", password: "b" }), 400, "unsupported_grant_type");
  await oauthError(await tokenEndpoint(app, { scope: "api" }), 400, "invalid_request");
  await oauthError(await tokenEndpoint(app, { grant_type: "client_credentials", scope: "api" }), 400, "invalid_request");
  const json = await fetch(app.tokenUrl, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
  await oauthError(json, 400, "invalid_request");
  const get = await fetch(app.tokenUrl);
  assert.equal(get.status, 405);
});

test("delegated_participant yields a participant token for both client ids and scopes", async (t) => {
  const { app, clock } = await serve(t, { tokenLifetimeSeconds: 90 });
  const token = await serviceToken(app, clock);
  const variants = [
    { client_id: "RKStudio.DelegatedParticipant", scope: "api" },
    { client_id: "MyDataHelps.DelegatedParticipant", scope: "api user/*.read" },
  ];
  for (const v of variants) {
    const res = await delegated(app, { token, participant_id: ADA, ...v });
    assert.equal(res.status, 200, JSON.stringify(v));
    const body = await res.json();
    assert.deepEqual(Object.keys(body).sort(), ["access_token", "expires_in", "token_type"]);
    assert.match(body.access_token, /^[A-Za-z0-9_-]{40,}$/);
    assert.equal(body.expires_in, 90);
    assert.equal(body.token_type, "Bearer");
    assert.notEqual(body.access_token, token);
  }
  // GUIDs are case-insensitive.
  assert.equal((await delegated(app, { token, participant_id: BEN.toUpperCase() })).status, 200);
});

test("delegated_participant errors", async (t) => {
  const { app, clock } = await serve(t);
  const token = await serviceToken(app, clock);
  await t.test("wrong client_id", async () => oauthError(await delegated(app, { token, participant_id: ADA, client_id: "Evil.Client" }), 400, "invalid_client"));
  await t.test("wrong client_secret", async () => oauthError(await delegated(app, { token, participant_id: ADA, client_secret: "nope" }), 400, "invalid_client"));
  await t.test("missing client_secret", async () => {
    const res = await tokenEndpoint(app, { grant_type: "delegated_participant", scope: "api", client_id: "RKStudio.DelegatedParticipant", token, participant_id: ADA });
    await oauthError(res, 400, "invalid_request");
  });
  await t.test("wrong scope", async () => oauthError(await delegated(app, { token, participant_id: ADA, scope: "user/*.write" }), 400, "invalid_scope"));
  await t.test("unknown participant", async () => oauthError(await delegated(app, { token, participant_id: "00000000-0000-4000-8000-000000000000" }), 400, "invalid_grant"));
  await t.test("missing participant", async () => oauthError(await delegated(app, { token }), 400, "invalid_request"));
  await t.test("unknown service token", async () => oauthError(await delegated(app, { token: "x".repeat(64), participant_id: ADA }), 400, "invalid_grant"));
  await t.test("a participant token is not a service token", async () => {
    const participantToken = (await (await delegated(app, { token, participant_id: ADA })).json()).access_token;
    await oauthError(await delegated(app, { token: participantToken, participant_id: ADA }), 400, "invalid_grant");
  });
  await t.test("expired service token", async () => {
    clock.advance(300_000);
    await oauthError(await delegated(app, { token, participant_id: ADA }), 400, "invalid_grant");
  });
});

test("participant endpoint: fresh token accepted, expired and unknown ones refused", async (t) => {
  const { app, clock } = await serve(t, { tokenLifetimeSeconds: 6 });
  const service = await serviceToken(app, clock);
  const { access_token } = await (await delegated(app, { token: service, participant_id: ADA })).json();

  const ok = await participantInfo(app, access_token);
  assert.equal(ok.status, 200);
  const info = await ok.json();
  assert.equal(info.participantID, ADA);
  assert.equal(info.participantIdentifier, "DEMO-0001");
  assert.equal(info.demographics.firstName, "Ada");
  assert.equal(typeof info.demographics.lastName, "string");

  clock.advance(5_999);
  assert.equal((await participantInfo(app, access_token)).status, 200, "still valid 1 ms before expiry");
  clock.advance(1);
  const expired = await participantInfo(app, access_token);
  assert.equal(expired.status, 401);
  assert.match(expired.headers.get("www-authenticate"), /error="invalid_token"/);

  assert.equal((await participantInfo(app, "y".repeat(64))).status, 401, "unknown token");
  assert.equal((await participantInfo(app, undefined)).status, 401, "no Authorization header");
  assert.equal((await participantInfo(app, await serviceToken(app, clock))).status, 401, "service tokens are not participant tokens");
});

test("fault switches", async (t) => {
  const { app, clock } = await serve(t, { faultSlowMs: 200 });
  const setMode = (mode, contentType = "application/json") =>
    fetch(new URL("/mdh/_faults", app.url), { method: "POST", headers: { "Content-Type": contentType }, body: JSON.stringify({ mode }) });
  const service = await serviceToken(app, clock);

  assert.equal((await setMode("bogus")).status, 400);
  assert.equal((await setMode("down", "text/plain")).status, 415, "JSON only: no cross-site form posts");

  assert.equal((await setMode("down")).status, 200);
  const down = await clientCredentials(app, clock);
  assert.equal(down.status, 503);
  assert.equal(down.headers.get("retry-after"), "5");

  await setMode("malformed");
  const malformed = await clientCredentials(app, clock);
  assert.equal(malformed.status, 200);
  await assert.rejects(malformed.json(), SyntaxError);

  await setMode("401");
  assert.equal((await clientCredentials(app, clock)).status, 200, "401 mode only hits the participant grant");
  const refused = await delegated(app, { token: service, participant_id: ADA });
  assert.equal(refused.status, 401);

  await setMode("slow");
  const started = performance.now();
  assert.equal((await clientCredentials(app, clock)).status, 200);
  assert.ok(performance.now() - started >= 150, "slow mode delays the answer");

  await setMode("ok");
  assert.deepEqual(await (await fetch(new URL("/mdh/_faults", app.url))).json(), { mode: "ok", modes: ["ok", "down", "slow", "401", "malformed"] });
  // The participant API is not subject to faults (see the fault card's text on the page).
  const { access_token } = await (await delegated(app, { token: service, participant_id: ADA })).json();
  await setMode("down");
  assert.equal((await participantInfo(app, access_token)).status, 200);
});
