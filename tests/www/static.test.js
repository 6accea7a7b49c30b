// Static serving: the demo page and its CSP, the built package with the right MIME types,
// MyDataHelps.js from node_modules, and no way out of any served folder.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ADA, serve, signIn, rawGet } from "./helpers.js";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CONTRACT_CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'";
const SECRET = "SECRET-MARKER-3b1f";

/**
 * A fake repo root holding a "built package" as scripts/build.sh leaves it
 * (pkg/mdh_token.js, pkg/mdh_token_bg.wasm, pkg/.stamp; no pkg/snippets/: the build bundles
 * them), plus files that must not be served, so these tests do not need the real build.
 * `pkg/nested/` stands for any folder under pkg/: served, but no way out of it.
 */
function fakeRepo(t) {
  const root = mkdtempSync(path.join(tmpdir(), "mdh-token-www-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(path.join(root, "pkg", "nested"), { recursive: true });
  writeFileSync(path.join(root, "pkg", "mdh_token.js"), "export const x = 1;\n");
  writeFileSync(path.join(root, "pkg", "mdh_token_bg.wasm"), Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
  writeFileSync(path.join(root, "pkg", ".stamp"), `${SECRET}\n`);
  writeFileSync(path.join(root, "pkg", "nested", "inline0.js"), "export const y = 2;\n");
  writeFileSync(path.join(root, "pkg", "mdh_token.d.ts"), `// ${SECRET}\n`);
  writeFileSync(path.join(root, "pkg", ".hidden.js"), `// ${SECRET}\n`);
  writeFileSync(path.join(root, "package.json"), JSON.stringify({ secret: SECRET }));
  writeFileSync(path.join(root, "secret.js"), `// ${SECRET}\n`);
  symlinkSync(path.join(REPO, "node_modules"), path.join(root, "node_modules"), "dir");
  return root;
}

test("the demo page needs a session and carries the strict CSP", async (t) => {
  const { app } = await serve(t);
  const anonymous = await fetch(app.url, { redirect: "manual" });
  assert.equal(anonymous.status, 303);
  assert.equal(anonymous.headers.get("location"), "/signin");

  const cookie = await signIn(app, ADA);
  const res = await fetch(app.url, { headers: { Cookie: cookie } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/html/);
  const csp = res.headers.get("content-security-policy");
  assert.ok(csp.startsWith(CONTRACT_CSP), csp);
  assert.ok(!csp.includes("unsafe-inline") && !/'unsafe-eval'/.test(csp), "nothing loosens the contract");
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  const html = await res.text();
  assert.match(html, /<script type="module" src="\/app.js"><\/script>/);
  assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/.test(html), "no inline script");
});

test("the sign-in page lists the emulated participants, escaped, under the same CSP", async (t) => {
  const { app } = await serve(t);
  const res = await fetch(new URL("/signin", app.url));
  assert.equal(res.status, 200);
  assert.ok(res.headers.get("content-security-policy").startsWith(CONTRACT_CSP));
  const html = await res.text();
  for (const name of ["Ada Park", "Ben Okafor", "Chloé Martin"]) assert.ok(html.includes(name), name);
  assert.equal((html.match(/name="participant"/g) ?? []).length, 3);
  assert.match(html, /<form method="post" action="\/signin">/);
});

test("public assets are served with their types", async (t) => {
  const { app } = await serve(t);
  for (const [file, type] of [["/app.js", /^text\/javascript/], ["/style.css", /^text\/css/], ["/favicon.svg", /^image\/svg\+xml/]]) {
    const res = await fetch(new URL(file, app.url));
    assert.equal(res.status, 200, file);
    assert.match(res.headers.get("content-type"), type, file);
  }
  assert.equal((await fetch(new URL("/nope.js", app.url))).status, 404);
});

test("the built package is served under /mdh-token/ with correct MIME types", async (t) => {
  const { app } = await serve(t, { repoRoot: fakeRepo(t) });
  const expect = {
    "/mdh-token/pkg/mdh_token.js": /^text\/javascript/,
    "/mdh-token/pkg/mdh_token_bg.wasm": /^application\/wasm$/,
    "/mdh-token/pkg/nested/inline0.js": /^text\/javascript/,
  };
  for (const [url, type] of Object.entries(expect)) {
    const res = await fetch(new URL(url, app.url));
    assert.equal(res.status, 200, url);
    assert.match(res.headers.get("content-type"), type, url);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  }
  const wasm = Buffer.from(await (await fetch(new URL("/mdh-token/pkg/mdh_token_bg.wasm", app.url))).arrayBuffer());
  assert.equal(wasm.subarray(0, 4).toString("latin1"), "\0asm");
  const head = await fetch(new URL("/mdh-token/pkg/mdh_token.js", app.url), { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), "20");
});

test("MyDataHelps.js is served from node_modules; nothing else from that package", async (t) => {
  const { app } = await serve(t);
  const res = await fetch(new URL("/vendor/mydatahelps/MyDataHelps.js", app.url));
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/javascript/);
  assert.match(await res.text(), /window\.MyDataHelps = mdh;/);
  for (const other of ["package.json", "README.md", "types.d.ts", "assets/MyDataHelps-CJt5Kdo2.css"]) {
    assert.equal((await fetch(new URL(`/vendor/mydatahelps/${other}`, app.url))).status, 404, other);
  }
});

test("no path traversal out of any served folder", async (t) => {
  const { app } = await serve(t, { repoRoot: fakeRepo(t) });
  const attempts = [
    "/mdh-token/pkg/../package.json",
    "/mdh-token/pkg/../secret.js",
    "/mdh-token/pkg/%2e%2e/secret.js",
    "/mdh-token/pkg/%2E%2E%2Fsecret.js",
    "/mdh-token/pkg/..%2fsecret.js",
    "/mdh-token/pkg/..%5csecret.js",
    "/mdh-token/pkg/nested/..%2f..%2fsecret.js",
    "/mdh-token/pkg/.stamp",
    "/mdh-token/pkg/%2fetc%2fpasswd",
    "/mdh-token/pkg//etc/passwd",
    "/mdh-token/pkg/mdh_token.js%00.js",
    "/mdh-token/pkg/%E0%A4%A",
    "/mdh-token/pkg/.hidden.js",
    "/mdh-token/pkg/mdh_token.d.ts",
    "/mdh-token/../secret.js",
    "/mdh-token/%2e%2e/secret.js",
    "/vendor/mydatahelps/../../../../secret.js",
    "/vendor/mydatahelps/..%2f..%2f..%2f..%2fsecret.js",
    "/..%2fsecret.js",
    "/%2e%2e/%2e%2e/secret.js",
    "/%2e%2e/.keys/service-account.key.pem",
    "/..%2f.keys%2fservice-account.key.pem",
    "/.keys/service-account.key.pem",
    "//etc/passwd",
    "/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
  ];
  for (const p of attempts) {
    const res = await rawGet(app, p);
    assert.notEqual(res.status, 200, p);
    assert.ok(res.status >= 300 && res.status < 500, `${p}: ${res.status}`);
    assert.ok(!res.body.includes(SECRET) && !res.body.includes("root:") && !res.body.includes("PRIVATE KEY"), p);
  }
});

test("the session gate holds for every spelling of index.html", async (t) => {
  const { app } = await serve(t);
  for (const p of ["/index.html", "/%69ndex.html", "/index%2ehtml", "/%69ndex%2Ehtml"]) {
    const res = await fetch(new URL(p, app.url), { redirect: "manual" });
    assert.equal(res.status, 303, p);
    assert.equal(res.headers.get("location"), "/signin", p);
  }
});

test("sign-in and sign-out clear the browser's stored state (Clear-Site-Data)", async (t) => {
  const { app } = await serve(t);
  const res = await fetch(new URL("/signin", app.url), {
    method: "POST",
    redirect: "manual",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Origin: app.url, "Sec-Fetch-Site": "same-origin" },
    body: new URLSearchParams({ participant: ADA }).toString(),
  });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("clear-site-data"), '"storage"');
  const cookie = res.headers.get("set-cookie").split(";")[0];
  const out = await fetch(new URL("/api/signout", app.url), { method: "POST", headers: { Cookie: cookie, "X-Requested-With": "mdh-token" } });
  assert.equal(out.status, 204);
  assert.equal(out.headers.get("clear-site-data"), '"storage"');
});
