// Real-MyDataHelps mode and the CLI's environment parsing. "Real" MyDataHelps is played by a
// second demo server's emulator, so the broker's upstream wiring is exercised over HTTP.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ACCOUNT, KEYS, ADA, BEN, serve, signIn, broker, participantInfo } from "./helpers.js";
import { optionsFromEnv } from "../../www/lib/config.js";
import { parseParticipantList } from "../../www/lib/participants.js";

const PEM = KEYS.privateKey.export({ type: "pkcs8", format: "pem" });

test("real mode: the broker uses ${MDH_BASE_URL}/identityserver/connect/token and the env participant list", async (t) => {
  const { app: mdh, clock } = await serve(t);
  const baseUrl = mdh.tokenUrl.replace(/identityserver\/connect\/token$/, ""); // http://127.0.0.1:port/mdh/
  const { app } = await serve(t, {
    clock,
    upstream: {
      baseUrl: baseUrl.replace(/\/$/, ""), // no trailing slash: the server must add it
      serviceAccount: ACCOUNT,
      privateKeyPem: PEM,
      participants: parseParticipantList(`${ADA}=Ada (real),${BEN}`),
    },
  });
  assert.equal(app.mode, "mydatahelps");
  assert.equal(app.tokenUrl, mdh.tokenUrl);
  assert.equal(app.emulator, null);

  const session = await (await fetch(new URL("/api/session", app.url))).json();
  assert.equal(session.sdkBaseUrl, baseUrl);
  assert.equal(session.faults, false);
  const signin = await (await fetch(new URL("/signin", app.url))).text();
  assert.ok(signin.includes("Ada (real)") && signin.includes("Participant 2"));

  const cookie = await signIn(app, ADA);
  const page = await fetch(app.url, { headers: { Cookie: cookie } });
  assert.match(page.headers.get("content-security-policy"), new RegExp(`connect-src 'self' ${new URL(baseUrl).origin.replace(/\./g, "\\.")};`));

  const res = await broker(app, cookie);
  assert.equal(res.status, 200);
  const { access_token } = await res.json();
  assert.equal((await (await participantInfo(mdh, access_token)).json()).participantID, ADA);
  assert.equal(mdh.emulator.stats.clientCredentials, 1);
  assert.equal((await fetch(new URL("/mdh/_faults", app.url))).status, 404, "no emulator in real mode");
});

test("optionsFromEnv: defaults, numbers, real-mode completeness", () => {
  assert.deepEqual(optionsFromEnv({}), {});
  assert.deepEqual(optionsFromEnv({ PORT: "0", MDH_TOKEN_LIFETIME: "30", HOST: "0.0.0.0" }), { port: 0, host: "0.0.0.0", tokenLifetimeSeconds: 30 });
  assert.throws(() => optionsFromEnv({ PORT: "http" }), /PORT/);
  assert.throws(() => optionsFromEnv({ MDH_TOKEN_LIFETIME: "0" }), /MDH_TOKEN_LIFETIME/);
  assert.throws(() => optionsFromEnv({ MDH_BASE_URL: "https://mydatahelps.org" }), /MDH_SERVICE_ACCOUNT and MDH_PRIVATE_KEY/);

  const full = { MDH_BASE_URL: "https://designer.mydatahelps.org", MDH_SERVICE_ACCOUNT: ACCOUNT, MDH_PRIVATE_KEY: PEM.replace(/\n/g, "\\n") };
  assert.throws(() => optionsFromEnv(full), /MDH_PARTICIPANT_IDS/);
  const o = optionsFromEnv({ ...full, MDH_PARTICIPANT_IDS: ` ${ADA.toUpperCase()}=Ada , ${BEN}` });
  assert.equal(o.upstream.baseUrl, "https://designer.mydatahelps.org/");
  assert.equal(o.upstream.privateKeyPem, PEM, "\\n escapes become newlines");
  assert.deepEqual(o.upstream.participants.map((p) => [p.id, p.name]), [[ADA, "Ada"], [BEN, "Participant 2"]]);

  const fromFile = optionsFromEnv(
    { MDH_BASE_URL: "https://mydatahelps.org/", MDH_SERVICE_ACCOUNT: ACCOUNT, MDH_PRIVATE_KEY_FILE: "/keys/sa.pem", MDH_PARTICIPANT_IDS: ADA },
    (p) => (p === "/keys/sa.pem" ? PEM : assert.fail(p)),
  );
  assert.equal(fromFile.upstream.privateKeyPem, PEM);
  assert.throws(() => parseParticipantList("not-a-guid"), /not a participant GUID/);
});
