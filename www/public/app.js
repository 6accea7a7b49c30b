// The mdh-token demo page: plain ES module, no build step, DOM APIs only (no innerHTML), so
// nothing from a server or an error message can become markup. Tokens are only ever shown
// masked; every string that reaches the page passes through redact() as a second guard.

const SDK_URL = "/vendor/mydatahelps/MyDataHelps.js";
const SDK_EVERY_MS = 5_000;
const TICK_MS = 250;
const MAX_LOG = 100;
const MAX_SDK = 30;
const BROKER_HEADERS = { "X-Requested-With": "mdh-token" };

const $ = (id) => document.getElementById(id);

// ---- masking -------------------------------------------------------------------------

const generations = new Map(); // full access_token → 1, 2, 3… in the order this tab saw them

/** First 6 characters + "…" + length: enough to tell tokens apart, useless to an attacker. */
function mask(token) {
  return typeof token === "string" && token.length > 0 ? `${token.slice(0, 6)}…${token.length}` : "—";
}

/** Replaces every token this tab has seen with its mask and caps the length. */
function redact(text) {
  let s = String(text ?? "");
  for (const token of generations.keys()) if (s.includes(token)) s = s.split(token).join(mask(token));
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

// ---- formatting ----------------------------------------------------------------------

const pad = (n, w = 2) => String(n).padStart(w, "0");
function clock(ms, withMs = false) {
  if (!Number.isFinite(ms)) return "—";
  const d = new Date(ms);
  const base = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return withMs ? `${base}.${pad(d.getMilliseconds(), 3)}` : base;
}
function duration(ms) {
  if (!Number.isFinite(ms)) return "—";
  const s = Math.max(0, ms) / 1000;
  return s >= 60 ? `${Math.floor(s / 60)} min ${pad(Math.floor(s % 60))} s` : `${s.toFixed(1)} s`;
}
function describeError(err) {
  if (!err) return "none";
  if (typeof err !== "object") return redact(err);
  const parts = [err.code ?? err.name ?? "error"];
  if (err.status) parts.push(`HTTP ${err.status}`);
  let text = parts.join(" · ");
  if (err.message) text += `: ${err.message}`;
  if (Number.isFinite(err.retryAt)) text += ` (retry at ${clock(err.retryAt)})`;
  return redact(text);
}

/** A status field for display: strings as they are, flag objects as "name ✓ other ✗". */
function describeValue(v) {
  if (v === null || v === undefined) return "—";
  if (typeof v !== "object") return redact(v);
  const parts = Object.entries(v).map(([k, x]) => (typeof x === "boolean" ? `${k} ${x ? "✓" : "✗"}` : `${k}: ${x}`));
  return redact(parts.join(" · ") || "—");
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "className") node.className = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function prepend(list, item, max) {
  list.prepend(item);
  while (list.children.length > max) list.lastElementChild.remove();
}

function log(name, detail) {
  const now = Date.now();
  prepend(
    $("log"),
    el("li", { dataset: { event: name } }, el("time", {}, clock(now, true)), el("span", { className: "event" }, name), el("span", { className: "detail" }, redact(detail))),
    MAX_LOG,
  );
}

function notice(...parts) {
  const box = $("notice");
  box.replaceChildren(...parts.map((p) => (p instanceof Node ? p : document.createTextNode(redact(p)))));
  box.hidden = false;
}

// ---- page state ----------------------------------------------------------------------

let tokens = null;
let detachSdk = null;
let sdkTimer = null;
let lifetimeMs = null; // known in emulator mode: lets the bar start at issue, even for a restored token
let current = null; // { access_token, start, end }
let loggingOut = false;
const sdkCounts = { ok: 0, failed: 0 };

/** Tracks the token the page knows about; a new access_token is a new "generation". */
function noteToken(token) {
  if (!token?.access_token || token.access_token === current?.access_token) return;
  if (!generations.has(token.access_token)) generations.set(token.access_token, generations.size + 1);
  const now = Date.now();
  const issued = lifetimeMs ? token.expires_at - lifetimeMs : now;
  current = { access_token: token.access_token, start: Math.min(issued, now), end: token.expires_at };
  document.body.dataset.generation = String(generations.get(token.access_token));
  $("generation").textContent = String(generations.size);
}

function render() {
  if (!tokens) return;
  let st;
  try {
    st = tokens.status();
  } catch {
    return; // destroyed
  }
  const now = Date.now();
  const peeked = tokens.peek();
  if (peeked) noteToken(peeked);

  $("state").textContent = st.state;
  $("state").dataset.state = st.state;
  document.body.dataset.state = st.state;
  $("masked").textContent = peeked ? mask(peeked.access_token) : "—";

  const expiresAt = peeked?.expires_at ?? st.expiresAt;
  $("time-left").textContent = Number.isFinite(expiresAt) ? duration(expiresAt - now) : "—";
  $("expires-clock").textContent = Number.isFinite(expiresAt) ? clock(expiresAt) : "";

  // The bar spans issue → expiry; the shaded part is what is left, the marker is renewAt.
  const span = current && peeked ? current.end - current.start : 0;
  const frac = (t) => Math.min(1, Math.max(0, (t - current.start) / span));
  $("timeline-left").style.width = span > 0 ? `${(1 - frac(now)) * 100}%` : "0%";
  $("timeline-left").style.marginLeft = span > 0 ? `${frac(now) * 100}%` : "0%";
  const renew = $("timeline-renew");
  renew.hidden = !(span > 0 && Number.isFinite(st.renewAt));
  if (!renew.hidden) renew.style.left = `${frac(st.renewAt) * 100}%`;
  $("renew-at").textContent = Number.isFinite(st.renewAt) ? clock(st.renewAt) : "—";
  $("renew-in").textContent = Number.isFinite(st.renewAt) ? (st.renewAt > now ? `in ${duration(st.renewAt - now)}` : "(passed)") : "";

  if (Number.isFinite(st.brokerCalls)) {
    // A counter, not log rows: polled every 250 ms it could not be placed correctly among the events.
    $("broker-calls").textContent = String(st.brokerCalls);
    document.body.dataset.brokerCalls = String(st.brokerCalls);
  }
  $("storage").textContent = describeValue(st.storage);
  $("cross-tab").textContent = describeValue(st.crossTab);
  // Not in the documented status() shape, but shown when a build reports it: the backoff's next try.
  $("next-attempt").textContent = Number.isFinite(st.nextAttemptAt) ? `${clock(st.nextAttemptAt)} (in ${duration(st.nextAttemptAt - now)})` : "—";
  $("last-error").textContent = describeError(st.lastError);
}

// ---- MyDataHelps.js ------------------------------------------------------------------

function sdkCall() {
  const sdk = window.MyDataHelps;
  // The SDK's own copy of the token (an internal field) says which token it really used.
  const used = sdk?.token?.access_token ?? tokens?.peek()?.access_token;
  const generation = generations.get(used) ?? 0;
  const started = performance.now();
  const at = Date.now();
  const record = (ok, detail) => {
    sdkCounts[ok ? "ok" : "failed"]++;
    $("sdk-ok").textContent = `${sdkCounts.ok} ok`;
    $("sdk-failed").textContent = `${sdkCounts.failed} failed`;
    const ms = Math.round(performance.now() - started);
    prepend(
      $("sdk-list"),
      el(
        "li",
        { dataset: { ok: String(ok), generation: String(generation), at: String(at) } },
        el("time", {}, clock(at)),
        el("span", { className: ok ? "result ok" : "result failed" }, ok ? "ok" : "failed"),
        el("span", { className: "detail" }, redact(detail)),
        el("small", {}, `${ms} ms · token #${generation || "?"} ${mask(used)}`),
      ),
      MAX_SDK,
    );
  };
  Promise.resolve()
    .then(() => sdk.getParticipantInfo())
    .then(
      (info) => record(true, `${info?.demographics?.firstName ?? ""} ${info?.demographics?.lastName ?? ""} (${info?.participantIdentifier ?? "?"})`),
      (err) => {
        record(false, err instanceof Error ? err.message : String(err));
        checkSignedOut(); // the session may have ended in another tab while this one had no reason to ask
      },
    );
}

function startSdkPolling() {
  if (sdkTimer) return;
  sdkCall();
  sdkTimer = setInterval(sdkCall, SDK_EVERY_MS);
}

function stopSdkPolling() {
  clearInterval(sdkTimer);
  sdkTimer = null;
}

// ---- session -------------------------------------------------------------------------

async function fetchJson(url, init) {
  const res = await fetch(url, { cache: "no-store", ...init });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

/** The broker said 401 or another tab cleared the token: if our session is gone, stop. */
async function checkSignedOut() {
  if (document.body.dataset.phase === "signed-out" || loggingOut) return;
  let session;
  try {
    session = await fetchJson("/api/session");
  } catch {
    return;
  }
  if (session.signedIn || document.body.dataset.phase === "signed-out") return;
  stopSdkPolling();
  detachSdk?.();
  detachSdk = null;
  tokens?.destroy();
  tokens = null;
  current = null;
  document.body.dataset.phase = "signed-out";
  $("state").textContent = "signed out";
  $("state").dataset.state = "destroyed";
  for (const id of ["masked", "time-left", "renew-at"]) $(id).textContent = "—";
  for (const id of ["renew-in", "expires-clock"]) $(id).textContent = "";
  $("timeline-left").style.width = "0%";
  $("timeline-renew").hidden = true;
  $("btn-refresh").disabled = true;
  $("btn-logout").disabled = true;
  notice("You are signed out (perhaps in another tab). ", el("a", { href: "/signin" }, "Sign in again"));
}

async function logOutEverywhere() {
  loggingOut = true;
  $("btn-logout").disabled = true;
  // clear() drops the token here and, through the package's cross-tab channel, in other tabs;
  // ending the session makes sure the broker will not hand out a new one.
  tokens?.clear();
  try {
    await fetch("/api/signout", { method: "POST", headers: BROKER_HEADERS });
  } finally {
    location.replace("/signin");
  }
}

// ---- fault switches (emulator only) --------------------------------------------------

async function setupFaults() {
  $("faults-card").hidden = false;
  const show = (mode) => {
    for (const input of $("faults").querySelectorAll("input")) input.checked = input.value === mode;
    document.body.dataset.fault = mode;
  };
  const load = () => fetchJson("/mdh/_faults").then((f) => show(f.mode), () => {});
  $("faults").addEventListener("change", async (event) => {
    const mode = event.target.value;
    try {
      const f = await fetchJson("/mdh/_faults", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ mode }),
      });
      show(f.mode);
      log("fault", `emulator token endpoint: ${f.mode}`);
    } catch (err) {
      log("fault", `could not switch: ${err.message}`);
      load();
    }
  });
  // Faults are global to the server: another tab may have changed them.
  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && load());
  await load();
}

