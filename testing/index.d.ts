// Types of mdh-token/testing. No `any`: checked with `tsc --noEmit --strict`.
/**
 * For a host app's own tests: a scripted broker, a fake MyDataHelps.js and the wasm
 * loaded ahead of fake timers, around the real manager.
 * @packageDocumentation
 * @module mdh-token/testing
 */
import type { BrokerFunction, BrokerResponse, MyDataHelpsLike, RenewalReason } from "../index.js";

/** The options of {@link scriptedBroker}. */
export interface ScriptedBrokerOptions {
  /** `expires_in` of each token answered (seconds). Default 3600. */
  expiresIn?: number;
  /** Delay before each answer, on the global setTimeout (so fake timers drive it). Default 0. */
  latencyMs?: number;
  /** Tokens are `${prefix}1`, `${prefix}2`, … Default "test-token-". */
  prefix?: string;
}

/** How a queued step of a {@link ScriptedBroker} repeats and waits. */
export interface StepOptions {
  /** Queue the step this many times. Default 1. */
  times?: number;
  /** This step's delay instead of the broker's latency. */
  latencyMs?: number;
}

/**
 * A broker function for `createTokenManager({ broker })`, scripted by the test. Each call
 * takes the next queued step; with none queued it answers a fresh token. A delay or a
 * hang ends, rejecting, when the manager aborts the request.
 */
export interface ScriptedBroker extends BrokerFunction {
  /** Calls so far. */
  readonly calls: number;
  /** Each call's reason and Date.now() when it was made. */
  readonly requests: ReadonlyArray<{
    /** Why the manager asked. */
    readonly reason: RenewalReason;
    /** Date.now() at the call. */
    readonly at: number;
  }>;
  /** The access tokens answered so far, in order. */
  readonly tokens: readonly string[];
  /** Steps queued and not yet used. */
  readonly pending: number;
  /** Queue an answer: a fresh token with these fields on top (e.g. `{ expires_in: 300 }`). */
  answer(fields?: Partial<BrokerResponse> | Record<string, unknown>, options?: StepOptions): ScriptedBroker;
  /**
   * Queue a failure: a number is an HTTP status (`{ status }`: 401/403 final, others
   * retried), anything else is thrown as is (an Error: `broker_unreachable`, retried).
   */
  fail(failure: number | unknown, options?: StepOptions): ScriptedBroker;
  /** Queue a call that never answers (the manager's timeoutMs ends it). */
  hang(options?: { times?: number }): ScriptedBroker;
  /** Set the delay of the following answers. */
  latency(ms: number): ScriptedBroker;
  /** Forget queued steps, counts and tokens; latency back to the option's. */
  reset(): ScriptedBroker;
}

/** A new {@link ScriptedBroker}: pass it as `createTokenManager({ broker })`. */
export function scriptedBroker(options?: ScriptedBrokerOptions): ScriptedBroker;

/** What the fake SDK's getParticipantInfo() answers. */
export interface FakeParticipant {
  /** The participant's id. */
  participantID: string;
  /** Names and the like, as MyDataHelps answers them. */
  demographics?: Record<string, unknown>;
  [field: string]: unknown;
}

/**
 * MyDataHelps.js in standalone mode as far as attachSdk and a host's components meet it:
 * setParticipantAccessToken schedules `tokenWillExpire` at expires_in − 120 s (on the
 * global setTimeout), getParticipantInfo() rejects with a string once the token expired.
 */
export interface FakeSdk extends MyDataHelpsLike {
  triggerEvent(event: { type: string }): void;
  /** Each access token the SDK was given, in order. */
  readonly tokens: string[];
  /** Each event type triggered (by the fake itself, attachSdk or the test), in order. */
  readonly events: string[];
  /** The baseUrl of the last setParticipantAccessToken call. */
  readonly baseUrl: string | undefined;
  /** The access token the SDK would send now, or null (none, or expired). */
  readonly accessToken: string | null;
  /** How many listeners the event has (attachSdk's are removed on detach). */
  listenerCount(eventName: string): number;
  /** The participant, or a rejection with MyDataHelps.js's string while no token is usable. */
  getParticipantInfo(): Promise<FakeParticipant>;
}

/** A new {@link FakeSdk}, answering for `participant`. */
export function fakeSdk(options?: {
  /** What getParticipantInfo() answers. */
  participant?: FakeParticipant;
}): FakeSdk;

/**
 * Loads the wasm now, with real IO, and resolves when it is ready: call it in beforeAll,
 * before the runner's fake timers are installed, so that createTokenManager() (and
 * TokenProvider) under fake timers then waits for nothing outside the fake clock.
 * Rejects like createTokenManager() (`wasm_unavailable`, `unsupported_environment`).
 */
export function loadWasm(): Promise<void>;
