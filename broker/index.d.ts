// Types of mdh-token/broker, the server half of mdh-token (runs on Node 20+, Deno, Bun and
// edge runtimes). Self-contained: no @types/node needed.

/**
 * The server half: {@link createBroker} answers the page's POST with a participant token
 * for the participant of your app's session.
 * @packageDocumentation
 * @module mdh-token/broker
 */

/** Why the page asks: sent by mdh-token in the POST body as `{ "reason": … }`. */
export type Reason = "initial" | "scheduled" | "forced" | "expired";

/** What the page (and `participantToken`) gets: RFC 6749 §5.1, nothing else. */
export interface ParticipantToken {
  /** The participant access token MyDataHelps issued. */
  access_token: string;
  /** Whole seconds the token has left now (a cached token: less than its lifetime). */
  expires_in: number;
  /** Always `"Bearer"`. */
  token_type: "Bearer";
}

/** The few members of a Node `http.IncomingMessage` (or Express request) the broker reads. */
export interface NodeRequest {
  /** The HTTP method: only POST is answered. */
  method?: string;
  /** Request headers, lower-case names (Content-Type, Sec-Fetch-Site, Origin, Host). */
  headers: Record<string, string | string[] | undefined>;
  /** The connection, to tell https from http. */
  socket?: {
    /** True on a TLS connection. */
    encrypted?: boolean;
  } | null;
  /** True when a framework already read the body stream. */
  readableEnded?: boolean;
  /** A body a framework already parsed (express.json(), Fastify): used instead of the stream. */
  body?: unknown;
  /** Reads the body's chunks. */
  on(event: "data", listener: (chunk: Uint8Array) => void): unknown;
  /** Learns that the body ended. */
  on(event: "end", listener: () => void): unknown;
  /** Learns that reading the body failed. */
  once(event: "error", listener: (err: Error) => void): unknown;
  /** Stops listening once the body is read or refused. */
  off(event: string, listener: (...args: never[]) => void): unknown;
  /** Stops reading a body over `maxBodyBytes`. */
  pause(): unknown;
}

/** The few members of a Node `http.ServerResponse` (or Express response) the broker writes. */
export interface NodeResponse {
  /** True once an answer started: the broker then writes nothing. */
  readonly headersSent: boolean;
  /** True once the answer ended. */
  readonly writableEnded: boolean;
  /** Writes the status and headers. */
  writeHead(status: number, headers: Record<string, string>): unknown;
  /** Writes the JSON body and ends the answer. */
  end(body: Uint8Array): unknown;
}

/**
 * A cache store shared by broker instances. `memoryStore()` and `redisStore(client)`
 * implement it; a custom one must make `add` atomic (Redis `SET key value NX PX ttl`) and
 * `remove` a compare-and-delete.
 */
