// Sealed store entries: what the broker writes to a shared store (Redis) is encrypted and
// authenticated, so that a reader of that store (a backup, a replica, a network tap) holds
// no bearer token, and a writer cannot move one participant's entry under another's key.
//
// AES-256-GCM through Web Crypto (Node, Deno, Bun and edge runtimes alike). The associated
// data binds the format version, the key id, the store key name and the participant id
// (NIST SP 800-38D §5.2.1.1: authenticated but not encrypted), so a value that was edited,
// relabelled, swapped between participants or copied under another key name fails to open
// and is treated as absent. An old value replayed under its own key opens, but the record
// inside carries its own expiry, which the broker checks.
//
// Keys: by default derived (HKDF-SHA-256, RFC 5869) from the service account's private key,
// which every instance of a fleet already holds; or supplied as `sealKeys: [current,
// ...previous]` (write with the first, open with any). Each root secret is stretched into
// one AES key per 30-day epoch, so that no single AES key sees anywhere near the 2^32
// random-nonce encryptions NIST SP 800-38D §8.3 allows, whatever the fleet's size.
//
// Format (ASCII, compact): `s1.<kid>.<epoch>.<base64url(iv ‖ ciphertext ‖ tag)>`
//   s1     the format version
//   kid    8 base64url characters (6 bytes) derived from the root secret: which key opens it
//   epoch  base-36 number of 30-day periods since 1970 the AES key was derived for
import { pkcs8Der } from "./key.js";

const VERSION = "s1";
const SALT = new TextEncoder().encode("mdh-token/broker seal v1");
const EPOCH_MS = 30 * 24 * 3600 * 1000;
const IV_BYTES = 12; // 96-bit nonces, the size GCM is specified for (SP 800-38D §8.2)
const TAG_BYTES = 16;
const SEALED = /^s1\.([A-Za-z0-9_-]{8})\.([0-9a-z]{1,8})\.([A-Za-z0-9_-]+)$/;
const MIN_SECRET_BYTES = 32;
const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/**
 * A sealer over one or more root secrets: `seal(storeKey, participantId, text)` and
 * `open(storeKey, participantId, sealed)` (null when it does not open).
 * @param {{ secrets: Array<Uint8Array>, now?: () => number }} o the first secret seals
 */
export function createSealer({ secrets, now = Date.now }) {
  const derived = Promise.resolve(secrets).then((list) => {
    if (!Array.isArray(list) || list.length === 0) throw new TypeError("mdh-token/broker: sealing needs at least one key");
    return Promise.all(
      list.map(async (ikm) => {
        const base = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits", "deriveKey"]);
        const id = new Uint8Array(await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: SALT, info: enc.encode("key id") }, base, 48));
        return { base, kid: b64url(id), epochs: new Map() };
      }),
    );
  });
  // Failures surface at the first seal/open; never an unhandled rejection at start.
  derived.catch(() => {});
  let roots = null; // once derived: no await per value

  function aesKey(root, epoch) {
    let k = root.epochs.get(epoch);
    if (!k) {
      k = crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: SALT, info: enc.encode(`aes-256-gcm epoch ${epoch}`) },
        root.base,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      );
      k.catch(() => root.epochs.delete(epoch));
      // A handful of epochs in use at once (the current one, the one before it while its
      // entries live out their TTL): keep the newest few.
      if (root.epochs.size >= 4) root.epochs.delete(root.epochs.keys().next().value);
      root.epochs.set(epoch, k);
    }
    return k;
  }

  const aad = (kid, epoch, storeKey, participantId) => enc.encode(JSON.stringify([VERSION, kid, epoch, storeKey, participantId ?? null]));

  return {
    async seal(storeKey, participantId, text) {
      const root = (roots ??= await derived)[0];
      const epoch = Math.floor(now() / EPOCH_MS).toString(36);
      const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
      const ct = new Uint8Array(
        await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad(root.kid, epoch, storeKey, participantId) }, await aesKey(root, epoch), enc.encode(text)),
      );
      const all = new Uint8Array(IV_BYTES + ct.length);
      all.set(iv);
      all.set(ct, IV_BYTES);
      return `${VERSION}.${root.kid}.${epoch}.${b64url(all)}`;
    },

    async open(storeKey, participantId, sealed) {
      if (typeof sealed !== "string") return null;
      const m = SEALED.exec(sealed);
      if (!m) return null;
      const [, kid, epoch, data] = m;
      const bytes = unb64url(data);
      if (!bytes || bytes.length < IV_BYTES + TAG_BYTES) return null;
      const additionalData = aad(kid, epoch, storeKey, participantId);
      for (const root of (roots ??= await derived)) {
        if (root.kid !== kid) continue;
        try {
          const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: bytes.subarray(0, IV_BYTES), additionalData }, await aesKey(root, epoch), bytes.subarray(IV_BYTES));
          return dec.decode(plain);
        } catch {
          // Not this key (a kid collision between two secrets), or tampered: try the next.
        }
      }
      return null;
    },
  };
}

