// mdh-token as a host installs it: `npm pack` of this repository (the `files` list and
// `exports` exactly as published; no build: run scripts/build.sh first), unpacked into
// a test app's node_modules/mdh-token. The apps (tests/apps/*) then resolve `react`,
// `jose` and the rest from their own node_modules, as in a real install.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Unpacks the packed package into `${appDir}/node_modules/mdh-token`; returns that folder. */
export function installPacked(appDir) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mdh-token-pack-"));
  try {
    const out = execFileSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", tmp], { cwd: ROOT, encoding: "utf8" });
    const [{ filename }] = JSON.parse(out);
    const dest = path.join(appDir, "node_modules", "mdh-token");
    fs.rmSync(dest, { recursive: true, force: true });
    fs.mkdirSync(dest, { recursive: true });
    execFileSync("tar", ["-xzf", path.join(tmp, filename), "-C", dest, "--strip-components=1"]);
    return dest;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const app of process.argv.slice(2)) console.log(installPacked(path.resolve(app)));
}
