// The one error the broker hands the page: an HTTP status and a fixed code, never upstream text.

/** A failure meant for the page: an HTTP status and a fixed code, never upstream text. */
export class BrokerError extends Error {
  constructor(status, code, retryAfter) {
    super(code);
    this.name = "BrokerError";
    this.status = status;
    this.code = code;
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
  }
}

/** An error's name (never its message) for a log line. */
export const errName = (err) => (typeof err?.name === "string" && /^[A-Za-z]{1,40}$/.test(err.name) ? err.name : "error");

/** An OAuth `error` code fit for a log line: short, from a fixed alphabet, or "-". */
export function safeCode(body) {
  const code = body?.error;
  return typeof code === "string" && /^[a-z_]{1,40}$/.test(code) ? code : "-";
}

/** A participant id shortened for a log line; only printable ASCII (no line breaks) gets through. */
export const short = (id) => `${id.slice(0, 8).replace(/[^\x20-\x7e]/g, "?")}${id.length > 8 ? "…" : ""}`;
