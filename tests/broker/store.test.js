// memoryStore's housekeeping: each cached answer served from a shared store refreshes this
// instance's memory copy (an overwrite of a key it holds), so an overwrite must not walk the
// whole map; expired entries still go as new keys arrive. Counted in clock reads, not time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { memoryStore } from "mdh-token/broker";

test("overwriting a held key never sweeps the map; new keys do, in amortised constant work", async () => {
  let t = 0;
  let reads = 0;
  const s = memoryStore({ now: () => (reads++, t) });
  const N = 20_000;
  for (let i = 0; i < N; i++) await s.set(`p${i}`, "v", 60_000);
  reads = 0;
  for (let i = 0; i < 5_000; i++) await s.set(`p${i % 3}`, "v", 60_000);
  assert.ok(reads <= 2 * 5_000, `${reads} clock reads for 5,000 overwrites among ${N} keys`);
  // All of them expire; as many new keys come: the old ones are swept, and the work per
  // insert stays bounded (no full walk every few hundred inserts).
  t += 120_000;
  reads = 0;
  for (let i = 0; i < N; i++) await s.set(`q${i}`, "v", 60_000);
  assert.ok(reads <= 4 * N, `${reads} clock reads for ${N} inserts`);
  for (let i = 0; i < 100; i++) assert.equal(await s.get(`p${i}`), null);
  assert.equal(await s.get("q0"), "v");
});
