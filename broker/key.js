// The service account's private key, in whichever form the host holds it, made into what
// jose signs RS256 with. Web Crypto imports PKCS#8 only, so a PKCS#1 PEM ("BEGIN RSA
// PRIVATE KEY", what `openssl genrsa` and some key stores write) is wrapped into a PKCS#8
// envelope here, with no Node API, so that Deno, Bun and edge runtimes take it too.
import { importPKCS8 } from "jose";

const PEM = /^-----BEGIN ((?:RSA |ENCRYPTED )?PRIVATE KEY)-----([A-Za-z0-9+/=\s]+)-----END \1-----$/;
// AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL } (RFC 8017 A.1, RFC 5958 §2).
const RSA_ALGORITHM = [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];

/** A sync shape check, so that a wrong option fails at createBroker, not at the first request. */
export function checkKeyShape(key) {
  if (typeof key === "string") {
    const m = PEM.exec(key.trim());
    if (!m) throw new TypeError("mdh-token/broker: privateKey must be a PEM \"PRIVATE KEY\" (PKCS#8) or \"RSA PRIVATE KEY\" (PKCS#1)");
    if (m[1] === "ENCRYPTED PRIVATE KEY") throw new TypeError("mdh-token/broker: privateKey is encrypted: decrypt it first");
    return;
  }
  if (isCryptoKey(key)) {
    const { name, hash } = key.algorithm;
    if (key.type !== "private" || name !== "RSASSA-PKCS1-v1_5" || hash?.name !== "SHA-256" || !key.usages.includes("sign")) {
      throw new TypeError("mdh-token/broker: a CryptoKey privateKey must be a private RSASSA-PKCS1-v1_5 SHA-256 key with usage \"sign\"");
    }
    return;
  }
  if (isKeyObject(key)) {
    if (key.type !== "private" || key.asymmetricKeyType !== "rsa") {
      throw new TypeError("mdh-token/broker: a KeyObject privateKey must be a private RSA key");
    }
    return;
  }
  throw new TypeError("mdh-token/broker: privateKey must be a PEM string, a Node KeyObject or a CryptoKey");
}

/** The key as a CryptoKey for RS256 (checkKeyShape first). */
export async function importKey(key) {
  if (isCryptoKey(key)) return key;
  // A KeyObject exports itself as PKCS#8 PEM, whatever it was read from.
  const pem = isKeyObject(key) ? key.export({ type: "pkcs8", format: "pem" }) : toPkcs8Pem(key.trim());
  return importPKCS8(pem, "RS256");
}

/**
 * The key's PKCS#8 DER: one byte string for one key, whichever form an instance holds it in
 * (the root secret sealed store entries are derived from). A CryptoKey must be extractable.
 */
export async function pkcs8Der(key) {
  if (isCryptoKey(key)) {
    if (!key.extractable) throw new TypeError("mdh-token/broker: a non-extractable CryptoKey privateKey cannot seed sealing: pass sealKeys");
    return new Uint8Array(await crypto.subtle.exportKey("pkcs8", key));
  }
  const pem = isKeyObject(key) ? key.export({ type: "pkcs8", format: "pem" }) : toPkcs8Pem(key.trim());
  return Uint8Array.from(atob(PEM.exec(pem.trim())[2].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
}

/** Whether pkcs8Der(key) can work (checkKeyShape first). */
export const derivable = (key) => !isCryptoKey(key) || key.extractable;

function toPkcs8Pem(pem) {
  const [, label, body] = PEM.exec(pem);
  if (label === "PRIVATE KEY") return pem;
  const pkcs1 = Uint8Array.from(atob(body.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  // PrivateKeyInfo ::= SEQUENCE { version 0, algorithm, privateKey OCTET STRING (the PKCS#1 DER) }
  const info = der(0x30, [0x02, 0x01, 0x00, ...RSA_ALGORITHM, ...der(0x04, pkcs1)]);
  let b64 = "";
  for (let i = 0; i < info.length; i += 0x8000) b64 += String.fromCharCode(...info.subarray(i, i + 0x8000));
  b64 = btoa(b64);
  return `-----BEGIN PRIVATE KEY-----\n${b64.replace(/.{1,64}/g, "$&\n")}-----END PRIVATE KEY-----\n`;
}

/** A DER TLV: tag, definite length (short or long form), value. */
function der(tag, value) {
  const n = value.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : n < 0x10000 ? [0x82, n >> 8, n & 0xff] : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  const out = new Uint8Array(1 + len.length + n);
  out[0] = tag;
  out.set(len, 1);
  out.set(value, 1 + len.length);
  return out;
}

const isCryptoKey = (k) => typeof CryptoKey === "function" && k instanceof CryptoKey;
// Duck-typed so that this module never imports node:crypto.
const isKeyObject = (k) => k !== null && typeof k === "object" && typeof k.export === "function" && "asymmetricKeyType" in k;
