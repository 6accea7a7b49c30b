// The broker fleet simulation (tests/broker/sim-world.js) over many seeds, and focused runs
// for each fault the fleet must survive. `MDH_BROKER_SIM_SEEDS=n` runs n seeds (default
// 10,000); `MDH_BROKER_SIM_SEED=s` replays one seed, `MDH_BROKER_SIM_TRACE=1` prints its steps.
import { test } from "node:test";
import assert from "node:assert/strict";
import os from "node:os";
import { Worker } from "node:worker_threads";
import { runSeed, scenario, TAMPER_KINDS } from "./sim-world.js";

const env = (name) => process.env[name];
const REPLAY = "node --test tests/broker/sim.test.js";

/** Runs `seeds`; the first violation fails the test with the command that replays it. */
async function many(name, seeds, opts = {}) {
  const only = env("MDH_BROKER_SIM_SEED");
  const list = only !== undefined ? [Number(only)] : seeds;
  const trace = only !== undefined && !!env("MDH_BROKER_SIM_TRACE");
  const totals = { seeds: 0, steps: 0, answers: 0, served: 0, upstream: 0 };
  const started = performance.now();
  for (const seed of list) {
    let w;
    try {
      w = await runSeed(seed, { ...opts, trace });
    } catch (err) {
      if (trace && err.world) console.log(err.world.lines.join("\n"));
      const sc = JSON.stringify({ ...scenario(seed), ...(opts.scenario ?? {}) });
      assert.fail(`${name}: seed ${seed} failed: ${err.message}\n  scenario ${sc}\n  replay: MDH_BROKER_SIM_SEED=${seed} MDH_BROKER_SIM_TRACE=1 ${REPLAY} --test-name-pattern=${JSON.stringify(name)}\n${err.name === "Violation" ? "" : err.stack}`);
    }
    if (trace) console.log(w.lines.join("\n"));
    totals.seeds++;
    totals.steps += w.steps;
    totals.answers += w.stats.answers;
    totals.served += w.stats.served;
    totals.upstream += w.stats.upstream;
  }
  const s = (performance.now() - started) / 1000;
  console.log(`# ${name}: ${totals.seeds} seeds in ${s.toFixed(1)} s (${Math.round(totals.seeds / s)} seeds/s): ${totals.steps} steps, ${totals.answers} page answers (${totals.served} tokens), ${totals.upstream} upstream calls`);
  return totals;
}

const range = (from, n) => Array.from({ length: n }, (_, i) => from + i);
const SEEDS = Number(env("MDH_BROKER_SIM_SEEDS") ?? 10_000);

/** `n` seeds spread over worker threads, one per core (a replay runs in this thread). */
async function parallel(name, n) {
  if (env("MDH_BROKER_SIM_SEED") !== undefined) return many(name, []);
  const workers = Math.max(1, Math.min(os.availableParallelism(), 8, Math.ceil(n / 500)));
  const started = performance.now();
  const parts = await Promise.all(
    Array.from({ length: workers }, (_, i) => {
      const from = Math.floor((i * n) / workers);
      const to = Math.floor(((i + 1) * n) / workers);
      return new Promise((resolve, reject) => {
        const w = new Worker(new URL("./sim-worker.js", import.meta.url), { workerData: { from, to, opts: {} } });
        w.once("message", resolve);
        w.once("error", reject);
      });
    }),
  );
  const failed = parts.map((p) => p.failure).filter(Boolean).sort((a, b) => a.seed - b.seed)[0];
  if (failed) {
    const sc = JSON.stringify(scenario(failed.seed));
    assert.fail(`${name}: seed ${failed.seed} failed: ${failed.message}\n  scenario ${sc}\n  replay: MDH_BROKER_SIM_SEED=${failed.seed} MDH_BROKER_SIM_TRACE=1 ${REPLAY} --test-name-pattern=${JSON.stringify(name)}\n${failed.violation ? "" : failed.stack}`);
  }
  const t = parts.reduce((a, p) => Object.fromEntries(Object.keys(a).map((k) => [k, a[k] + p.totals[k]])), { seeds: 0, steps: 0, answers: 0, served: 0, upstream: 0 });
  const s = (performance.now() - started) / 1000;
  console.log(`# ${name}: ${t.seeds} seeds in ${s.toFixed(1)} s on ${workers} thread(s) (${Math.round(t.seeds / s)} seeds/s): ${t.steps} steps, ${t.answers} page answers (${t.served} tokens), ${t.upstream} upstream calls`);
}

