// Next.js 16 as a host (tests/apps/nextjs, App Router, Turbopack): the recipe of
// docs/nextjs.md, whose files the app holds verbatim. `next build` with the MyDataHelps
// secrets unset, then `next start` (the broker on Node and on the edge runtime, against
// the MyDataHelps emulator of www/lib) and `next dev` (StrictMode), each driven in
// Debian's Chromium. MyDataHelps.js's own API call is answered by a route in the browser.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFile } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { ROOT, launch, openPage, until, pageFaults, packageBuilt } from "./harness.js";
import { installPacked } from "../support/packed.js";
import { createEmulator } from "../../www/lib/emulator.js";
import { ephemeralKeyPair } from "../../www/lib/keys.js";
import { EMULATED_PARTICIPANTS } from "../../www/lib/participants.js";

const APP = path.join(ROOT, "tests/apps/nextjs");
const NEXT = path.join(APP, "node_modules/next/dist/bin/next");
const skip = (!packageBuilt() && "package not built: run npm run build")
  || (!fs.existsSync(NEXT) && "test app not installed: run bash scripts/setup.sh");
const ACCOUNT = "RKStudio.1234.nextjs";
const [ADA, BEN] = EMULATED_PARTICIPANTS;
const MDH = "https://mydatahelps.org/";
// The app's environment without any MyDataHelps secret, as in CI or a Docker build.
const BASE_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("MDH_") && !k.startsWith("NEXT_") && k !== "NODE_ENV"));
BASE_ENV.NEXT_TELEMETRY_DISABLED = "1";

let emu, emuServer, secrets, built, browser;
const servers = [];

before(async () => {
  if (skip) return;
  installPacked(APP);
  const keys = ephemeralKeyPair();
  emu = createEmulator({ serviceAccounts: new Map([[ACCOUNT, keys.publicKey]]), participants: EMULATED_PARTICIPANTS, participantTokenLifetimeSeconds: 3600 });
  emuServer = http.createServer(async (req, res) => {
    if (!(await emu.handle(req, res, new URL(req.url, "http://x").pathname))) res.writeHead(404).end();
  });
  await new Promise((r) => emuServer.listen(0, "127.0.0.1", r));
  const tokenUrl = `http://127.0.0.1:${emuServer.address().port}/mdh/identityserver/connect/token`;
  emu.setTokenUrl(tokenUrl);
  secrets = {
    MDH_TOKEN_URL: tokenUrl,
    MDH_SERVICE_ACCOUNT: ACCOUNT,
    MDH_PRIVATE_KEY: keys.privateKey.export({ type: "pkcs8", format: "pem" }),
  };
  built = await new Promise((resolve) => {
    execFile(process.execPath, [NEXT, "build"], { cwd: APP, env: BASE_ENV, maxBuffer: 64 << 20, timeout: 480_000 },
      (err, stdout, stderr) => resolve({ code: err ? err.code ?? 1 : 0, out: `${stdout}\n${stderr}` }));
  });
  browser = await launch();
});
after(async () => {
  if (skip) return;
  for (const s of servers) s.stop();
  await browser?.close();
  emuServer?.close();
  emu?.close();
});

