// The typed boundary of createTokenManager's options: options.js
// checks types and ranges, the wasm reads the result by name once, takes what is absent
// from the shipped defaults (Config::default); the named ones reach it as the index of
// their variant. No value is
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

// Each name reaches the wasm as its variant: what that variant does is seen here.
test("each storage, credentials and logLevel name takes effect as that name (the index options.js hands over is the variant's)", { skip }, async () => {
  const storage = await suite.page.evaluate(async () => {
    const { createTokenManager } = await import("/pkg/mdh_token.js");
    const out = {};
    for (const storage of ["memory", "session", "local"]) {
      const m = await createTokenManager({ broker: "/broker", crossTab: false, storage, storageKey: "named-" + storage });
      await m.getToken();
      out[storage] = [m.status().storage, localStorage.getItem("named-" + storage) !== null, sessionStorage.getItem("named-" + storage) !== null];
      m.clear();
      m.destroy();
    }
    return out;
  });
  assert.deepEqual(storage, { memory: ["memory", false, false], session: ["session", false, true], local: ["local", true, false] });

  const before = suite.server.state.calls.length;
  await suite.page.evaluate(async () => {
    const { createTokenManager } = await import("/pkg/mdh_token.js");
    document.cookie = "named=1; path=/";
    try {
      for (const credentials of ["same-origin", "include", "omit"]) {
        const m = await createTokenManager({ broker: "/broker", crossTab: false, credentials });
        await m.getToken();
        m.destroy();
      }
    } finally {
      document.cookie = "named=; path=/; max-age=0";
    }
  });
  const cookies = suite.server.state.calls.slice(before).map((c) => c.headers.cookie ?? null);
  assert.deepEqual(cookies, ["named=1", "named=1", null], "same-origin and include send the page's cookie; omit does not");

  const logged = await suite.page.evaluate(async () => {
    const { createTokenManager } = await import("/pkg/mdh_token.js");
    const out = {}, seen = [], methods = ["error", "warn", "info", "debug"];
    const saved = methods.map((k) => console[k]);
    methods.forEach((k) => (console[k] = () => seen.push(k)));
    try {
      for (const logLevel of ["silent", "error", "warn", "info", "debug"]) {
        seen.length = 0;
        let calls = 0;
        const broker = () => (calls++ === 0 ? Promise.reject(new Error("down")) : fetch("/broker", { method: "POST" }).then((r) => r.json()));
        const m = await createTokenManager({ broker, crossTab: false, logLevel, retry: { maxAttempts: 1 } });
        m.on("error", () => { throw new Error("a listener"); }); // error: a listener threw
        await m.getToken().catch(() => {}); // warn: renewal failed
        await m.refresh(); // info: a new token; debug: calling the broker
        m.destroy();
        out[logLevel] = [...new Set(seen)].sort().join(",");
      }
    } finally {
      methods.forEach((k, i) => (console[k] = saved[i]));
    }
    return out;
  });
  assert.deepEqual(logged, { silent: "", error: "error", warn: "error,warn", info: "error,info,warn", debug: "debug,error,info,warn" });
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
