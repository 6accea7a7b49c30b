// The demo server: one node:http process serving the demo page, the built package, the real
// MyDataHelps.js, the shipped broker (mdh-token/broker) and (by default) a MyDataHelps emulator.
// `www/server.js` is the CLI; tests call startServer() in-process on port 0.
import { createServer } from "node:http";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createBroker } from "mdh-token/broker";
import { createEmulator, TOKEN_PATH } from "./lib/emulator.js";
import { BASE_HEADERS, HttpError, mediaType, readBody, redirect, resolveUnder, sendJson, serveFile } from "./lib/http.js";
import { ephemeralKeyPair, fromPrivatePem, loadOrCreateKeyPair } from "./lib/keys.js";
import { demoMetrics } from "./lib/metrics.js";
import { EMULATED_PARTICIPANTS, toSignInEntry } from "./lib/participants.js";
import { signInPage } from "./lib/pages.js";
import { createSessions } from "./lib/sessions.js";

const WWW = path.dirname(fileURLToPath(import.meta.url));
const PUBLIC = path.join(WWW, "public");
const INDEX = path.join(PUBLIC, "index.html");
// The API reference TypeDoc generates from the type declarations (npm run docs:api).
const REFERENCE = path.join(WWW, "reference");
// Sign-in and sign-out end the previous participant's stored state in this browser.
const CLEAR_STORAGE = '"storage"';

// The browser bundle of @careevolution/mydatahelps-js 5.7.0. It ends in an ES `export`
// statement, so the page loads it as a module; evaluating it sets window.MyDataHelps.
const SDK_FILES = new Set(["MyDataHelps.js", "MyDataHelps.min.js", "MyDataHelps.min.js.map", "MyDataHelps.css"]);

// The CSRF guard of sign-out: a custom header cannot be sent cross-origin without a CORS
// preflight, and this server never answers one. (The broker has its own: a JSON body.)
const XRW = "x-requested-with";
const XRW_VALUE = "mdh-token";

/**
 * The demo page's Content-Security-Policy. The first three directives are the contract;
 * the rest only take things away. MyDataHelps.js needs nothing beyond 'self' for what the
 * demo uses (fetch to its baseUrl), checked by the browser test listening for violations;
 * in real mode its API origin joins connect-src.
 */
