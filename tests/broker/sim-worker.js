// One worker of the fleet simulation: runs the seeds it is given, reports totals or the
// first violation (tests/broker/sim.test.js spreads the seeds over the machine's cores).
import { parentPort, workerData } from "node:worker_threads";
import { runSeed } from "./sim-world.js";

const { from, to, opts } = workerData;
const totals = { seeds: 0, steps: 0, answers: 0, served: 0, upstream: 0 };
let failure = null;
for (let seed = from; seed < to && !failure; seed++) {
  try {
    const w = await runSeed(seed, opts);
    totals.seeds++;
    totals.steps += w.steps;
    totals.answers += w.stats.answers;
    totals.served += w.stats.served;
    totals.upstream += w.stats.upstream;
  } catch (err) {
    failure = { seed, message: err.message, violation: err.name === "Violation", stack: err.stack };
  }
}
parentPort.postMessage({ totals, failure });