// `next start` or `next dev` on a free port; resolves { url, stop, out }.
async function next(command, env) {
  const child = spawn(process.execPath, [NEXT, command, "-p", "0", "-H", "127.0.0.1"], { cwd: APP, env: { ...BASE_ENV, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const s = { out: "", stop: () => child.exitCode === null && child.kill("SIGTERM") };
  servers.push(s);
  child.stdout.on("data", (d) => (s.out += d));
  child.stderr.on("data", (d) => (s.out += d));
  const m = await until(() => /Local:\s+(http:\/\/\S+)/.exec(s.out) || child.exitCode !== null, { timeout: 120_000, what: `next ${command} to listen` });
  if (m === true) throw new Error(`next ${command} exited:\n${s.out}`);
  s.url = m[1].replace(/\/$/, "");
  s.exited = new Promise((r) => child.once("exit", r));
  return s;
}

// A browser context signed in as `who`, where MyDataHelps.js's participant call is
// answered here (with CORS, as MyDataHelps does) for tokens the emulator issued.
async function signedIn(server, who) {
  const context = await browser.newContext();
  await context.addCookies([{ name: "participant", value: who.participantID, url: server.url }]);
  const seen = [];
  await context.route(`${MDH}api/v1/delegated/participant`, async (route) => {
    const cors = { "access-control-allow-origin": "*", "access-control-allow-headers": "authorization, content-type, accept" };
    if (route.request().method() === "OPTIONS") return route.fulfill({ status: 204, headers: cors });
    const auth = (await route.request().headerValue("authorization")) ?? "";
    const token = auth.replace(/^Bearer /, "");
    seen.push(token);
    const ok = emu.issuedTokens().includes(token);
    await route.fulfill({ status: ok ? 200 : 401, headers: { ...cors, "content-type": "application/json" }, body: JSON.stringify(ok ? who : { error: "bad token" }) });
  });
  const brokerPosts = [];
  const documents = []; // each page load, with the broker POSTs made while it was shown
  context.on("request", (r) => {
    if (r.isNavigationRequest() && r.frame() === r.frame().page().mainFrame()) documents.push({ url: r.url(), posts: 0 });
    if (r.url().includes("/api/") && r.method() === "POST") {
      brokerPosts.push(new URL(r.url()).pathname);
      if (documents.length) documents.at(-1).posts++;
    }
  });
  return { context, seen, brokerPosts, documents };
}

const errorsOf = (page) => page.logs.filter((l) => /^(error|pageerror)/.test(l));

test("next build succeeds with the MyDataHelps secrets unset (the broker is created at its first request)", { skip }, () => {
  assert.equal(built.code, 0, built.out.slice(-4000));
  assert.doesNotMatch(built.out, /mdh-token\/broker|tokenUrl must be/);
});

test('the published mdh-token/react starts with "use client"', { skip }, () => {
  const entry = fs.readFileSync(path.join(APP, "node_modules/mdh-token/react/index.js"), "utf8");
  assert.equal(entry.split("\n")[0], '"use client";');
});

test("the test app's recipe files are docs/nextjs.md's code blocks and docs/react.md's example, verbatim; the README's broker is made at first use", { skip }, () => {
  const doc = fs.readFileSync(path.join(ROOT, "docs/nextjs.md"), "utf8");
  const blocks = [...doc.matchAll(/```jsx?\n(\/\/ (\S+)\n[\s\S]*?)```/g)].map((m) => [m[2], m[1]]);
  const files = ["app/api/mdh/token/route.js", "app/api/edge/token/route.js", "app/providers.js", "app/layout.js", "app/participant.js", "app/page.js", "app/edge/layout.js"];
  assert.deepEqual(blocks.map(([f]) => f).sort(), [...files].sort());
  for (const [file, text] of blocks) assert.equal(fs.readFileSync(path.join(APP, file), "utf8"), text, file);
  // The React example (docs/react.md) is the same files.
  const react = fs.readFileSync(path.join(ROOT, "docs/react.md"), "utf8");
  for (const file of ["app/providers.js", "app/participant.js"]) {
    assert.ok(react.includes("```jsx\n" + fs.readFileSync(path.join(APP, file), "utf8") + "```"), `docs/react.md shows ${file} as the app has it`);
  }
  // The README's broker is made at its first request too, so that it builds as written.
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  assert.match(readme, /let broker;\nconst getBroker = \(\) => \(broker \?\?= createBroker\(\{/);
  assert.doesNotMatch(readme, /const broker = createBroker\(/);
});

test("next start: server render, then in Chromium the SDK (loaded on the client) gets the participant's token; the edge route and a provider in a server layout work too", { skip }, async (t) => {
  assert.equal(built.code, 0, "built");
  const server = await next("start", secrets);
  t.after(() => server.stop());
  // The server render: no window, no manager, the provider's children rendered.
  const ssr = await fetch(server.url + "/", { headers: { cookie: `participant=${ADA.participantID}` } });
  assert.equal(ssr.status, 200);
  assert.match(await ssr.text(), /starting/);

  const { context, seen, brokerPosts } = await signedIn(server, ADA);
  t.after(() => context.close());
  const page = await openPage(context, server);
  const p = page.locator("main p");
  await until(async () => /valid/.test(await p.textContent()) && (await p.textContent()).includes(ADA.demographics.firstName),
    { timeout: 30_000, what: "the participant's name from MyDataHelps.js" });
  assert.deepEqual(brokerPosts, ["/api/mdh/token"], "one broker call");
  assert.ok(seen.length >= 1 && seen.every((tk) => emu.issuedTokens().includes(tk)), "the SDK sent the broker's token");
  assert.deepEqual(errorsOf(page), []);
  assert.deepEqual(await pageFaults(page), []);

  // A server layout rendering <TokenProvider> itself, fed by the edge route handler.
  const edge = await openPage(context, server, { path: "/edge" });
  await until(async () => (await edge.locator("#edge-status").textContent()) === "valid 1", { timeout: 30_000, what: "a token through the edge route" });
  assert.ok(brokerPosts.includes("/api/edge/token"));
  assert.deepEqual(errorsOf(edge), []);
  // The edge route refuses a request without a session, as the Node one does.
  const anon = await fetch(server.url + "/api/edge/token", { method: "POST", headers: { "content-type": "application/json" }, body: '{"reason":"initial"}' });
  assert.equal(anon.status, 401);

  // Another participant signs in on the same browser: their own token and name.
  const ctxBen = await signedIn(server, BEN);
  t.after(() => ctxBen.context.close());
  const ben = await openPage(ctxBen.context, server);
  await until(async () => (await ben.locator("main p").textContent()).includes(BEN.demographics.firstName), { timeout: 30_000, what: "Ben's name" });
  assert.deepEqual(errorsOf(ben), []);
});

test("next start without the secrets: the broker route answers 500 and Next logs createBroker's own error, at each request", { skip }, async (t) => {
  assert.equal(built.code, 0, "built");
  const server = await next("start", {});
  t.after(() => server.stop());
  const post = () => fetch(server.url + "/api/mdh/token", {
    method: "POST", headers: { "content-type": "application/json", cookie: `participant=${ADA.participantID}` }, body: '{"reason":"initial"}',
  });
  assert.equal((await post()).status, 500);
  assert.equal((await post()).status, 500);
  await until(() => (server.out.match(/serviceAccount must be a non-empty string/g) ?? []).length >= 2, { what: "the error in the server log, once per request" });
  assert.equal((await fetch(server.url + "/")).status, 200, "the pages still render");
});

test("next dev (Turbopack, React StrictMode): one manager and one broker call per page load, no error", { skip }, async (t) => {
  const server = await next("dev", secrets);
  t.after(async () => {
    server.stop();
    await server.exited;
  });
  const { context, documents } = await signedIn(server, ADA);
  t.after(() => context.close());
  const page = await openPage(context, server);
  await until(async () => (await page.locator("main p").textContent().catch(() => "")).includes(`${ADA.demographics.firstName} (valid)`),
    { timeout: 180_000, what: "the dev server's page with the participant's name" });
  // The dev server may reload the page once while it compiles on demand (a new document,
  // a new manager); within each document, StrictMode's remount keeps one manager.
  t.diagnostic(`page loads and their broker calls: ${JSON.stringify(documents.map((d) => d.posts))}`);
  assert.ok(documents.length >= 1 && documents.length <= 2, JSON.stringify(documents));
  assert.ok(documents.every((d) => d.posts <= 1), `one broker call per page load: ${JSON.stringify(documents)}\n${server.out}`);
  assert.equal(documents.at(-1).posts, 1, "the page shown made its one call");
  assert.deepEqual(errorsOf(page), []);
  assert.deepEqual(await pageFaults(page), []);
});
