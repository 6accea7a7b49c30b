// Shortens the wasm's import and export names (`__wbg_fetch_cfb8829dbac84a02`,
// `wasm_bindgen__convert__closures_____invoke__h…`, module "./mdh_token_bg.js"), which
// are long, hashed and so poorly compressible, and rewrites the wasm-bindgen glue to
// match. binaryen's wasm-opt renames and prints the mapping; this script applies it to
// pkg/mdh_token.js and checks that nothing was missed (the build fails if it was).
//
// usage: node scripts/minify-names.mjs <wasm-opt> <pkg dir> [wasm-opt feature flags…]
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const [wasmOpt, dir, ...features] = process.argv.slice(2);
const wasmPath = path.join(dir, "mdh_token_bg.wasm");
const jsPath = path.join(dir, "mdh_token.js");
const fail = (msg) => {
  console.error(`minify-names: ${msg}`);
  process.exit(1);
};

const out = execFileSync(
  wasmOpt,
  [...features, "--minify-imports-and-exports-and-modules", wasmPath, "-o", wasmPath],
  { encoding: "utf8" },
);
if (out.indexOf("{") < 0) fail("wasm-opt printed no name mapping");
const map = JSON.parse(out.slice(out.indexOf("{")));
if (!map.imports?.length || !map.exports?.length) fail("the name mapping lists no imports or no exports");
const wasmImports = WebAssembly.Module.imports(new WebAssembly.Module(fs.readFileSync(wasmPath)));
const mod = [...new Set(wasmImports.map((i) => i.module))];
if (mod.length !== 1) fail(`expected one import module, got ${mod.join(", ")}`);

let js = fs.readFileSync(jsPath, "utf8");
const count = (s) => js.split(s).length - 1;

// The import object: `const import0 = { __proto__: null, __wbg_x_hash: function… }` for
// the glue's own functions, `"./snippets/…/inline0.js": importN` (a namespace import)
// for the inline JS snippets.
const ret = /return \{\s*__proto__: null,\s*((?:"[^"]+": import\d+,\s*)+)\};/.exec(js);
if (!ret) fail("import object not found");
const namespaces = {};
for (const m of ret[1].matchAll(/"([^"]+)": (import\d+)/g)) namespaces[m[1]] ??= m[2];
const own = namespaces["./mdh_token_bg.js"];
if (!own) fail("no ./mdh_token_bg.js imports");
const extra = [];
for (const [module, name, short] of map.imports) {
  if (module === "./mdh_token_bg.js") {
    const key = `\n        ${name}: function(`;
    if (count(key) !== 1) fail(`import ${name} found ${count(key)} times`);
    js = js.replace(key, `\n        ${short}: function(`);
  } else {
    if (!namespaces[module]) fail(`unknown import module ${module}`);
    extra.push(`${JSON.stringify(short)}: ${namespaces[module]}.${name}`);
  }
}
js = js.replace(ret[0], `return { ${JSON.stringify(mod[0])}: Object.assign(${own}, { ${extra.join(", ")} }) };`);

// Exports are read as `wasm.name`.
const exports = new Map(map.exports);
js = js.replace(/\bwasm\.([A-Za-z_$][\w$]*)/g, (all, name) => {
  if (!exports.has(name)) fail(`glue reads unknown export wasm.${name}`);
  return `wasm.${exports.get(name)}`;
});
// Nothing may still use an old name (as an import key or an export read).
for (const [, name] of map.imports) if (js.includes(`${name}: function(`)) fail(`import ${name} left in the glue`);
if (/\bwasm\[/.test(js)) fail("the glue reads exports by computed name");
// Every import the renamed wasm asks for is one the glue now provides.
const provided = new Set(map.imports.map(([, , short]) => short));
for (const i of wasmImports) {
  if (!provided.has(i.name)) fail(`the wasm imports ${i.name}, which the mapping does not name`);
  if (!js.includes(`\n        ${i.name}: function(`) && !js.includes(`${JSON.stringify(i.name)}: `)) fail(`the glue provides no import ${i.name}`);
}
fs.writeFileSync(jsPath, js);
