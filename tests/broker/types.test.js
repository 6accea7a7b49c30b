// broker/index.d.ts: no `any`, a host's code compiles under tsc --strict, misuse does not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

test("broker/index.d.ts has no `any`; consumer.ts compiles and misuse.ts is refused line by line", () => {
  const dts = fs.readFileSync(path.join(ROOT, "broker/index.d.ts"), "utf8").replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, "");
  assert.doesNotMatch(dts, /\bany\b/);
  // Every @ts-expect-error in misuse.ts must meet an error, or tsc fails (TS2578).
  execFileSync(path.join(ROOT, "node_modules/.bin/tsc"), ["-p", path.join(ROOT, "tests/broker/types")], { stdio: "pipe" });
});

test("the runtime exports match the declared ones", async () => {
  const mod = await import("mdh-token/broker");
  assert.deepEqual(Object.keys(mod).sort(), ["BrokerError", "createBroker", "memoryStore", "redisStore"]);
  const dts = fs.readFileSync(path.join(ROOT, "broker/index.d.ts"), "utf8");
  for (const name of Object.keys(mod)) assert.match(dts, new RegExp(`export (declare )?(function|class) ${name}\\b`));
});