export interface BrokerStore {
  /** The key's value, or null when absent or expired. */
  get(key: string): Promise<string | null>;
  /** Sets the key for `ttlMs`. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Sets the key only when absent; true when it did. */
  add(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Deletes the key only while it still holds `value`. */
  remove(key: string, value: string): Promise<void>;
  /** +1 on a counter that lives `windowMs` from its first increment. */
  incr(key: string, windowMs: number): Promise<{
    /** The count after this increment. */
    count: number;
    /** Milliseconds until the counter's window ends. */
    ttlMs: number;
  }>;
}

/** A Node `crypto.KeyObject` (structurally: what the broker checks and calls). */
export interface KeyObjectLike {
  /** `"private"` for a usable key. */
  readonly type: string;
  /** `"rsa"` for a usable key. */
  readonly asymmetricKeyType?: string;
  /** The key as PKCS#8 PEM, which the broker imports into Web Crypto. */
  export(options: { type: "pkcs8"; format: "pem" }): string | {
    /** The PEM text (a Node Buffer). */
    toString(): string;
  };
}

/** The options of {@link createBroker}. `R` is the request type `participant` receives. */
export interface BrokerOptions<R = Request | NodeRequest> {
  /** Absolute URL of MyDataHelps' `…/identityserver/connect/token` (https; http only for localhost). */
  tokenUrl: string;
  /** The service account name (assertion `iss` and `sub`), e.g. "RKStudio.1234.myapp". */
  serviceAccount: string;
  /** Its RSA private key: PEM (PKCS#8 "PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY"), a Node KeyObject or a CryptoKey (RSASSA-PKCS1-v1_5, SHA-256, "sign"). */
  privateKey: string | KeyObjectLike | CryptoKey;
  /**
   * The participant id from the host's own session, or null (→ 401). Called with what the
   * handler got: the `Request` for `handle`, the Node request for `node`. Never read the
   * id from the request body or query.
   */
  participant(request: R): string | null | undefined | Promise<string | null | undefined>;
  /** Default "RKStudio.DelegatedParticipant". */
  clientId?: string;
  /** Default "secret". */
  clientSecret?: string;
  /** The participant grant's scope. Default "api" (the service grant always sends "api"). */
  scope?: string;
  /** Shared cache (`redisStore(client)` for several instances); default: this process's memory. */
  store?: BrokerStore | null;
  /** Receives log lines; none contains a token, an assertion or a key. Default: silent. */
  log?: (line: string) => void;
  /** Epoch-ms clock. Default Date.now. */
  now?: () => number;
  /** Default globalThis.fetch. */
  fetch?: (url: string, init: RequestInit) => Promise<Response>;
  /** Per upstream call. Default 8000. */
  upstreamTimeoutMs?: number;
  /** Renew the service token this long before it expires (at most half its life). Default 30000. */
  serviceTokenRenewMs?: number;
  /** Hand a cached participant token out again (initial / scheduled only). Default true. */
  cacheParticipantTokens?: boolean;
  /**
   * Refuse (403 participant_mismatch) a page whose manager names another participant
   * (its `participant` option, sent in the POST body) than `participant(request)`.
   * Pass the same id on the page. Default true.
   */
  matchPageParticipant?: boolean;
  /** MyDataHelps calls per participant per window; false: no limit. Default { max: 10, windowMs: 60000 }. */
  rateLimit?: {
    /** MyDataHelps calls per participant per window. */
    max: number;
    /** The window, ms. */
    windowMs: number;
  } | false;
  /** Largest request body read. Default 1024. */
  maxBodyBytes?: number;
  /** Origins besides the request's own that may POST (e.g. the public origin behind a proxy). Default []. */
  allowedOrigins?: string[];
  /** A shared-store call slower than this counts as the store being down. Default 500. */
  storeTimeoutMs?: number;
  /** Upstream calls open at once on this instance, at most; the next get 503 + Retry-After: 1. Default 8. */
  maxConcurrentUpstream?: number;
  /**
   * The page's POST is answered within this, whatever is slow (body, participant(), store,
   * MyDataHelps): 503 request_timeout + Retry-After: 1. Below the page's timeoutMs
   * (10000 by default). Default 9000.
   */
  requestTimeoutMs?: number;
  /**
   * Seal store values (AES-256-GCM, the store key and participant bound as associated
   * data): a reader of the store holds no token, an edited or relabelled value is refused.
   * Default: true with a shared `store`, false for this process's memory.
   */
  seal?: boolean;
  /**
   * Root secrets for sealing, `[current, ...previous]`: values are written with the first
   * and opened with any (rotation). Each at least 32 bytes of random. Default: derived from
   * `privateKey` (a CryptoKey must then be extractable).
   */
  sealKeys?: Array<string | Uint8Array>;
  /**
   * Metrics and spans through `@opentelemetry/api` (an optional peer dependency: without
   * it, nothing). true: the API's global providers (what an installed SDK registers).
   * Default false.
   */
  telemetry?: boolean | BrokerTelemetry;
}

/** Where the broker's metrics and spans go; each defaults to the API's global one. */
export interface BrokerTelemetry {
  /** The `@opentelemetry/api` module, if the broker should not import it itself. */
  api?: object;
  /** The MeterProvider for the broker's metrics. */
  meterProvider?: {
    /** The broker's meter. */
    getMeter(name: string): object;
  };
  /** The TracerProvider for the broker's spans. */
  tracerProvider?: {
    /** The broker's tracer. */
    getTracer(name: string): object;
  };
}

/** What `health()` answers (the shape of draft-inadarei-api-health-check). */
export interface BrokerHealth {
  /** pass / warn: can serve (200); fail: cannot (503). */
  status: "pass" | "warn" | "fail";
  /** "fallback": the shared store does not answer; this instance serves from its memory. */
  store: "shared" | "fallback" | "memory";
  /** "ok", or the error code of the last attempt to obtain the service token. */
  service_token: "ok" | BrokerError["code"] | "internal_error";
  /** The fleet-wide back-off after MyDataHelps failed: open → page requests that need it get 503. */
  circuit: "closed" | "open" | "half-open";
}

/** A broker made by {@link createBroker}: the page's POST handler, in two shapes. */
export interface Broker<R = Request | NodeRequest> {
  /** The Web-standard handler: Next.js route handlers, Hono, Deno.serve, Bun.serve, Workers. */
  handle(request: Request): Promise<Response>;
  /** The same as a Node `http` / Express handler. Never rejects. */
  node(req: NodeRequest & R, res: NodeResponse): Promise<void>;
  /** A token for a participant the caller identified itself; rejects with a BrokerError. */
  participantToken(participantId: string, options?: { reason?: Reason }): Promise<ParticipantToken>;
  /** For a load balancer: can this instance serve? Never calls MyDataHelps per probe. */
  health(): Promise<BrokerHealth>;
  /** health() as a Response: 200 (pass, warn) or 503 (fail), JSON, no-store. */
  handleHealth(request?: Request): Promise<Response>;
  /** health() on a Node `http` / Express response. */
  nodeHealth(req: unknown, res: NodeResponse): Promise<void>;
}

/** Creates a broker; throws a TypeError for bad options. */
export function createBroker<R = Request | NodeRequest>(options: BrokerOptions<R>): Broker<R>;

/** This process's memory. */
export function memoryStore(options?: { now?: () => number }): BrokerStore;

/** Commands a host-made client as raw Redis commands. */
export type RedisCommand = (args: string[]) => Promise<unknown>;

/**
 * A Redis store over a client the host creates and connects: node-redis v4+ (`sendCommand`),
 * ioredis (`call`), or a function. The broker imports no Redis library.
 */
export function redisStore(
  client: { sendCommand(args: string[]): Promise<unknown> } | { call(...args: string[]): Promise<unknown> } | RedisCommand,
  options?: { prefix?: string },
): BrokerStore;

/** A failure meant for the page: `status` and a stable `code`, never upstream text. */
export class BrokerError extends Error {
  /** Always `"BrokerError"`. */
  readonly name: "BrokerError";
  /** The HTTP status the page gets. */
  readonly status: number;
  /** What went wrong, stable across versions (docs/operators.md lists them). */
  readonly code:
    | "rate_limited"
    | "upstream_unavailable"
    | "upstream_timeout"
    | "upstream_error"
    | "upstream_unreachable"
    | "upstream_malformed"
    | "broker_misconfigured"
    | "participant_unauthorized"
    | "participant_not_allowed"
    | "payload_too_large"
    | "invalid_body";
  /** Seconds, as sent in Retry-After. */
  readonly retryAfter?: string;
  constructor(status: number, code: BrokerError["code"], retryAfter?: string);
}
