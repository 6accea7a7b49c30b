// The page's POST over HTTP: the CSRF guard, the body, identity from the host's session,
// and the two adapters, Web-standard `handle(Request)` and Node's `node(req, res)`, around
// one `respond` that never throws. Decides nothing about tokens: that is fleet.js.
import { BrokerError, errName } from "./errors.js";
import { REASONS } from "./policy.js";
import { readCapped, TOO_LARGE } from "./bytes.js";

const BASE_HEADERS = Object.freeze({
  "Content-Type": "application/json; charset=utf-8",
  // RFC 6749 §5.1: token responses are not cached, errors included.
  "Cache-Control": "no-store",
  Pragma: "no-cache",
  "X-Content-Type-Options": "nosniff",
});


/**
 * The CSRF guard's second line (the first is the JSON content type). Fetch Metadata first:
 * browsers set Sec-Fetch-Site themselves and no script can forge it; same-origin (or none,
 * a user-typed request) passes, same-site / cross-site only from an allowed origin. Without
 * it (older browsers) the Origin header decides; a client sending neither (curl, a server)
 * is no browser being tricked into sending someone's cookies.
 */
function sameSite(header, selfOrigin, allowed) {
  const origin = header("origin");
  const site = header("sec-fetch-site");
  if (site !== null) {
    if (site === "same-origin" || site === "none") return true;
    return origin !== null && allowed.has(origin);
  }
  if (origin === null) return true;
  if (allowed.has(origin)) return true;
  try {
    // Host only: TLS often ends at a proxy, so the scheme this process sees may not be the page's.
    return new URL(origin).host === new URL(selfOrigin).host; // "null" (an opaque origin) throws: refused
  } catch {
    return false;
  }
}

const INVALID = Symbol("invalid");
function parseJson(text) {
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    return INVALID;
  }
}

const mediaType = (v) => String(v ?? "").split(";")[0].trim().toLowerCase();


async function webBody(request, limit) {
  if (Number(request.headers.get("content-length")) > limit) throw new BrokerError(413, "payload_too_large");
  if (!request.body) return null;
  try {
    return await readCapped(request.body, limit);
  } catch (err) {
    if (err === TOO_LARGE) throw new BrokerError(413, "payload_too_large");
    throw new BrokerError(400, "invalid_body");
  }
}

/** The body of a Node request: parsed already by a framework (Express, Fastify), or read here. */
function nodeBody(req, limit) {
  if (req.body !== undefined && req.body !== null) {
    if (typeof req.body === "string") return Promise.resolve(req.body);
    if (req.body instanceof Uint8Array) return Promise.resolve(new TextDecoder().decode(req.body));
    return Promise.resolve(req.body); // an object a JSON body parser made
  }
  if (req.readableEnded) return Promise.resolve(null); // consumed by someone else: no reason given
  if (Number(req.headers["content-length"]) > limit) return Promise.reject(new BrokerError(413, "payload_too_large"));
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    const onData = (chunk) => {
      size += chunk.length;
      if (size > limit) {
        // Stop here; the answer closes the connection (node() sets Connection: close).
        req.off("data", onData);
        req.off("end", onEnd);
        req.pause();
        reject(new BrokerError(413, "payload_too_large"));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      const all = new Uint8Array(size);
      let at = 0;
      for (const c of chunks) {
        all.set(c, at);
        at += c.length;
      }
      resolve(new TextDecoder().decode(all));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.once("error", () => reject(new BrokerError(400, "invalid_body")));
  });
}


/**
 * handle() and node() around one `respond`. `participantToken(id, { reason })` is the
 * broker's (it checks the id); `observer.pageRequest` wraps each page request.
 */
