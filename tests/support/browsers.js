// The one home of the browsers and WebDriver servers the tests and the bench use: where
// each program is (an environment variable, else PATH: never a path of one machine),
// the browsers' flags, and a W3C WebDriver session in each engine (selenium-webdriver
// talking to a driver we start ourselves, so Selenium Manager never runs and nothing is
// downloaded). Every tier and the bench import it (tier 2 through tests/web/run.mjs;
// tier 3 and the bench launch Chromium with launchChromium()).
//
//   node tests/support/browsers.js path NAME          absolute path of a program, or exit 1
//   node tests/support/browsers.js versions           the engines and drivers found, with versions
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

// Each program: the variable that overrides it, then the names looked for on PATH, and
// the Debian package (or crate) that brings it (scripts/setup.sh installs them).
const TOOLS = {
  chromium: { env: "CHROMIUM", names: ["chromium"], from: "apt-get install chromium" },
  chromedriver: { env: "CHROMEDRIVER", names: ["chromedriver"], from: "apt-get install chromium-driver" },
  firefox: { env: "FIREFOX", names: ["firefox-esr", "firefox"], from: "apt-get install firefox-esr" },
  geckodriver: { env: "GECKODRIVER", names: ["geckodriver"], from: "cargo install geckodriver" },
  webkitgtkdriver: { env: "WEBKIT_WEBDRIVER", names: ["WebKitWebDriver"], from: "apt-get install webkit2gtk-driver" },
  wpedriver: { env: "WPE_WEBDRIVER", names: ["WPEWebDriver"], from: "apt-get install wpewebkit-driver" },
  cog: { env: "COG", names: ["cog"], from: "apt-get install cog" },
  xvfb: { env: "XVFB", names: ["Xvfb"], from: "apt-get install xvfb" },
};

// `cargo install` puts geckodriver in $CARGO_HOME/bin, which a non-login shell may not
// have on PATH.
const cargoBin = path.join(process.env.CARGO_HOME ?? path.join(os.homedir(), ".cargo"), "bin");

/** Absolute path of a program of TOOLS, or null. */
export function find(name) {
  const tool = TOOLS[name];
  if (!tool) throw new Error(`unknown program ${name}`);
  const override = process.env[tool.env];
  if (override) return fs.existsSync(override) ? path.resolve(override) : null;
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter).filter(Boolean), cargoBin];
  for (const dir of dirs) {
    for (const n of tool.names) {
      const p = path.join(dir, n);
      try {
        fs.accessSync(p, fs.constants.X_OK);
        if (fs.statSync(p).isFile()) return path.resolve(p);
      } catch {}
    }
  }
  return null;
}

/** Like find(), but throws an error that says how to install it. */
export function need(name) {
  const p = find(name);
  if (p) return p;
  const t = TOOLS[name];
  throw new Error(`${t.names[0]} not found (set ${t.env} or put it on PATH; it comes from \`${t.from}\`, which scripts/setup.sh runs)`);
}

export const CHROMIUM_ARGS = [
  "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
  "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

/** Debian's Chromium for playwright-core's `executablePath`. */
export function chromiumExecutable() {
  return need("chromium");
}

/**
 * Debian's Chromium driven by playwright-core, with CHROMIUM_ARGS: the one way the
 * tests and the bench launch it. `options` adds playwright launch options (`timeout`).
 */
export async function launchChromium(options = {}) {
  const { chromium } = await import("playwright-core");
  return chromium.launch({ ...options, executablePath: chromiumExecutable(), args: CHROMIUM_ARGS });
}

/**
 * The engines of the cross-engine suite. `tabs`: whether the browser opens a second
 * tab over WebDriver (cog, WPE's browser, has one view only).
 */
export const ENGINES = {
  chromium: { label: "Chromium", tabs: true },
  firefox: { label: "Firefox ESR", tabs: true },
  webkitgtk: { label: "WebKitGTK", tabs: true },
  wpe: { label: "WPE WebKit", tabs: false },
};

/** Engines named in MDH_ENGINES (comma-separated), else all of them. */
export function selectedEngines() {
  const names = (process.env.MDH_ENGINES ?? Object.keys(ENGINES).join(",")).split(",").map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!ENGINES[n]) throw new Error(`MDH_ENGINES: unknown engine ${n} (known: ${Object.keys(ENGINES).join(", ")})`);
  return names;
}

/** The capabilities a new session in `engine` asks for. */
function capabilities(engine) {
  switch (engine) {
    case "chromium":
      return { browserName: "chrome", "goog:chromeOptions": { binary: need("chromium"), args: CHROMIUM_ARGS } };
    case "firefox":
      return {
        browserName: "firefox",
        "moz:firefoxOptions": {
          binary: need("firefox"),
          args: ["-headless"],
          // No update checks, telemetry or remote settings: nothing but loopback is reachable.
          prefs: {
            "app.update.disabledForTesting": true,
            "datareporting.policy.dataSubmissionEnabled": false,
            "toolkit.telemetry.reportingpolicy.firstRun": false,
            "network.dns.disableIPv6": true,
          },
        },
      };
    case "webkitgtk":
      // WebKitWebDriver starts WebKitGTK's MiniBrowser with --automation by itself;
      // MINIBROWSER points it at another build.
      return {
        browserName: "MiniBrowser",
        ...(process.env.MINIBROWSER ? { "webkitgtk:browserOptions": { binary: process.env.MINIBROWSER, args: ["--automation"] } } : {}),
      };
    case "wpe":
      // cog with its headless platform: no display, no GPU.
      return { browserName: "cog", "wpe:browserOptions": { binary: need("cog"), args: ["--automation", "--platform=headless"] } };
    default:
      throw new Error(`unknown engine ${engine}`);
  }
}