test("fleet simulation: every invariant holds on every seed", async () => {
  await parallel("fleet simulation", SEEDS);
});

// Focused runs: one fault each, on worlds made to meet it often. A fault-free world
// except for what the name says.
const CALM = {
  redisErrors: 0, redisStalls: 0, redisRestarts: 0, tamper: 0, outages: 0, slowWindows: 0, flaky: 0,
  shortLifetimes: false, withdrawn: 0, revoke: false, crashes: 0, oddIds: false, hangingHost: false,
};
const focused = (tag, name, scenarioPatch, n = 100, opts = {}) =>
  test(name, async () => {
    await many(name, range(1_000_000, n), { scenario: { ...CALM, duration: 60_000, ...scenarioPatch }, ...opts });
  });

focused("failure-memory", "failure memory: no participant is called again within its failure window, fleet-wide", {
  instances: 3, participants: 2, pagesEach: 2, flaky: 0.4, forcedP: 0.3, lifetimeS: 20, rateLimit: undefined,
});
focused("error-reply", "a Redis error reply is an error for that command: the lock is released, nobody waits past the page's timeout", {
  instances: 3, participants: 3, pagesEach: 2, tamper: 3, tamperKinds: ["rate-garbage"], forcedP: 0.3, lifetimeS: 20,
  rateLimit: { max: 5, windowMs: 10_000 },
});
focused("outage", "an upstream outage with Retry-After: a handful of upstream calls per Retry-After fleet-wide", {
  instances: 2, participants: 6, pagesEach: 2, outages: 2, lifetimeS: 20, rateLimit: undefined,
});
focused("revoked", "a revoked service token is replaced; only a withdrawn participant gets 403", {
  instances: 3, participants: 4, pagesEach: 2, revoke: true, withdrawn: 1, lifetimeS: 20, serviceLifetimeS: 3600, duration: 120_000,
});
focused("store-contents", "what Redis holds never crashes or misleads an instance", {
  instances: 3, participants: 3, pagesEach: 2, tamper: 6, lifetimeS: 60, forcedP: 0.3,
  tamperKinds: TAMPER_KINDS.filter((k) => k !== "lock-forever"), // with the deadline, below
});
focused("deadline", "every page request is answered within the page's timeout: a hanging host, a stalled store, a crashed lock holder", {
  instances: 3, participants: 3, pagesEach: 2, hangingHost: true, redisStalls: 2, crashes: 2, lifetimeS: 20, slowWindows: 1,
  tamper: 2, tamperKinds: ["lock-forever"],
});
focused("limits", "participant ids the page accepts, and upstream lifetimes it would refuse", {
  instances: 2, participants: 4, pagesEach: 1, oddIds: true, shortLifetimes: true, lifetimeS: 20,
});

test("the simulation is deterministic: a seed run twice, after others, gives the same trace", async () => {
  const patch = { ...CALM, oddIds: true, flaky: 0.2, tamper: 2, crashes: 1, redisStalls: 1, duration: 30_000 };
  const trace = async (seed) => {
    try {
      return (await runSeed(seed, { scenario: patch, trace: true })).lines.join("\n");
    } catch (err) {
      return `${err.world?.lines.join("\n")}\n${err.message}`;
    }
  };
  const first = [];
  for (let seed = 0; seed < 10; seed++) first.push(await trace(seed));
  for (let seed = 9; seed >= 0; seed--) assert.equal(await trace(seed), first[seed], `seed ${seed}`);
  assert.ok(first.every((t) => t.split("\n").length > 20), "the traces have something in them");
});
