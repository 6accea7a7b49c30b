// Small HTTP helpers for a framework-free node:http server.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import path from "node:path";

/** An error that maps to one HTTP answer. `expose` is the JSON `error` code sent to the client. */
export class HttpError extends Error {
  constructor(status, expose, headers = {}) {
    super(expose);
    this.status = status;
    this.expose = expose;
    this.headers = headers;
  }
}

// Only types we mean to serve: anything else under a static root is a 404, so a stray
// file (a .pem, a .d.ts, an editor backup) never leaks with a guessed type.
export const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  // WebAssembly.instantiateStreaming() refuses any other type.
  ".wasm": "application/wasm",
};

/** Headers every response carries. */
// Referrer-Policy same-origin rather than no-referrer: with no-referrer Chromium sends
// "Origin: null" on same-site form posts, which blinds the sign-in's origin check.
export const BASE_HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "same-origin",
};

export function sendJson(res, status, body, headers = {}) {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    ...BASE_HEADERS,
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(data),
    ...headers,
  });
  res.end(data);
}

export function sendText(res, status, text, headers = {}) {
  res.writeHead(status, {
    ...BASE_HEADERS,
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function redirect(res, location, status = 303, headers = {}) {
  res.writeHead(status, { ...BASE_HEADERS, Location: location, "Content-Length": 0, ...headers });
  res.end();
}

/** Reads a request body as UTF-8, refusing more than `limit` bytes (a token request is tiny). */
export function readBody(req, limit = 16 * 1024) {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"]);
    if (declared > limit) {
      req.resume();
      reject(new HttpError(413, "payload_too_large"));
      return;
    }
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        reject(new HttpError(413, "payload_too_large"));
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** The media type of a request without parameters, lower-cased ("" when absent). */
export function mediaType(req) {
  return String(req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
}

/** Parses the Cookie header into a Map (first occurrence wins, as browsers send the most specific first). */
export function parseCookies(req) {
  const jar = new Map();
  for (const part of String(req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq < 1) continue;
    const name = part.slice(0, eq).trim();
    if (!jar.has(name)) jar.set(name, part.slice(eq + 1).trim());
  }
  return jar;
}

/**
 * Maps the still percent-encoded remainder of a URL path onto a file under `root`, or null.
 * Decoding happens once, here, and every segment is checked after decoding, so "%2e%2e",
 * "..%2f" and "%5c" cannot climb out; dot-files are refused too (www/.keys lives beside
 * the static roots). The final prefix check is the belt to those braces.
 */
export function resolveUnder(root, encodedRest) {
  let rest;
  try {
    rest = decodeURIComponent(encodedRest);
  } catch {
    return null;
  }
  if (rest.includes("\0") || rest.includes("\\")) return null;
  const segments = rest.split("/");
  if (segments.some((s) => s === "" || s.startsWith("."))) return null;
  const base = path.resolve(root);
  const file = path.resolve(base, ...segments);
  return file.startsWith(base + path.sep) ? file : null;
}

/** Streams a regular file with its MIME type; 404 when missing, not a file or of an unknown type. */
export async function serveFile(req, res, file, headers = {}) {
  const type = file && MIME[path.extname(file).toLowerCase()];
  let info = null;
  if (type) {
    try {
      info = await stat(file);
    } catch {
      info = null;
    }
  }
  if (!info?.isFile()) {
    sendJson(res, 404, { error: "not_found" });
    return;
  }
  res.writeHead(200, {
    ...BASE_HEADERS,
    "Content-Type": type,
    "Content-Length": info.size,
    // The package is rebuilt while the demo runs: always revalidate.
    "Cache-Control": "no-cache",
    ...headers,
  });
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  createReadStream(file).on("error", () => res.destroy()).pipe(res);
}
