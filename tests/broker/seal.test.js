// Sealed store entries (broker/seal.js): what opens is exactly what was sealed under the
// same store key and participant; everything else (edited, relabelled, swapped, truncated,
// garbage, another key) opens to null. Keys derive from the private key in any of its forms,
// or rotate through sealKeys (read old, write new).
import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { createSealer, sealingCodec, sealSecrets, checkSealKeys } from "../../broker/seal.js";
import { KEYS, PKCS1_PEM, PKCS8_PEM, ADA, BEN } from "./helpers.js";

const TOKEN = "eyJhbGciOiJSUzI1NiJ9.participant-token-for-the-test.c2lnbmF0dXJl";
const KEY = "0123abcd:pt:ada";
const jsonCodec = { encode: async (_k, _p, r) => JSON.stringify(r), decode: async (_k, _p, s) => JSON.parse(s) };
const record = { t: TOKEN, e: 1, l: 2, f: 3, p: ADA };
const secret = (c) => c.repeat(32);

test("a sealed value opens under its own store key and participant, and shows no token", async () => {
  const s = createSealer({ secrets: [new TextEncoder().encode(secret("a"))] });
  const sealed = await s.seal(KEY, ADA, JSON.stringify(record));
  assert.match(sealed, /^s1\.[A-Za-z0-9_-]{8}\.[0-9a-z]+\.[A-Za-z0-9_-]+$/);
  assert.ok(!sealed.includes(TOKEN) && !sealed.includes(ADA) && !sealed.includes("participant-token"));
  assert.deepEqual(JSON.parse(await s.open(KEY, ADA, sealed)), record);
  // A fresh nonce each time: the same record never seals to the same text.
  assert.notEqual(await s.seal(KEY, ADA, "x"), await s.seal(KEY, ADA, "x"));
});

test("relabelled, swapped, moved, edited, truncated or garbage values open to null", async () => {
  const s = createSealer({ secrets: [new TextEncoder().encode(secret("a"))] });
  const ada = await s.seal("ns:pt:ada", ADA, "ada's record");
  const ben = await s.seal("ns:pt:ben", BEN, "ben's record");
  // Swapped: Ada's value under Ben's key, with Ben as the reader.
  assert.equal(await s.open("ns:pt:ben", BEN, ada), null);
  // Relabelled: the right key name, read for another participant.
  assert.equal(await s.open("ns:pt:ada", BEN, ada), null);
  // Moved under another key name (a service-token slot), participant null.
  assert.equal(await s.open("ns:svc", null, ada), null);
  assert.equal(await s.open("ns:pt:ada", null, ada), null);
  // Every single-character edit of the ciphertext, and of the header.
  const [v, kid, epoch, data] = ada.split(".");
  for (let i = 0; i < data.length; i++) {
    const c = data[i] === "A" ? "B" : "A";
    const edited = `${v}.${kid}.${epoch}.${data.slice(0, i)}${c}${data.slice(i + 1)}`;
    assert.equal(await s.open("ns:pt:ada", ADA, edited), null, `edit at ${i}`);
  }
  // The last character's spare bits (atob ignores them): still refused, one text per value.
  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const spare = `${data.slice(0, -1)}${B64[B64.indexOf(data.at(-1)) ^ 1]}`;
  assert.equal(await s.open("ns:pt:ada", ADA, `${v}.${kid}.${epoch}.${spare}`), null, "spare bits edited");
  assert.equal(await s.open("ns:pt:ada", ADA, `${v}.${kid}.${(parseInt(epoch, 36) + 1).toString(36)}.${data}`), null, "epoch edited");
  assert.equal(await s.open("ns:pt:ada", ADA, `${v}.AAAAAAAA.${epoch}.${data}`), null, "kid edited");
  assert.equal(await s.open("ns:pt:ada", ADA, `s2.${kid}.${epoch}.${data}`), null, "version edited");
  // Truncated anywhere, and things that are not sealed values at all.
  for (let n = 0; n < ada.length; n += 7) assert.equal(await s.open("ns:pt:ada", ADA, ada.slice(0, n)), null, `truncated to ${n}`);
  for (const junk of ["", "null", JSON.stringify({ t: TOKEN, p: ADA }), `s1.${kid}.${epoch}.`, `s1.${kid}.${epoch}.!!!!`, `s1.${kid}.${epoch}.A`, "s1....", null, 42]) {
    assert.equal(await s.open("ns:pt:ada", ADA, junk), null, String(junk));
  }
  // Unharmed, it still opens.
  assert.equal(await s.open("ns:pt:ben", BEN, ben), "ben's record");
});