// ---- start ---------------------------------------------------------------------------

async function main() {
  const session = await fetchJson("/api/session");
  if (!session.signedIn) {
    location.replace("/signin");
    return;
  }
  $("who-name").textContent = session.participant?.name ?? "?";
  $("who-id").textContent = session.participant?.id ?? "";
  $("mode").textContent = session.mode === "emulator" ? "emulator" : "MyDataHelps";
  lifetimeMs = Number.isFinite(session.tokenLifetimeSeconds) ? session.tokenLifetimeSeconds * 1000 : null;
  const baseUrl = session.sdkBaseUrl ?? `${location.origin}/mdh/`;
  $("btn-tab").addEventListener("click", () => window.open(location.href, "_blank", "noopener"));
  if (session.faults) setupFaults();

  // Imported only now, after sign-in, and dynamically so that a missing build is a readable
  // message instead of a blank page.
  let createTokenManager;
  try {
    ({ createTokenManager } = await import("/mdh-token/pkg/mdh_token.js"));
  } catch (err) {
    document.body.dataset.phase = "error";
    notice("The mdh-token package could not be loaded (not built yet? run npm run build, then reload): ", err.message);
    return;
  }
  try {
    // MyDataHelps.js 5.7.0 ends with an ES export, so it is a module; evaluating it sets window.MyDataHelps.
    await import(SDK_URL);
  } catch (err) {
    notice("MyDataHelps.js could not be loaded: ", err.message);
  }

  tokens = await createTokenManager({
    broker: "/api/mdh/token",
    headers: BROKER_HEADERS,
    // Whose tokens these are: this tab never restores or adopts another participant's
    // (a shared computer, a second sign-in without logging out).
    participant: session.participant?.id,
    storage: "session",
    devtools: true,
    logLevel: "info",
    baseUrl,
  });

  tokens.on("token", (token) => {
    noteToken(token);
    log("token", `${mask(token?.access_token)} · expires in ${token?.expires_in} s (${clock(token?.expires_at)})`);
  });
  tokens.on("expiring", (payload) =>
    log("expiring", payload?.access_token ? `${mask(payload.access_token)} reached its renewal point` : "renewal point reached"),
  );
  tokens.on("expired", (payload) => log("expired", payload?.access_token ? `${mask(payload.access_token)} expired` : "token expired"));
  tokens.on("error", (err) => {
    log("error", describeError(err));
    if (err?.status === 401 || err?.status === 403) checkSignedOut();
  });
  tokens.on("cleared", () => {
    log("cleared", loggingOut ? "cleared by log out" : "token cleared");
    current = null;
    if (!loggingOut) checkSignedOut();
  });

  if (window.MyDataHelps && typeof tokens.attachSdk === "function") {
    detachSdk = tokens.attachSdk(window.MyDataHelps, { baseUrl });
  } else if (window.MyDataHelps) {
    // Keep the rest of the demo useful against a package build that predates attachSdk.
    notice("This build of mdh-token has no attachSdk(): MyDataHelps.js is not connected.");
  }

  $("btn-refresh").disabled = false;
  $("btn-logout").disabled = false;
  $("btn-refresh").addEventListener("click", () => {
    tokens?.refresh().catch((err) => log("refresh", `refresh() rejected: ${describeError(err)}`));
  });
  $("btn-logout").addEventListener("click", logOutEverywhere);

  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && checkSignedOut());
  document.body.dataset.phase = "running";
  setInterval(render, TICK_MS);
  render();

  try {
    noteToken(await tokens.getToken());
  } catch (err) {
    log("getToken", `getToken() rejected: ${describeError(err)}`);
  }
  render();
  if (detachSdk && tokens) startSdkPolling();
}

main().catch((err) => {
  document.body.dataset.phase = "error";
  notice("The demo failed to start: ", err?.message ?? String(err));
});
