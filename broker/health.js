// Health for a load balancer's probe: can this instance serve page requests?
//
//   store          "shared" (answers), "fallback" (does not: this instance serves from its
//                  memory and still answers pages), "memory" (no shared store configured)
//   service_token  "ok" (cached or just obtained), else the error code of the last attempt
//   circuit        "closed", "open" (every instance waits before calling MyDataHelps again,
//                  after it failed) or "half-open" (one call fleet-wide tries again)
//
// A probe never makes MyDataHelps calls of its own: it asks for the service token the way a
// page request does (cached across the fleet, fetched at most once per token lifetime), and
// after a failed attempt it repeats that answer for a while instead of trying again. Checks
// are shared by all probes for a second, so a fleet of load-balancer nodes probing often
// costs one store read per second per instance.
//
// The body follows the shape of the IETF draft "Health Check Response Format for HTTP APIs"
// (draft-inadarei-api-health-check: status pass / warn / fail); 200 unless "fail" (503).
import { within } from "./runtime.js";

const CHECK_TTL_MS = 1_000;
const SERVICE_RETRY_MS = 30_000;
const PROBE_KEY = "health";

const HEADERS = Object.freeze({ "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" });

/**
 * @param o checked options
 * @param deps { runtime, serviceToken: () => Promise<unknown>, circuit: () => Promise<verdict> }
 */
export function healthCheck(o, { runtime, serviceToken, circuit: circuitVerdict }) {
  let last = null;
  let lastAt = -Infinity;
  let pending = null;
  let serviceFailedAt = -Infinity;
  let serviceFailure = null;

  async function check() {
    let store = "memory";
    if (o.store) {
      try {
        await within(runtime, o.store.get(PROBE_KEY), o.storeTimeoutMs, "store timeout");
        store = "shared";
      } catch {
        store = "fallback";
      }
    }
    let service = serviceFailure;
    if (runtime.mono() - serviceFailedAt >= SERVICE_RETRY_MS) {
      try {
        await serviceToken();
        service = "ok";
        serviceFailure = null;
      } catch (err) {
        serviceFailedAt = runtime.mono();
        service = serviceFailure = typeof err?.code === "string" && /^[a-z_]{1,40}$/.test(err.code) ? err.code : "internal_error";
      }
    }
    // The fleet-wide back-off, as stored: "closed", "half-open" or seconds left open.
    let circuit = "closed";
    try {
      const v = await circuitVerdict();
      circuit = v === "closed" || v === "half-open" ? v : "open";
    } catch {
      // the store read failed: reported above as the store's state
    }
    const status = service !== "ok" ? "fail" : store === "fallback" || circuit === "open" ? "warn" : "pass";
    return { status, store, service_token: service, circuit };
  }

  async function health() {
    if (last && runtime.mono() - lastAt < CHECK_TTL_MS) return last;
    pending ??= check().then(
      (h) => {
        last = h;
        lastAt = runtime.mono();
        pending = null;
        return h;
      },
      (err) => {
        pending = null;
        throw err;
      },
    );
    return pending;
  }

  return {
    health,
    async handleHealth() {
      const h = await health();
      return new Response(JSON.stringify(h), { status: h.status === "fail" ? 503 : 200, headers: HEADERS });
    },
    async nodeHealth(_req, res) {
      const h = await health();
      if (res.headersSent || res.writableEnded) return;
      const data = new TextEncoder().encode(JSON.stringify(h));
      res.writeHead(h.status === "fail" ? 503 : 200, { ...HEADERS, "Content-Length": String(data.length) });
      res.end(data);
    },
  };
}
