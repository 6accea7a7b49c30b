// createTokenManager's options, checked where they are: in JS. Every check is a JS
// type test, which through wasm-bindgen costs an import call each: in wasm the parser
// was 1.5 kB gzip, this file is 1.2 kB minified and gzipped on its own (less inside
// the bundle). The facade (src/facade.rs) turns the result into the shell's Options.

// A TokenError with code invalid_options (the shape the wasm makes).
export function bad(detail) {
  const e = new Error("mdh-token: " + detail);
  e.name = "TokenError";
  e.code = "invalid_options";
  e.status = 0;
  return e;
}

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

// The index of `o[k]` in `names` (the first when absent).
function pick(o, k, names, detail) {
  const v = own(o, k);
  const i = v === undefined ? 0 : names.indexOf(v);
  if (i < 0) throw bad(detail);
  return i;
}

function num(o, k, dflt, min, max, detail) {
  const v = own(o, k);
  if (v === undefined) return dflt;
  if (typeof v === "number" && v >= min && v <= max) return v; // NaN fails both
  throw bad(detail);
}

function bool(o, k, detail) {
  const v = own(o, k);
  if (v === undefined || typeof v === "boolean") return v ?? true;
  throw bad(detail);
}

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

// Returns [broker, headers, credentials (0 same-origin, 1 include, 2 omit), storage
// (0 memory, 1 session, 2 local), storageKey, timeoutMs, crossTab, renewBeforeMs,
// maxAttempts, baseDelayMs, maxDelayMs, autoRefresh, logLevel (0 silent … 4 debug),
// baseUrl, devtools global name or undefined, participant or undefined, lock-name scope
// ("" or "=" + the participant URI-encoded)]; throws a TokenError.
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
  const credentials = pick(o, "credentials", ["same-origin", "include", "omit"],
    "credentials must be same-origin, include or omit");
  const storage = pick(o, "storage", ["memory", "session", "local"], "storage must be memory, session or local");
  const k = own(o, "storageKey");
  const key = k === undefined ? "mdh-token" : k;
  if (typeof key !== "string" || key === "") throw bad("storageKey must be a non-empty string");
  const renewBefore = num(o, "renewBeforeSeconds", 120, 0, 86400, "renewBeforeSeconds must be a number from 0 to 86400");
  const timeoutMs = num(o, "timeoutMs", 10000, 1, 600000, "timeoutMs must be a number from 1 to 600000");
  const r = own(o, "retry");
  if (!(r === undefined || isRecord(r))) throw bad("retry must be an object");
  const attemptsDetail = "retry.maxAttempts must be an integer from 1 to 100";
  const maxAttempts = num(r, "maxAttempts", 5, 1, 100, attemptsDetail);
  if (!Number.isInteger(maxAttempts)) throw bad(attemptsDetail);
  const base = num(r, "baseDelayMs", 500, 0, 3600000, "retry.baseDelayMs must be a number from 0 to 3600000");
  const max = num(r, "maxDelayMs", Math.max(30000, base), base, 3600000,
    "retry.maxDelayMs must be a number from baseDelayMs to 3600000");
  const level = pick(o, "logLevel", ["warn", "silent", "error", "info", "debug"],
    "logLevel must be silent, error, warn, info or debug");
  const url = baseUrl(o, "https://mydatahelps.org/");
  const d = own(o, "devtools");
  if (!(d === undefined || typeof d === "boolean" || (typeof d === "string" && d !== ""))) {
    throw bad("devtools must be a boolean or a global name");
  }
  const who = own(o, "participant");
  if (!(who === undefined || (typeof who === "string" && who !== "" && who.length <= 1024))) {
    throw bad("participant must be a non-empty string (an opaque id from your session) of at most 1024 characters");
  }
  return [broker, headers, credentials, storage, key, timeoutMs, bool(o, "crossTab", "crossTab must be a boolean"),
    renewBefore * 1000, maxAttempts, base, max, bool(o, "autoRefresh", "autoRefresh must be a boolean"),
    [2, 0, 1, 3, 4][level], url, d === true ? "mdhToken" : d || undefined,
    who, who === undefined ? "" : "=" + encodeURIComponent(who)];
}
