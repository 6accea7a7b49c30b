// The typed boundary of createTokenManager's options (issue 17, item 3): options.js
// checks types and ranges, the wasm reads the result by name once, takes what is absent
// from the shipped defaults (Config::default) and names the strings itself. No value is
// ever coerced into a valid one (the old decoder's `% 3` would have made any index a
// valid storage or credentials mode).
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { browserSuite, packageBuilt } from "./harness.js";

const skip = !packageBuilt() && "package not built: run npm run build";
const suite = browserSuite({ before, after, beforeEach, assert, skip });

/** createTokenManager(options) in the page: "created" (then destroyed) or the error's name:code:message. */
const create = (options) =>
  suite.page.evaluate(async (list) => {
    const { createTokenManager } = await import("/pkg/mdh_token.js");
    const revive = (o) => {
      if (o && o.$object) return { toString: () => o.$object, valueOf: () => o.$object };
      if (o && o.$boxed) return new String(o.$boxed);
      if (o && typeof o === "object" && !Array.isArray(o)) return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, revive(v)]));
      return o;
    };
    const out = [];
    for (const o of list) {
      out.push(await createTokenManager(revive(o)).then(
        (m) => (m.destroy(), "created"),
        (e) => `${e.name}:${e.code}:${e.message}`,
      ));
    }
    return out;
  }, options);

test("storage, credentials and logLevel are named exactly: anything else is invalid_options, never coerced", { skip }, async () => {
  const names = { storage: ["memory", "session", "local"], credentials: ["same-origin", "include", "omit"], logLevel: ["silent", "error", "warn", "info", "debug"] };
  for (const [key, valid] of Object.entries(names)) {
    const bad = ["disk", "", valid[0].toUpperCase(), "3", 1, 2, -1, true, null, [valid[1]], { $object: valid[1] }, { $boxed: valid[1] }];
    const got = await create(bad.map((v) => ({ broker: "/broker", crossTab: false, [key]: v })));
    got.forEach((g, i) => {
      assert.match(g, new RegExp(`^TokenError:invalid_options:mdh-token: ${key} must be `), `${key}: ${JSON.stringify(bad[i])} → ${g}`);
    });
    const ok = await create(valid.map((v) => ({ broker: "/broker", crossTab: false, [key]: v })));
    assert.deepEqual(ok, valid.map(() => "created"), `${key}: every valid name is accepted`);
  }
});

test("absent options take the shipped defaults; retry.maxDelayMs absent follows a larger baseDelayMs", { skip }, async () => {
  const r = await suite.page.evaluate(async () => {
    const { createTokenManager } = await import("/pkg/mdh_token.js");
    const m = await createTokenManager({ broker: "/broker" });
    const t = await m.getToken();
    const st = m.status();
    m.destroy();
    return { st, expiresAt: t.expires_at };
  });
  assert.equal(r.st.storage, "memory");
  assert.deepEqual(r.st.crossTab, { broadcastChannel: true, webLocks: true });
  // renewBeforeSeconds: 120 by default (the token lives an hour).
  assert.ok(Math.abs(r.st.renewAt - (r.expiresAt - 120_000)) < 50, `renewAt ${r.st.renewAt}, expiresAt ${r.expiresAt}`);
  const got = await create([
    { broker: "/broker", crossTab: false, retry: { baseDelayMs: 40_000 } },
    { broker: "/broker", crossTab: false, retry: { baseDelayMs: 100, maxDelayMs: 400 } },
    { broker: "/broker", crossTab: false, retry: { maxDelayMs: 400 } },
    { broker: "/broker", crossTab: false, retry: { baseDelayMs: 2000, maxDelayMs: 1000 } },
  ]);
  assert.deepEqual(got.slice(0, 2), ["created", "created"]);
  for (const g of got.slice(2)) assert.match(g, /^TokenError:invalid_options:mdh-token: retry\.maxDelayMs must be a number from baseDelayMs/);
});