/**
 * A codec that seals what `inner` encodes: `{ encode, decode }` over records, the broker's
 * store format. A value that does not open decodes to null (absent: refetched, never served).
 */
export function sealingCodec(inner, sealer, { memo = 4096 } = {}) {
  // A cached answer reads the same sealed value again and again until it is renewed: the
  // last value opened per store key is remembered, so that one is decrypted once, not per
  // answer. Keyed by the exact text and participant, so it returns only what opening that
  // very text would (the result is a pure function of key, participant and text).
  const opened = new Map(); // storeKey → { participantId, text, record }
  return {
    async encode(storeKey, participantId, record) {
      return sealer.seal(storeKey, participantId, await inner.encode(storeKey, participantId, record));
    },
    async decode(storeKey, participantId, text) {
      const seen = opened.get(storeKey);
      if (seen && seen.text === text && seen.participantId === participantId) return seen.record;
      const plain = await sealer.open(storeKey, participantId, text);
      const record = plain === null ? null : await inner.decode(storeKey, participantId, plain);
      if (record !== null && memo > 0) {
        if (opened.size >= memo && !opened.has(storeKey)) opened.delete(opened.keys().next().value);
        opened.set(storeKey, { participantId, text, record: Object.freeze(record) });
      }
      return record;
    },
  };
}

/**
 * The root secrets for a broker: `sealKeys` as given (strings of at least 32 characters or
 * byte arrays of at least 32 bytes; high-entropy, e.g. `openssl rand -base64 32`), else the
 * service account's private key (as PKCS#8 DER, so PEM, PKCS#1 and KeyObject forms of one
 * key derive the same secret on every instance).
 */
export async function sealSecrets(sealKeys, privateKey) {
  if (sealKeys) return sealKeys.map(secretBytes);
  return [await pkcs8Der(privateKey)];
}

/** A sync shape check for `sealKeys`, so a wrong option fails at createBroker. */
export function checkSealKeys(sealKeys) {
  if (sealKeys === undefined || sealKeys === null) return;
  if (!Array.isArray(sealKeys) || sealKeys.length === 0) throw new TypeError("mdh-token/broker: sealKeys must be a non-empty array [current, ...previous]");
  for (const k of sealKeys) secretBytes(k);
}

function secretBytes(k) {
  const bytes = typeof k === "string" ? enc.encode(k) : k instanceof Uint8Array ? k : null;
  if (!bytes || bytes.length < MIN_SECRET_BYTES) {
    throw new TypeError(`mdh-token/broker: each sealKeys entry must be a string or Uint8Array of at least ${MIN_SECRET_BYTES} bytes of random`);
  }
  return bytes;
}

function b64url(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/** Strict base64url: one text per byte string (atob ignores a last character's spare bits). */
function unb64url(s) {
  const spare = [0, null, 0x0f, 0x03][s.length % 4];
  if (spare === null || (spare && B64.indexOf(s[s.length - 1]) & spare)) return null;
  try {
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return null;
  }
}