test("another key does not open it; rotation reads old and new, writes new", async () => {
  const [a, b, c] = ["a", "b", "c"].map((ch) => new TextEncoder().encode(secret(ch)));
  const old = createSealer({ secrets: [a] });
  const rotated = createSealer({ secrets: [b, a] });
  const stranger = createSealer({ secrets: [c] });
  const byOld = await old.seal(KEY, ADA, "v");
  assert.equal(await stranger.open(KEY, ADA, byOld), null, "wrong key");
  assert.equal(await rotated.open(KEY, ADA, byOld), "v", "the previous key still opens");
  const byNew = await rotated.seal(KEY, ADA, "w");
  assert.notEqual(byNew.split(".")[1], byOld.split(".")[1], "written under the new key id");
  assert.equal(await old.open(KEY, ADA, byNew), null, "an instance without the new key cannot read it");
  // Once the old key is dropped, values it sealed no longer open (they are refetched).
  const done = createSealer({ secrets: [b] });
  assert.equal(await done.open(KEY, ADA, byOld), null);
  assert.equal(await done.open(KEY, ADA, byNew), "w");
});

test("a new 30-day epoch seals under a new derived key; values of the previous one still open", async () => {
  let t = Date.UTC(2026, 0, 1);
  const s = createSealer({ secrets: [new TextEncoder().encode(secret("a"))], now: () => t });
  const before = await s.seal(KEY, ADA, "v");
  t += 31 * 24 * 3600 * 1000;
  const after = await s.seal(KEY, ADA, "v");
  assert.notEqual(before.split(".")[2], after.split(".")[2]);
  assert.equal(await s.open(KEY, ADA, before), "v");
  assert.equal(await s.open(KEY, ADA, after), "v");
});

test("the private key in PKCS#8, PKCS#1 and KeyObject form derives one sealing key; another private key does not", async () => {
  const forms = [PKCS8_PEM, PKCS1_PEM, KEYS.privateKey];
  const sealers = await Promise.all(forms.map(async (k) => createSealer({ secrets: await sealSecrets(undefined, k) })));
  const sealed = await sealers[0].seal(KEY, ADA, "v");
  for (const s of sealers) assert.equal(await s.open(KEY, ADA, sealed), "v");
  const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  const foreign = createSealer({ secrets: await sealSecrets(undefined, other) });
  assert.equal(await foreign.open(KEY, ADA, sealed), null);
  // A non-extractable CryptoKey cannot seed it: a clear error that names the way out.
  const nonExtractable = await crypto.subtle.importKey("pkcs8", KEYS.privateKey.export({ type: "pkcs8", format: "der" }), { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["sign"]);
  await assert.rejects(sealSecrets(undefined, nonExtractable), /sealKeys/);
});

test("sealKeys are checked: non-empty, each at least 32 bytes", () => {
  for (const bad of [[], "x".repeat(40), ["short"], [new Uint8Array(16)], [42]]) assert.throws(() => checkSealKeys(bad), TypeError, JSON.stringify(bad));
  checkSealKeys(undefined);
  checkSealKeys([secret("a"), new Uint8Array(32)]);
});

test("the sealing codec wraps a record codec; what does not open decodes to null", async () => {
  const s = createSealer({ secrets: [new TextEncoder().encode(secret("a"))] });
  const codec = sealingCodec(jsonCodec, s);
  const text = await codec.encode(KEY, ADA, record);
  assert.ok(!text.includes(TOKEN));
  assert.deepEqual(await codec.decode(KEY, ADA, text), record);
  assert.equal(await codec.decode(KEY, BEN, text), null);
  assert.equal(await codec.decode(KEY, ADA, JSON.stringify(record)), null, "a plain-JSON value (written without sealing) is refused");
  // Opened once, remembered: the same text again is the same record; anything else is opened afresh.
  assert.equal(await codec.decode(KEY, ADA, text), await codec.decode(KEY, ADA, text));
  assert.equal(await codec.decode("ns:pt:other", ADA, text), null, "the remembered text under another key");
  assert.equal(await codec.decode(KEY, ADA, text.slice(0, -2) + (text.endsWith("AA") ? "BA" : "AA")), null, "an edit of the remembered text");
});