export function httpHandlers(o, { participantToken, isParticipantId, observer, log, runtime }) {
  const answer = (status, body, extra = {}) => ({ status, body, headers: { ...BASE_HEADERS, ...extra } });

  /**
   * One answer for handle() and node(): { status, headers, body, close? }, by the request
   * deadline whatever is slow (a trickled body, a participant() that never settles, the
   * store, MyDataHelps): the page gives up at its timeoutMs (10 s by default), and an
   * answer after that is wasted. Work still under way (a shared upstream call) goes on.
   */
  async function respond(input) {
    const progress = { stage: "body" };
    let timer;
    const deadline = new Promise((resolve) => {
      timer = runtime.setTimer(() => {
        log(`broker: request deadline passed (${progress.stage})`);
        const out = answer(503, { error: "request_timeout" }, { "Retry-After": "1" });
        // A body not read to its end: the connection cannot carry another request.
        if (progress.stage === "body") out.close = true;
        resolve(out);
      }, o.requestTimeoutMs);
    });
    try {
      return await Promise.race([answerRequest(input, progress), deadline]);
    } finally {
      runtime.clearTimer(timer);
    }
  }

  async function answerRequest({ method, header, selfOrigin, readBody, subject }, progress) {
    try {
      if (method !== "POST") return answer(405, { error: "method_not_allowed" }, { Allow: "POST" });
      if (!sameSite(header, selfOrigin, o.allowedOrigins)) return answer(403, { error: "cross_site_request" });
      // application/json is not a CORS-safelisted type: no form can send it, and a
      // cross-origin fetch needs a preflight this broker never grants (docs/broker.md, "CSRF guard").
      if (mediaType(header("content-type")) !== "application/json") return answer(415, { error: "json_required" });
      const text = await readBody(o.maxBodyBytes);
      progress.stage = "participant()";
      let reason = "initial";
      let claimed;
      if (text !== null) {
        const body = typeof text === "string" ? parseJson(text) : text;
        if (body === INVALID || body === null || typeof body !== "object" || Array.isArray(body)) return answer(400, { error: "invalid_body" });
        if (body.reason !== undefined) {
          if (!REASONS.has(body.reason)) return answer(400, { error: "invalid_body" });
          reason = body.reason;
        }
        if (body.participant !== undefined) {
          if (typeof body.participant !== "string") return answer(400, { error: "invalid_body" });
          claimed = body.participant;
        }
      }
      // Identity from the host's own session only: never from the body or the query.
      let participantId;
      try {
        participantId = await o.participant(subject);
      } catch (err) {
        log(`broker: participant() threw (${errName(err)})`);
        return answer(500, { error: "internal_error" });
      }
      if (participantId === null || participantId === undefined || participantId === "") return answer(401, { error: "not_signed_in" });
      if (!isParticipantId(participantId)) {
        log("broker: participant() must return a participant id (a non-empty, well-formed string of at most 1024 characters) or null");
        return answer(500, { error: "internal_error" });
      }
      // The page's manager names the participant it is bound to (its `participant`
      // option). Never a source of identity: only a reason to refuse, when this session
      // now belongs to someone else (a shared computer: Ben signed in while Ada's tab
      // was open). 403 is final for the page: it drops its token and stops.
      if (o.matchPageParticipant && claimed !== undefined && claimed !== participantId) {
        log("broker: the page is bound to another participant than its session: refused");
        return answer(403, { error: "participant_mismatch" });
      }
      progress.stage = "token";
      const token = await participantToken(participantId, { reason });
      return answer(200, token);
    } catch (err) {
      if (err instanceof BrokerError) {
        return answer(err.status, { error: err.code }, err.retryAfter ? { "Retry-After": err.retryAfter } : {});
      }
      // The kind of failure only: a message could quote a request or an upstream answer.
      log(`broker: unexpected ${errName(err)}`);
      return answer(500, { error: "internal_error" });
    }
  }

  /** respond() inside the observer's page-request span. */
  const observed = (input) =>
    observer.pageRequest(async () => {
      const out = await respond(input);
      return { status: out.status, code: out.status === 200 ? "ok" : out.body.error, value: out };
    });

  return {
    respond: observed,

    async handle(request) {
      const out = await observed({
        method: request.method,
        header: (name) => request.headers.get(name),
        selfOrigin: new URL(request.url).origin,
        readBody: (limit) => webBody(request, limit),
        subject: request,
      });
      return new Response(JSON.stringify(out.body), { status: out.status, headers: out.headers });
    },

    async node(req, res) {
      const header = (name) => {
        const v = req.headers[name];
        return v === undefined ? null : Array.isArray(v) ? v.join(", ") : String(v);
      };
      const out = await observed({
        method: req.method,
        header,
        selfOrigin: `${req.socket?.encrypted ? "https" : "http"}://${header("host") ?? "invalid"}`,
        readBody: (limit) => nodeBody(req, limit),
        subject: req,
      });
      if (res.headersSent || res.writableEnded) return;
      const data = new TextEncoder().encode(JSON.stringify(out.body));
      // A body over the cap was left unread: close instead of draining it.
      const close = out.status === 413 || out.close ? { Connection: "close" } : {};
      res.writeHead(out.status, { ...out.headers, ...close, "Content-Length": String(data.length) });
      res.end(data);
    },
  };
}