/** The driver program of an engine. */
function driverOf(engine) {
  return { chromium: "chromedriver", firefox: "geckodriver", webkitgtk: "webkitgtkdriver", wpe: "wpedriver" }[engine];
}

const children = new Set();
process.once("exit", () => { for (const c of children) c.kill("SIGKILL"); });

/**
 * An X server of our own for WebKitGTK: Xvfb picks a free display and writes its
 * number to the pipe given by -displayfd, so no display number is guessed.
 */
async function startXvfb() {
  const xvfb = spawn(need("xvfb"), ["-displayfd", "3", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"], {
    stdio: ["ignore", "ignore", "pipe", "pipe"],
  });
  children.add(xvfb);
  let err = "";
  xvfb.stderr.on("data", (d) => { err += d; });
  const display = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`Xvfb gave no display within 10 s: ${err}`)), 10_000);
    xvfb.stdio[3].on("data", (d) => {
      out += d;
      if (out.includes("\n")) { clearTimeout(timer); resolve(`:${out.trim()}`); }
    });
    xvfb.once("exit", (code) => { clearTimeout(timer); reject(new Error(`Xvfb exited (${code}): ${err}`)); });
  });
  return {
    display,
    stop() {
      children.delete(xvfb);
      xvfb.kill();
    },
  };
}

/**
 * A WebDriver session in `engine`: `{ driver, engine, browser, version, close() }`.
 * We start the driver on a free loopback port and hand its URL to selenium-webdriver's
 * Builder (`usingServer`), which then never looks for or downloads a driver itself.
 */
export async function openSession(engine) {
  // Selenium Manager must never run; this makes an accidental call fail instead of
  // downloading (the path does not exist).
  process.env.SE_MANAGER_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), "selenium-manager-is-not-used");
  const { Builder } = await import("selenium-webdriver");
  const { DriverService } = await import("selenium-webdriver/remote/index.js");
  const { findFreePort } = await import("selenium-webdriver/net/portprober.js");
  const caps = capabilities(engine);
  const env = { ...process.env, NO_AT_BRIDGE: "1" };
  const xvfb = engine === "webkitgtk" ? await startXvfb() : null;
  if (xvfb) env.DISPLAY = xvfb.display;
  const port = await findFreePort();
  const args = engine === "chromium" || engine === "firefox" ? [`--port=${port}`, ...(engine === "firefox" ? ["--host=127.0.0.1"] : [])] : [`--port=${port}`];
  const service = new DriverService(need(driverOf(engine)), { port, args, loopback: true, env, stdio: "ignore" });
  let driver = null;
  try {
    const url = await service.start(30_000);
    driver = await new Builder().usingServer(url).disableEnvironmentOverrides().withCapabilities(caps).build();
    const got = await driver.getCapabilities();
    return {
      driver,
      engine,
      browser: got.get("browserName"),
      version: got.get("browserVersion"),
      async close() {
        try { await driver.quit(); } finally {
          await service.kill();
          xvfb?.stop();
        }
      },
    };
  } catch (e) {
    if (driver) await driver.quit().catch(() => {});
    await service.kill();
    xvfb?.stop();
    throw e;
  }
}

/** Versions of what was found, read from the programs themselves. */
export function versions() {
  const run = (name, args) => {
    const p = find(name);
    if (!p) return `${name}: not found`;
    try {
      return execFileSync(p, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 20_000 }).split("\n")[0].trim();
    } catch (e) {
      return `${name}: ${e.message.split("\n")[0]}`;
    }
  };
  const dpkg = (pkg) => {
    try {
      return `${pkg} ${execFileSync("dpkg-query", ["-W", "-f=${Version}", pkg], { encoding: "utf8" })}`;
    } catch {
      return `${pkg}: not installed`;
    }
  };
  return [
    run("chromium", ["--version"]), run("chromedriver", ["--version"]).replace(/ \(.*/, ""),
    run("firefox", ["--version"]), run("geckodriver", ["--version"]),
    dpkg("webkit2gtk-driver"), dpkg("libwebkit2gtk-4.1-0"),
    dpkg("wpewebkit-driver"), `cog ${run("cog", ["--version"])}`,
  ];
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [cmd, name] = process.argv.slice(2);
  try {
    if (cmd === "path") console.log(need(name));
    else if (cmd === "versions") console.log(versions().join("\n"));
    else throw new Error("usage: node tests/support/browsers.js path NAME | versions");
  } catch (e) {
    console.error(`browsers.js: ${e.message}`);
    process.exit(1);
  }
}
