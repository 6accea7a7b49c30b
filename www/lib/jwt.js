// RS256 JSON Web Tokens with node:crypto only: just enough for a service-account client
// assertion (RFC 7523 §2.2) and for the emulator to check one. No `alg` negotiation on
// purpose: the verifier accepts RS256 and nothing else, so "alg: none" and HS256-with-
// the-public-key confusion (RFC 8725 §2.1) cannot get through.
import { sign, verify } from "node:crypto";

const B64URL = /^[A-Za-z0-9_-]+$/;

/** A JWT that failed a check; `reason` is safe to show (it never contains the JWT). */
export class JwtError extends Error {
  constructor(reason) {
    super(reason);
    this.name = "JwtError";
  }
}

const encode = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** Signs `claims` with an RSA private KeyObject (or PEM) as a compact RS256 JWT. */
export function signJwt(claims, privateKey, header = { alg: "RS256", typ: "JWT" }) {
  const input = `${encode(header)}.${encode(claims)}`;
  return `${input}.${sign("sha256", Buffer.from(input), privateKey).toString("base64url")}`;
}

/** Splits a compact JWT and parses header and claims WITHOUT checking the signature. */
export function decodeJwt(jwt) {
  if (typeof jwt !== "string" || jwt.length > 16 * 1024) throw new JwtError("not a JWT");
  const parts = jwt.split(".");
  if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) throw new JwtError("not a compact JWT");
  let header;
  let claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], "base64url").toString("utf8"));
    claims = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
  } catch {
    throw new JwtError("JWT header or payload is not JSON");
  }
  if (!isObject(header) || !isObject(claims)) throw new JwtError("JWT header or payload is not an object");
  return { header, claims, signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2], "base64url") };
}

/** Checks the RS256 signature of a decoded JWT against an RSA public KeyObject. */
export function verifyJwtSignature(decoded, publicKey) {
  if (decoded.header.alg !== "RS256") throw new JwtError("only RS256 is accepted");
  if (!verify("sha256", Buffer.from(decoded.signingInput), publicKey, decoded.signature)) {
    throw new JwtError("signature does not verify");
  }
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
