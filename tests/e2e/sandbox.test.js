// A sandboxed frame without allow-same-origin: Web Storage throws and Web Locks refuse
// (opaque origin). The package must still work there, with defaults (crossTab on) and
// "session" storage falling back to memory, not wedge.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { sharedBrowser, openPage, until, packageBuilt } from "./harness.js";

const skip = !packageBuilt() && "package not built: run npm run build";

const FRAME = `<!doctype html><meta charset="utf-8"><script type="module">
  const out = (v) => parent.postMessage({ sandbox: v }, "*");
  try {
    const { createTokenManager } = await import(new URL("/pkg/mdh_token.js", document.baseURI).href);
    const tm = await createTokenManager({
      storage: "session",
      broker: async () => ({ access_token: "sandboxed.token-123", token_type: "Bearer", expires_in: 3600 }),
    });
    const [a, b] = await Promise.all([tm.getToken(), tm.refresh()]);
    const st = tm.status();
    out({ ok: true, origin: String(self.origin), a: a.token_type, b: b.token_type, storage: st.storage, calls: st.brokerCalls,
      locks: st.crossTab.webLocks });
  } catch (e) { out({ ok: false, error: String(e && e.message || e) }); }
</script>`;

const suite = sharedBrowser({ before, after, assert, skip }, { routes: { "/sandboxed.html": { body: FRAME } } });

test("works in a sandboxed frame (opaque origin: storage throws, Web Locks refuse)", { skip }, async (t) => {
  const context = await suite.newContext(t);
  const page = await openPage(context, suite.server);
  await page.evaluate(() => {
    window.got = null;
    addEventListener("message", (e) => { if (e.data && e.data.sandbox) window.got = e.data.sandbox; });
    const f = document.createElement("iframe");
    f.sandbox = "allow-scripts";
    f.src = "/sandboxed.html";
    document.body.append(f);
  });
  const r = await until(() => page.evaluate(() => window.got), { what: "the sandboxed frame's answer" });
  assert.equal(r.ok, true, r.error);
  assert.equal(r.origin, "null", "the frame really has an opaque origin");
  assert.deepEqual([r.a, r.b, r.storage, r.calls], ["Bearer", "Bearer", "memory", 1], "refresh() joined the first call");
});
