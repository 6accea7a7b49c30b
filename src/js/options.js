// @ts-check
// createTokenManager's options, checked where they are: in JS. Every check is a JS
// type test, which through wasm-bindgen costs an import call each: in wasm the parser
// was 1.5 kB gzip. This file checks the type and range of each option present and
// turns the named ones (storage, credentials, logLevel) into the index of their enum
// variant; the wasm (src/facade.rs) reads the result by name, once, into typed options
// and takes what is absent from the shipped defaults (`Config::default()` in
// src/core/config.rs). The options only JS reads (storageKey, baseUrl, devtools) get
// their defaults here.
import { tokenError } from "./errors.js";

// A TokenError with code invalid_options.
export const bad = (detail) => tokenError("invalid_options", detail);

// `o[k]`, or undefined when `o` is not an object or the getter throws.
export function get(o, k) {
  if (typeof o !== "object" || o === null) return undefined;
  try {
    return o[k];
  } catch {
    return undefined;
  }
}

// An option: `o[k]` as an own property only, so that a polluted Object.prototype
// (`Object.prototype.baseUrl = …`) never becomes an option.
export function own(o, k) {
  try {
    return typeof o === "object" && o !== null && Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
  } catch {
    return undefined;
  }
}

const isRecord = (v) => {
  try {
    return typeof v === "object" && v !== null && !Array.isArray(v);
  } catch {
    return false; // a revoked Proxy
  }
};

/**
 * `o[k]` when absent or of type `type` (and `ok`); else a TokenError.
 * @param {(v: any) => boolean} [ok]
 */
function typed(o, k, type, detail, ok = () => true) {
  const v = own(o, k);
  if (v === undefined || (typeof v === type && ok(v))) return v;
  throw bad(detail);
}

// The index of `v` in `names`, undefined when absent; else a TokenError. The wasm takes
// the index as its enum's variant (src/facade.rs). A plain loop over own elements: no
// prototype method a page script may have replaced decides the index.
function choice(v, names, detail) {
  if (v === undefined) return v;
  for (let i = 0; i < names.length; i++) if (v === names[i]) return i;
  throw bad(detail);
}

const LEVELS = [["silent", "error", "warn", "info", "debug"], "logLevel must be silent, error, warn, info or debug"];
// setLogLevel()'s argument as the wasm's `Level` (absent is invalid there).
export const level = (v) => choice(v ?? null, ...LEVELS);

// `o[k]` when absent or a number from `min` to `max` (NaN fails both).
const num = (o, k, min, max, detail) => typed(o, k, "number", detail, (v) => v >= min && v <= max);

// `o.baseUrl`, an absolute http(s) URL, or `dflt` when absent.
export function baseUrl(o, dflt) {
  const s = own(o, "baseUrl");
  if (s === undefined) return dflt;
  let protocol;
  try {
    protocol = typeof s === "string" && new URL(s).protocol;
  } catch {}
  if (protocol !== "https:" && protocol !== "http:") throw bad("baseUrl must be an absolute http(s) URL");
  return s;
}

// What `options()` answers, slot by slot: the one statement of the order, which
// `Opt` in src/facade.rs follows (tests/js/contracts.test.js holds the two and the
// answer itself together). Only the tests read it: the bundle drops it.
export const ORDER = [
  "broker", "headers", "storageKey", "retry.baseDelayMs", "participant", "credentials", "storage", "logLevel",
  "renewBeforeSeconds", "timeoutMs", "retry.maxAttempts", "retry.maxDelayMs", "crossTab", "autoRefresh", "baseUrl",
  "devtools", "scope",
];

// The options, checked, as an array (one getter per option costs more, in the glue and
// in the wasm); undefined where absent (but for the defaults of storageKey, baseUrl and
// devtools). `headers` is a Headers with Accept and the app's own, `scope` the
// participant's part of the lock names ("" or "=" and the participant URI-encoded, so it
// never holds the ":" that ends it). Throws a TokenError.
export function options(o) {
  if (!(o === undefined || isRecord(o))) throw bad("options must be an object");
  const broker = own(o, "broker");
  if (!((typeof broker === "string" && broker !== "") || typeof broker === "function")) {
    throw bad("broker must be a URL string or an async function");
  }
  const h = own(o, "headers");
  const headersDetail = "headers must be an object of strings";
  if (!(h === undefined || isRecord(h))) throw bad(headersDetail);
  const headers = new Headers({ Accept: "application/json" });
  for (const [k, v] of Object.entries(h ?? {})) {
    if (typeof v !== "string") throw bad(headersDetail);
    try {
      headers.set(k, v);
    } catch {
      throw bad("headers hold an invalid name or value");
    }
  }
  const storageKey = typed(o, "storageKey", "string", "storageKey must be a non-empty string", (v) => v !== "") ?? "mdh-token";
  const r = own(o, "retry");
  if (!(r === undefined || isRecord(r))) throw bad("retry must be an object");
  const baseDelayMs = num(r, "baseDelayMs", 0, 3600000, "retry.baseDelayMs must be a number from 0 to 3600000");
  const devtools = own(o, "devtools");
  if (!(devtools === undefined || typeof devtools === "boolean" || (typeof devtools === "string" && devtools !== ""))) {
    throw bad("devtools must be a boolean or a global name");
  }
  const participant = typed(o, "participant", "string",
    "participant must be a non-empty string (an opaque id from your session) of at most 1024 characters",
    (v) => v !== "" && v.length <= 1024);
  // In the order of ORDER (and of the checks before: the first invalid option is the
  // one reported).
  return [
    broker,
    headers,
    storageKey,
    baseDelayMs,
    participant,
    choice(own(o, "credentials"), ["same-origin", "include", "omit"], "credentials must be same-origin, include or omit"),
    choice(own(o, "storage"), ["memory", "session", "local"], "storage must be memory, session or local"),
    choice(own(o, "logLevel"), ...LEVELS),
    num(o, "renewBeforeSeconds", 0, 86400, "renewBeforeSeconds must be a number from 0 to 86400"),
    num(o, "timeoutMs", 1, 600000, "timeoutMs must be a number from 1 to 600000"),
    typed(r, "maxAttempts", "number", "retry.maxAttempts must be an integer from 1 to 100",
      (v) => Number.isInteger(v) && v >= 1 && v <= 100),
    // Also at least baseDelayMs: checked in the wasm, which knows the default.
    num(r, "maxDelayMs", 0, 3600000, "retry.maxDelayMs must be a number from baseDelayMs to 3600000"),
    typed(o, "crossTab", "boolean", "crossTab must be a boolean"),
    typed(o, "autoRefresh", "boolean", "autoRefresh must be a boolean"),
    baseUrl(o, "https://mydatahelps.org/"),
    // The global's name: `devtools: true` names mdhToken, false none.
    devtools === true ? "mdhToken" : devtools || undefined,
    participant === undefined ? "" : "=" + encodeURIComponent(participant),
  ];
}
