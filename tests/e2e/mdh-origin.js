// The MyDataHelps side of the Embeddables flows, for tests/e2e/embeddables.test.js and
// workers.test.js: one local server that is reached under two loopback origins.
//
//   http://localhost:PORT/mdh/   plays MyDataHelps (`baseUrl`): the delegated API with
//                                CORS (the page is on 127.0.0.1), the survey frame, and
//                                the external-account connect + callback endpoints;
//   http://127.0.0.1:PORT/       plays an EHR provider's sign-in page.
//
// The page itself is on the harness server (http://127.0.0.1:OTHER_PORT), so the three
// origins differ. Bearer tokens are checked against the harness's `state.expiry` (the
// tokens its broker issued): a token that expired or was never issued gets a 401.
//
// What each route emulates is what MyDataHelps.js 5.7.0 (node_modules/
// @careevolution/mydatahelps-js/MyDataHelps.js) sends and expects:
// - startSurvey(name) (L4-14) opens `${baseUrl}/survey?surveyName=…` (note the extra
//   "/": baseUrl ends with one) and startDelegatedSurvey (L1751-1786) appends `&lang=…`;
//   the frame posts {name:"GetDelegatedAccessToken"} to its parent; the SDK checks
//   event.origin against baseUrl's origin and event.source against the frame, calls
//   getParticipantInfo() and posts {name:"DelegatedAccessTokenResponse", accessToken:
//   mdh.token, baseUrl, participantID} to "*". SurveyWindowInitialized marks the modal
//   loaded; SurveyFinished removes it and raises surveyDidFinish.
// - connectExternalAccount(id, {openNewWindow}) (L653-726) POSTs
//   `externalaccountproviders/{id}/connect?finalRedirectPath=…&verifierHash=…` and reads
//   the answer as text, a quoted URL; it navigates the popup (or window.top) there,
//   with `#verifier=…` appended. In popup mode finalRedirectPath is the page without its
//   query plus `?connectExternalAccount=true&messageID=N&success=%SUCCESSVALUE%`;
//   otherwise it is window.location.href. The provider, then MyDataHelps, redirect the
//   browser back to it, with %SUCCESSVALUE% replaced.
import http from "node:http";

/** The survey frame: asks its parent for the token as the real one does, uses it, reports. */
const SURVEY = `<!doctype html><meta charset="utf-8"><title>survey</title><body>survey frame<script>
window.answers = [];
addEventListener("message", async (e) => {
  if (!e.data || e.data.name !== "DelegatedAccessTokenResponse") return;
  const t = e.data.accessToken || {};
  const at = Date.now();
  let api = 0;
  try {
    const r = await fetch(e.data.baseUrl + "api/v1/delegated/participant", { headers: { Authorization: "Bearer " + t.access_token } });
    api = r.status;
  } catch {}
  window.answers.push({ origin: e.origin, at, access_token: t.access_token, expires_in: t.expires_in,
    keys: Object.keys(t).sort().join(","), baseUrl: e.data.baseUrl, participantID: e.data.participantID, api });
  parent.postMessage({ name: "SurveyWindowInitialized" }, "*");
});
window.finish = () => parent.postMessage({ name: "SurveyFinished", surveyName: new URLSearchParams(location.search).get("surveyName") }, "*");
parent.postMessage({ name: "GetDelegatedAccessToken" }, "*");
</script>`;

/** The provider's sign-in page: the test clicks "Allow" when it wants the browser back. */
const provider = (back) => `<!doctype html><meta charset="utf-8"><title>provider</title><body>
<button id="allow" onclick="location.href=${JSON.stringify(back).replace(/"/g, "&quot;")}">Allow</button>`;

/**
 * @param {object} state the harness server's state (its `expiry` map and `revoked` set)
 * Set `.coop = true` on the result to have the provider page send
 * Cross-Origin-Opener-Policy: same-origin, which severs a popup from its opener.
 */
export async function startMdh(state) {
  const log = {
    api: [],       // { at, method, path, token, ok } for every delegated API request
    connects: [],  // { provider, finalRedirectPath, verifierHash }
    surveys: [],   // survey frame URLs as requested
  };
  let port;
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url.replace(/^\/+/, "/"), "http://x");
    const origin = req.headers.origin;
    const cors = origin ? { "access-control-allow-origin": origin, vary: "origin" } : {};
    const send = (status, type, body, extra = {}) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store", ...cors, ...extra });
      res.end(body);
    };
    if (url.pathname.startsWith("/mdh/api/v1/delegated/")) {
      if (req.method === "OPTIONS") {
        return send(204, "text/plain", "", {
          "access-control-allow-methods": "GET, POST, PUT, DELETE",
          "access-control-allow-headers": "authorization, content-type, accept, accept-language",
          "access-control-max-age": "600",
        });
      }
      let body = "";
      for await (const chunk of req) body += chunk;
      const auth = req.headers.authorization ?? "";
      const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
      const exp = state.expiry.get(token);
      const ok = exp !== undefined && Date.now() < exp && !state.revoked.has(token);
      const endpoint = url.pathname.slice("/mdh/api/v1/delegated/".length);
      log.api.push({ at: Date.now(), method: req.method, path: endpoint, token, ok, body });
      if (!ok) return send(401, "application/json", JSON.stringify({ error: "invalid_token" }));
      if (endpoint === "participant") {
        return send(200, "application/json", JSON.stringify({ participantID: "p-1", participantIdentifier: "PT-1" }));
      }
      const m = /^externalaccountproviders\/(\d+)\/connect$/.exec(endpoint);
      if (m && req.method === "POST") {
        const n = log.connects.length;
        log.connects.push({ provider: m[1], finalRedirectPath: url.searchParams.get("finalRedirectPath"), verifierHash: url.searchParams.get("verifierHash") });
        // A JSON string: MyDataHelps.js strips the quotes (L699).
        return send(200, "application/json", JSON.stringify(`http://127.0.0.1:${port}/provider/authorize?state=${n}`));
      }
      return send(200, "application/json", "{}");
    }
    if (url.pathname === "/mdh//survey" || url.pathname === "/mdh/survey") {
      log.surveys.push(req.url);
      return send(200, "text/html", SURVEY);
    }
    if (url.pathname === "/provider/authorize") {
      const back = `http://localhost:${port}/mdh/externalaccount/callback?state=${url.searchParams.get("state")}`;
      return send(200, "text/html", provider(back), self.coop ? { "cross-origin-opener-policy": "same-origin" } : {});
    }
    if (url.pathname === "/mdh/externalaccount/callback") {
      const c = log.connects[Number(url.searchParams.get("state"))];
      if (!c) return send(400, "text/plain", "unknown state");
      res.writeHead(302, { location: c.finalRedirectPath.replace("%SUCCESSVALUE%", "true") });
      return res.end();
    }
    send(404, "text/plain", "not found");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  port = server.address().port;
  const sockets = new Set();
  server.on("connection", (s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
  const self = {
    coop: false,
    base: `http://localhost:${port}/mdh/`,
    origin: `http://localhost:${port}`,
    providerOrigin: `http://127.0.0.1:${port}`,
    log,
    reset() {
      self.coop = false;
      log.api.length = 0;
      log.connects.length = 0;
      log.surveys.length = 0;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
  return self;
}
