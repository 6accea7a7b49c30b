// The demo service account's RSA key pair. Generated on first start into www/.keys/
// (git-ignored) so no private key is ever committed; reused afterwards so a restart keeps
// the same "registered" public key, as a real MyDataHelps service account would.
import { generateKeyPairSync, createPrivateKey, createPublicKey } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

const PRIVATE = "service-account.key.pem";
const PUBLIC = "service-account.pub.pem";

/** Returns `{ privateKey, publicKey }` KeyObjects, creating and saving them when absent. */
export function loadOrCreateKeyPair(dir) {
  const privatePath = path.join(dir, PRIVATE);
  try {
    return fromPrivatePem(readFileSync(privatePath, "utf8"));
  } catch (err) {
    if (err.code !== "ENOENT") throw err;
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  try {
    // "wx": if another process won the race, keep its key and read it back.
    writeFileSync(privatePath, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600, flag: "wx" });
    writeFileSync(path.join(dir, PUBLIC), publicKey.export({ type: "spki", format: "pem" }), { mode: 0o644 });
  } catch (err) {
    if (err.code !== "EEXIST") throw err;
    return fromPrivatePem(readFileSync(privatePath, "utf8"));
  }
  return { privateKey, publicKey };
}

/** A key pair from a PEM private key (PKCS#8 or PKCS#1). */
export function fromPrivatePem(pem) {
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== "rsa") throw new Error("the service account key must be an RSA key (RS256)");
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** An in-memory key pair for tests: nothing touches the disk. */
export function ephemeralKeyPair() {
  return generateKeyPairSync("rsa", { modulusLength: 2048 });
}
