// Types of the mdh-token package. No `any`: checked with `tsc --noEmit --strict`.

/**
 * Keeps a MyDataHelps participant access token alive in a web page: start with
 * {@link createTokenManager}.
 * @packageDocumentation
 * @module mdh-token
 */

/** Why a broker call is made. */
export type RenewalReason = "initial" | "scheduled" | "forced" | "expired";

/** What a broker function receives. */
export interface BrokerRequest {
  /** Aborted when the request times out, or on clear()/destroy(). */
  signal: AbortSignal;
  /** Why the manager asks now. */
  reason: RenewalReason;
}

/** What a broker answers (RFC 6749 §5.1); extra fields are ignored. */
export interface BrokerResponse {
  /** The participant access token: an RFC 6750 §2.1 b64token, 1 to 16,384 characters. */
  access_token: string;
  /** `"Bearer"`, in any case. */
  token_type: string;
  /** Seconds; a positive number or a string of digits, at most 30 days. */
  expires_in: number | string;
}

/**
 * A broker function. It may throw (or reject with) an object with a numeric `status`
 * (e.g. `{ status: 401 }`) to report an HTTP outcome; 401/403 are then final.
 */
export type BrokerFunction = (request: BrokerRequest) => Promise<BrokerResponse> | BrokerResponse;

/**
 * Where the token is kept: `memory` (never Web Storage), `session` (survives reloads of
 * the tab) or `local` (shared by the origin's tabs).
 */
export type StorageMode = "memory" | "session" | "local";
/** How much the manager logs to the console; never the token. */
export type LogLevel = "silent" | "error" | "warn" | "info" | "debug";

/** Bounds of the retries of one renewal: exponential backoff with full jitter. */
export interface RetryOptions {
  /** Attempts per renewal, the first included. Default 5. */
  maxAttempts?: number;
  /** Ceiling of the first retry's jittered delay. Default 500. */
  baseDelayMs?: number;
  /** Ceiling of any delay, and the pause after a renewal gives up. Default 30000. */
  maxDelayMs?: number;
}

/** The options of {@link createTokenManager}; all but `broker` optional. */
export interface TokenManagerOptions {
  /** URL POSTed with the JSON body `{ "reason": … }` (`Content-Type` and `Accept: application/json`), or a broker function. */
  broker: string | BrokerFunction;
  /**
   * An opaque id of the signed-in participant, from your app's session (1 to 1024
   * characters). The manager never restores, adopts or answers with a token of another
   * participant, and the origin's tabs of another participant under the same
   * storageKey let go of theirs when this one starts. Pass it in workers too: without
   * it, a worker's first manager says so once in the console (warn).
   */
  participant?: string;
  /** Extra headers for the broker POST (e.g. a CSRF token). */
  headers?: Record<string, string>;
  /** `fetch` credentials for the broker POST. Default "same-origin". */
  credentials?: RequestCredentials;
  /** Default "memory". */
  storage?: StorageMode;
  /** Default "mdh-token"; also names the BroadcastChannel and the Web Lock. */
  storageKey?: string;
  /** Default 120 (capped at half the token's lifetime). */
  renewBeforeSeconds?: number;
  /** Per broker request. Default 10000. */
  timeoutMs?: number;
  /** Attempts per renewal and backoff bounds. */
  retry?: RetryOptions;
  /** One broker call per renewal across the origin's tabs. Default true. */
  crossTab?: boolean;
  /** Renew on timers, not only on getToken(). Default true. */
  autoRefresh?: boolean;
  /** MyDataHelps base URL for attachSdk/serveFrames/fetch. Default "https://mydatahelps.org/". */
  baseUrl?: string;
  /** `true` exposes `globalThis.mdhToken`; a string names the global. Default false. */
  devtools?: boolean | string;
  /** Default "warn". */
  logLevel?: LogLevel;
}

/** A token, ready for `MyDataHelps.setParticipantAccessToken(token, baseUrl)`. Frozen. */
export interface Token {
  /** The participant access token. */
  readonly access_token: string;
  /** Always `"Bearer"`. */
  readonly token_type: "Bearer";
  /** Whole seconds left now. */
  readonly expires_in: number;
  /** Expiry, epoch ms (the broker request's send time + expires_in). */
  readonly expires_at: number;
}