export function contentSecurityPolicy(extraConnect = []) {
  return [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    ["connect-src 'self'", ...extraConnect].join(" "),
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/**
 * @param {object} [o]
 * @param {number} [o.port=8080] 0 picks a free port
 * @param {string} [o.host="127.0.0.1"] loopback by default: the demo hands out real tokens in real mode
 * @param {number} [o.tokenLifetimeSeconds=90] emulator participant-token lifetime
 * @param {number} [o.serviceTokenLifetimeSeconds=300] emulator service-token lifetime
 * @param {() => number} [o.now=Date.now] one clock for emulator, broker and sessions
 * @param {string|false} [o.keysDir="www/.keys"] where the demo service-account key pair lives; false: in memory
 * @param {{privateKey, publicKey}} [o.keyPair] overrides keysDir (tests sign their own assertions with it)
 * @param {string} [o.serviceAccount="RKStudio.1234.demo"] emulated service account name
 * @param {string} [o.repoRoot] where pkg/ (the built package) is served from
 * @param {object|null} [o.upstream] real MyDataHelps: { baseUrl, apiBaseUrl?, serviceAccount, privateKeyPem, participants }
 * @param {number} [o.upstreamTimeoutMs=8000] broker → token endpoint timeout (below the 15 s "slow" fault)
 * @param {number} [o.faultSlowMs=15000] how long the "slow" fault holds an answer
 * @param {(line: string) => void} [o.log=console.log] never receives a token
 * @returns {Promise<{ url, port, tokenUrl, mode, emulator, broker, close(): Promise<void> }>}
 *   The broker records through OpenTelemetry into the demo's own SDK: `GET /metrics`
 *   (Prometheus text format) and `GET /healthz` (the broker's health probe).
 */
export async function startServer({
  port = 8080,
  host = "127.0.0.1",
  tokenLifetimeSeconds = 90,
  serviceTokenLifetimeSeconds = 300,
  now = Date.now,
  keysDir = path.join(WWW, ".keys"),
  keyPair,
  serviceAccount = "RKStudio.1234.demo",
  repoRoot = path.resolve(WWW, ".."),
  upstream = null,
  upstreamTimeoutMs = 8_000,
  faultSlowMs = 15_000,
  log = console.log,
} = {}) {
  const real = Boolean(upstream);
  const sessions = createSessions({ now });
  const sdkRoot = path.join(repoRoot, "node_modules", "@careevolution", "mydatahelps-js");
  const packagePkg = path.join(repoRoot, "pkg");

  // In real mode the sign-in list is MDH_PARTICIPANT_IDS (the emulated GUIDs do not exist in
  // a real project), and the SDK talks to the real participant API.
  const signInList = real ? upstream.participants : EMULATED_PARTICIPANTS.map(toSignInEntry);
  if (signInList.length === 0) throw new Error("no participants to sign in as");
  const sdkBaseUrl = real ? withSlash(upstream.apiBaseUrl ?? upstream.baseUrl) : null;
  const csp = contentSecurityPolicy(real ? [new URL(sdkBaseUrl).origin] : []);

  let emulator = null;
  let brokerConfig;
  if (real) {
    brokerConfig = {
      tokenUrl: `${withSlash(upstream.baseUrl)}identityserver/connect/token`,
      serviceAccount: upstream.serviceAccount,
      privateKey: fromPrivatePem(upstream.privateKeyPem).privateKey, // PKCS#8 or PKCS#1 PEM
    };
  } else {
    const keys = keyPair ?? (keysDir ? loadOrCreateKeyPair(keysDir) : ephemeralKeyPair());
    emulator = createEmulator({
      serviceAccounts: new Map([[serviceAccount, keys.publicKey]]),
      participants: EMULATED_PARTICIPANTS,
      now,
      participantTokenLifetimeSeconds: tokenLifetimeSeconds,
      serviceTokenLifetimeSeconds,
      slowMs: faultSlowMs,
    });
    brokerConfig = { serviceAccount, privateKey: keys.privateKey }; // tokenUrl once the port is known
  }
  let broker = null;
  const metrics = demoMetrics();

  async function handleSignIn(req, res) {
    const current = sessions.participantOf(req);
    const page = (status, error) => {
      const html = signInPage({ participants: signInList, mode: real ? "mydatahelps" : "emulator", current, error });
      res.writeHead(status, htmlHeaders(html));
      res.end(req.method === "HEAD" ? undefined : html);
    };
    if (req.method === "GET" || req.method === "HEAD") return page(200);
    if (req.method !== "POST") return sendJson(res, 405, { error: "method_not_allowed" }, { Allow: "GET, POST" });
    // Login CSRF: browsers send Origin / Sec-Fetch-Site on form posts; refuse other sites.
    if (!sameOrigin(req)) return sendJson(res, 403, { error: "cross_site_sign_in" });
    if (mediaType(req) !== "application/x-www-form-urlencoded") return page(400, "Unexpected form encoding.");
    const id = new URLSearchParams(await readBody(req)).get("participant") ?? "";
    if (!signInList.some((p) => p.id === id)) return page(400, "Unknown participant.");
    // A new participant at this browser: the previous one's stored tokens go (the
    // page's manager also refuses them, being created with this participant).
    redirect(res, "/", 303, { "Set-Cookie": sessions.start(req, id), "Clear-Site-Data": CLEAR_STORAGE });
  }

  function htmlHeaders(html) {
    return {
      ...BASE_HEADERS,
      "Content-Type": "text/html; charset=utf-8",
      "Content-Length": Buffer.byteLength(html),
      "Content-Security-Policy": csp,
      "Cache-Control": "no-store",
    };
  }

  async function route(req, res) {
    // Work on the raw (still encoded) path so resolveUnder decodes exactly once; prefixing
    // the origin keeps "//host/x" a path instead of a protocol-relative URL.
    const raw = req.url.split("?")[0];
    const p = new URL(`http://demo.invalid${raw.startsWith("/") ? raw : `/${raw}`}`).pathname;
    const read = req.method === "GET" || req.method === "HEAD";

    if (p === "/api/mdh/token") return broker.node(req, res);
    if (p === "/metrics" || p === "/healthz") {
      if (!read) return sendJson(res, 405, { error: "method_not_allowed" }, { Allow: "GET, HEAD" });
      if (p === "/healthz") return broker.nodeHealth(req, res);
      for (const [name, value] of Object.entries(BASE_HEADERS)) res.setHeader(name, value);
      res.setHeader("Cache-Control", "no-store");
      return metrics.handle(req, res);
    }
    if (p === "/signin") return handleSignIn(req, res);
    if (p === "/api/signout") {
      if (req.method !== "POST") return sendJson(res, 405, { error: "method_not_allowed" }, { Allow: "POST" });
      if (req.headers[XRW] !== XRW_VALUE) return sendJson(res, 403, { error: "missing_x_requested_with" });
      res.writeHead(204, { ...BASE_HEADERS, "Set-Cookie": sessions.end(req), "Clear-Site-Data": CLEAR_STORAGE });
      return res.end();
    }
    if (p === "/api/session" && read) {
      const id = sessions.participantOf(req);
      return sendJson(
        res,
        200,
        {
          signedIn: Boolean(id),
          participant: id ? signInList.find((x) => x.id === id) ?? null : null,
          mode: real ? "mydatahelps" : "emulator",
          // null: the page uses its own origin + "/mdh/" (the emulator)
          sdkBaseUrl,
          tokenLifetimeSeconds: real ? null : tokenLifetimeSeconds,
          faults: !real,
        },
        { "Cache-Control": "no-store" },
      );
    }
    if (p.startsWith("/mdh/") && emulator) {
      if (await emulator.handle(req, res, p)) return;
      return sendJson(res, 404, { error: "not_found" });
    }
    if (!read) return sendJson(res, 405, { error: "method_not_allowed" }, { Allow: "GET, HEAD" });

    // The gate is on the file that would be served, not on the spelling of the path
    // (`/%69ndex.html` and `/index%2ehtml` are index.html too).
    const file = p === "/" ? INDEX : resolveUnder(PUBLIC, raw.slice(1));
    if (file === INDEX) {
      if (!sessions.participantOf(req)) return redirect(res, "/signin", 303, { "Cache-Control": "no-store" });
      return serveFile(req, res, INDEX, {
        "Content-Security-Policy": csp,
        "Cache-Control": "no-store",
      });
    }
    if (p === "/reference") return redirect(res, "/reference/", 301);
    if (raw.startsWith("/reference/")) return serveReference(req, res, raw.slice("/reference/".length) || "index.html");
    if (raw.startsWith("/mdh-token/pkg/")) return serveFile(req, res, resolveUnder(packagePkg, raw.slice("/mdh-token/pkg/".length)));
    if (raw.startsWith("/vendor/mydatahelps/")) {
      const name = raw.slice("/vendor/mydatahelps/".length);
      return serveFile(req, res, SDK_FILES.has(name) ? path.join(sdkRoot, name) : null);
    }
    return serveFile(req, res, file, file?.endsWith(".html") ? { "Content-Security-Policy": csp } : {});
  }

  // TypeDoc's pages carry one small inline script (the colour theme): allowed by its hash,
  // so scripts keep a CSP without 'unsafe-inline' (its scripts add <style> elements: styles
  // may be inline).
  async function serveReference(req, res, rest) {
    const file = resolveUnder(REFERENCE, rest);
    if (!file?.endsWith(".html")) return serveFile(req, res, file);
    const html = await readFile(file, "utf8").catch(() => null);
    if (html === null) return serveFile(req, res, null);
    const hashes = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)]
      .map((m) => `'sha256-${createHash("sha256").update(m[1]).digest("base64")}'`);
    return serveFile(req, res, file, {
      "Content-Security-Policy": `default-src 'self'; script-src 'self' ${hashes.join(" ")}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'`,
    });
  }

  const server = createServer((req, res) => {
    route(req, res).catch((err) => {
      if (err instanceof HttpError) {
        if (!res.headersSent) sendJson(res, err.status, { error: err.expose }, err.headers);
        else res.destroy();
        return;
      }
      // Log the kind of failure only: an exception message could quote a request.
      log(`server: ${req.method} ${req.url.split("?")[0].slice(0, 100)} failed: ${err?.name ?? "error"}`);
      if (!res.headersSent) sendJson(res, 500, { error: "internal_error" });
      else res.destroy();
    });
  });

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  // The broker reaches the emulator over real HTTP on loopback, the same code path as real mode.
  const loopback = address.family === "IPv6" ? (address.address === "::" ? "127.0.0.1" : `[${address.address}]`) : address.address === "0.0.0.0" ? "127.0.0.1" : address.address;
  const internalOrigin = `http://${loopback}:${address.port}`;
  if (emulator) {
    brokerConfig.tokenUrl = internalOrigin + TOKEN_PATH;
    emulator.setTokenUrl(brokerConfig.tokenUrl);
  }
  // Identity comes from the demo's session cookie only: never from the page's request.
  broker = createBroker({ ...brokerConfig, participant: (req) => sessions.participantOf(req), now, upstreamTimeoutMs, log, telemetry: metrics.telemetry });

  const shownHost = loopback === "127.0.0.1" && host !== "0.0.0.0" && host !== "::" ? "localhost" : loopback;
  return {
    url: `http://${shownHost}:${address.port}/`,
    port: address.port,
    tokenUrl: brokerConfig.tokenUrl,
    mode: real ? "mydatahelps" : "emulator",
    packageBuilt: existsSync(path.join(packagePkg, "mdh_token.js")) && existsSync(path.join(packagePkg, "mdh_token_bg.wasm")),
    emulator,
    broker,
    close() {
      emulator?.close();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).then(() => metrics.close());
    },
  };
}

function withSlash(u) {
  return u.endsWith("/") ? u : `${u}/`;
}

/**
 * True when a state-changing request comes from this site. Fetch Metadata first: browsers set
 * Sec-Fetch-Site themselves and page script cannot forge it. Without it (older browsers), the
 * Origin header decides; clients sending neither (curl, tests) are not browsers being tricked.
 */
function sameOrigin(req) {
  const site = req.headers["sec-fetch-site"];
  if (site) return site === "same-origin" || site === "none";
  const origin = req.headers.origin;
  if (!origin) return true;
  try {
    return new URL(origin).host === req.headers.host; // an opaque "null" origin throws: refused
  } catch {
    return false;
  }
}