/** The stable `code` of a {@link TokenError}; docs/getting-started.md lists when each occurs. */
export type TokenErrorCode =
  | "broker_unreachable"
  | "broker_timeout"
  | "broker_rejected"
  | "broker_failed"
  | "invalid_response"
  | "cleared"
  | "destroyed"
  | "invalid_options"
  | "unsupported_environment"
  /** The wasm did not load (HTTP error, network, CSP, cut-off bytes): `cause` holds why; the next createTokenManager() tries again. */
  | "wasm_unavailable"
  /** mdh-token/react: TokenProvider's `sdk` loader rejected (`cause`) or gave no MyDataHelps.js. */
  | "sdk_unavailable"
  | "internal"
  /** In MyDataHelps.js's connectExternalAccount popup, back on its return URL with an opener of this origin: no broker call there. */
  | "passive";

/** Every rejection and `error` event payload. Its message never contains the token. */
export interface TokenError extends Error {
  /** Always `"TokenError"`. */
  readonly name: "TokenError";
  /** What went wrong, stable across versions. */
  readonly code: TokenErrorCode;
  /** The broker's HTTP status, or 0. */
  readonly status: number;
  /** Epoch ms of the next automatic attempt, when one is scheduled. */
  readonly retryAt?: number;
  /** For `wasm_unavailable` and `sdk_unavailable`: the failure underneath (a TypeError of fetch, a CompileError…). */
  readonly cause?: unknown;
}

/**
 * status().state. In order, for a manager with no stored token: `empty` → (first
 * getToken(), or attachSdk) `renewing` → `valid`; each renewal `valid` → `renewing`
 * (the old token still usable: `expiresAt` is set) → `valid`; a failed attempt that will
 * be retried → `backoff` → `renewing`; after a renewal gave up, `empty` (no token) or
 * `valid` (the old one kept); a token that ran out unreplaced → `expired`; clear() or a
 * 401/403 → `empty`; destroy() → `destroyed` (final). So `renewing` and `backoff` come
 * with or without a token: a usable token is `expiresAt !== null` (or peek()).
 * mdh-token/react: useTokenStatus() is null before the manager exists.
 */
export type TokenState =
  /** No token: at start (none restored), after clear(), a 401/403, or a first renewal that gave up. */
  | "empty"
  /** A token, and no broker call under way or pending. */
  | "valid"
  /** A broker call is under way (the first one, or a renewal while the token still serves). */
  | "renewing"
  /** Waiting before the next attempt (Retry-After or jittered back-off). */
  | "backoff"
  /** The token ran out and no renewal replaced it; the next getToken() asks the broker. */
  | "expired"
  /** destroy() was called; nothing more happens. */
  | "destroyed";

/** What {@link TokenManager.status} reports; never the token itself. */
export interface TokenStatus {
  /** The manager's state. */
  state: TokenState;
  /** Whole seconds the token has left, or null without one. */
  expiresIn: number | null;
  /** The token's expiry, epoch ms, or null. */
  expiresAt: number | null;
  /** When the renewal is due, epoch ms, or null. */
  renewAt: number | null;
  /** When the next automatic broker attempt is scheduled, epoch ms, or null. */
  nextAttemptAt: number | null;
  /** Broker requests sent by this tab. */
  brokerCalls: number;
  /** The code of the last failed attempt, or null. */
  lastError: TokenErrorCode | null;
  /** The storage really in use (memory after a storage failure). */
  storage: StorageMode;
  /** Which cross-tab APIs the manager uses (false where absent or `crossTab: false`). */
  crossTab: {
    /** A `BroadcastChannel` shares tokens and clears with the other tabs. */
    broadcastChannel: boolean;
    /** Web Locks elect the one tab that calls the broker. */
    webLocks: boolean;
  };
  /** The token masked: 6 characters, "…", and its length. */
  token: string | null;
}

/** Each event's payload, by name (see {@link TokenManager.on}). */
export interface TokenEvents {
  /** A new token was adopted, from the broker or another tab. */
  token: Token;
  /** Once per token, when its renewal window opens. */
  expiring: Token;
  /** Once per token that expired with no replacement. */
  expired: undefined;
  /** A failed attempt; `retryAt` when another is scheduled. */
  error: TokenError;
  /** The token was dropped: clear() here or in another tab, a 401/403, or another participant. */
  cleared: undefined;
}
/** An event's name. */
export type TokenEventName = keyof TokenEvents;

/** The part of MyDataHelps.js (`@careevolution/mydatahelps-js`) that attachSdk uses. */
export interface MyDataHelpsLike {
  /** Gives the SDK a token for its API calls. */
  setParticipantAccessToken(
    token: { access_token: string; token_type: string; expires_in: number },
    baseUrl?: string,
  ): void;
  /** Listens to an SDK event (attachSdk listens to `tokenWillExpire`). */
  on(eventName: string, callback: (event: unknown) => void): void;
  /** Stops listening to an SDK event. */
  off(eventName: string, callback: (event: unknown) => void): void;
  /** Raises an SDK event; attachSdk uses it for `applicationDidBecomeVisible` (see `revive`). */
  triggerEvent?(event: { type: string }): void;
}

/** The options of {@link TokenManager.attachSdk}. */
export interface AttachSdkOptions {
  /** MyDataHelps base URL passed with each token. Default: the manager's `baseUrl`. */
  baseUrl?: string;
  /**
   * Raise the SDK's `applicationDidBecomeVisible` once when a token reaches it after it
   * had none usable (at attach, after an expiry gap, after a clear), so that views that
   * failed meanwhile (MyDataHelps UI) load again. Not on ordinary renewals. Default true.
   */
  revive?: boolean;
}

/** Stops an integration; idempotent. */
export interface Detach {
  (): void;
}
/** Stops attachSdk; idempotent. */
export interface SdkDetach extends Detach {
  /** Resolves after the first token reached the SDK; rejects with a TokenError. */
  readonly ready: Promise<true>;
}

/** The options of {@link TokenManager.serveFrames}. */
export interface ServeFramesOptions {
  /** Exact origins (scheme://host[:port]) of the MyDataHelps frames to answer. */
  origins: string[];
  /** MyDataHelps base URL sent with each answer. Default: the manager's `baseUrl`. */
  baseUrl?: string;
  /** Sent as `participantID` when given. */
  participantId?: string;
  /** Also answer windows that are not frames of this page (popups, openers). Default false. */
  anyWindow?: boolean;
}

/** A manager, made by {@link createTokenManager}: one token's life in this tab. */
export interface TokenManager {
  /** A usable token (≥ 10 s left), from memory or from one shared broker request. */
  getToken(): Promise<Token>;
  /** The usable token or null; never touches the network. */
  peek(): Token | null;
  /** A token from a broker request made now (joins one already under way). */
  refresh(): Promise<Token>;
  /** Forgets the token here, in storage and in the other tabs. */
  clear(): void;
  /** Listens to an event; returns the unsubscribe function. */
  on<K extends TokenEventName>(name: K, listener: (payload: TokenEvents[K]) => void): () => void;
  /** The manager's state now, the token masked. */
  status(): TokenStatus;
  /** Changes how much the manager logs. */
  setLogLevel(level: LogLevel): void;
  /**
   * Feeds MyDataHelps.js with each token exactly once and renews on tokenWillExpire;
   * survey frames (startSurvey) get the current token, held back until there is one.
   */
  attachSdk(sdk: MyDataHelpsLike, options?: AttachSdkOptions): SdkDetach;
  /** Answers GetDelegatedAccessToken from frames of the listed origins only. */
  serveFrames(options: ServeFramesOptions): Detach;
  /** fetch with the bearer token for the origin of baseUrl; renews and retries once on 401. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Stops every timer, listener, channel and request. */
  destroy(): void;
}

/**
 * Loads the wasm (once) and starts a manager. Rejects with `invalid_options`, or with
 * `unsupported_environment` outside a browser page or worker (create it on the client)
 * and, in an engine without `DecompressionStream` (which fetches the wasm file), when
 * the wasm URL answers a web page (Vite's dev server: `optimizeDeps.exclude`), or with
 * `wasm_unavailable` when the wasm does not load (its `cause` says why; the next call
 * tries again). In a test runner's DOM without `DecompressionStream` (Jest's jsdom) on
 * Node 20.16+, the wasm is read from its `file:` URL (docs/testing.md).
 */
export function createTokenManager(options: TokenManagerOptions): Promise<TokenManager>;

/** The devtools helper exposed with `devtools: true`. */
export interface MdhTokenDevtools {
  /** Prints the status as a table and returns it. */
  status(): TokenStatus;
  /** Renews now; resolves to the status after, or rejects with the TokenError. */
  refresh(): Promise<TokenStatus>;
  /** Forgets the token here and in the other tabs. */
  clear(): void;
  /** Changes the log level; false for a name that is not one. */
  logLevel(level: LogLevel): boolean;
  /** Prints what the helper offers. */
  help(): void;
}
