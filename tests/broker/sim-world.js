// A deterministic simulation of a broker fleet, in the spirit of tokio-rs/turmoil and of
// the browser half's src/core/sim_tests.rs: N broker instances (the real broker code, built
// by makeBroker with an injected runtime) share one simulated Redis and one simulated
// MyDataHelps on one virtual clock; pages with the browser package's renewal behaviour ask
// them through a load balancer. One seeded scheduler decides every latency, reordering,
// fault and crash, so a seed replays exactly. Invariants are checked after every step.
//
// Time is virtual: the broker's now/mono/sleep/timers come from the world, every Redis
// command and upstream call is answered by a scheduled event, and between two events the
// microtask queue is drained (one setImmediate), so the broker's async code runs to its next
// wait before the clock moves.
import { makeBroker } from "../../broker/broker.js";
import { redisStore } from "../../broker/store.js";

export const WALL0 = Date.UTC(2026, 0, 15, 9, 0, 0);
const S = 1000;
export const PAGE_TIMEOUT_MS = 10_000; // the browser package's default timeoutMs
const MIN_EXPIRES_IN = 2; // the browser package refuses less (src/core/token.rs)
const MAX_EXPIRES_IN = 30 * 24 * 3600;
const FAKE_PEM = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
const TOKEN_URL = "https://mdh.sim/identityserver/connect/token";

/** sfc32: the world's randomness, from the seed alone. */
export class Rng {
  constructor(seed) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.u32();
  }
  u32() {
    let { a, b, c, d } = this;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    Object.assign(this, { a, b, c, d });
    return t >>> 0;
  }
  unit() {
    return this.u32() / 4294967296;
  }
  range(a, b) {
    return a + (b - a) * this.unit();
  }
  below(n) {
    return Math.floor(this.unit() * n);
  }
  chance(p) {
    return this.unit() < p;
  }
  pick(list) {
    return list[this.below(list.length)];
  }
}

/** How one seed's world behaves: drawn from the seed before anything runs. */
export function scenario(seed) {
  const r = new Rng(seed ^ 0x5eed);
  const faulty = r.chance(0.7);
  const f = (p) => faulty && r.chance(p);
  const lifetimeS = r.pick([5, 20, 60, 300, 3600]);
  return {
    seed,
    instances: 1 + r.below(4),
    participants: 1 + r.below(6),
    pagesEach: 1 + r.below(2),
    lifetimeS,
    renewBeforeS: r.pick([2, 30, 60]),
    serviceLifetimeS: r.pick([60, 300, 3600]),
    duration: Math.min(3 * lifetimeS, 400) * S + r.range(5, 30) * S,
    upLatencyMs: [r.range(2, 40), r.range(40, 600)],
    rateLimit: r.chance(0.2) ? { max: 1 + r.below(5), windowMs: 10_000 } : undefined,
    forcedP: r.pick([0, 0.05, 0.3]),
    // Redis faults
    redisLatencyMs: [r.range(0.1, 1), r.range(1, 8)],
    redisErrors: f(0.15) ? r.range(0.005, 0.05) : 0,
    redisStalls: f(0.2) ? 1 + r.below(3) : 0,
    redisRestarts: f(0.2) ? 1 + r.below(2) : 0,
    tamper: f(0.3) ? 1 + r.below(6) : 0,
    // Upstream faults
    outages: f(0.35) ? 1 + r.below(2) : 0,
    slowWindows: f(0.15) ? 1 : 0,
    flaky: f(0.25) ? r.range(0.02, 0.2) : 0,
    shortLifetimes: f(0.1),
    withdrawn: f(0.2) ? 1 : 0,
    revoke: f(0.2),
    // Instances and hosts
    crashes: f(0.25) ? 1 + r.below(2) : 0,
    oddIds: f(0.15),
    hangingHost: f(0.05),
  };
}

/** A min-heap of events by (at, seq). */
class Agenda {
  constructor() {
    this.h = [];
    this.seq = 0;
  }
  push(at, fn, label) {
    const e = { at, seq: this.seq++, fn, label, dead: false };
    const h = this.h;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p], h[i])) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
    return e;
  }
  pop() {
    const h = this.h;
    if (h.length === 0) return null;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && less(h[l], h[m])) m = l;
        if (r < h.length && less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}
const less = (x, y) => x.at < y.at || (x.at === y.at && x.seq < y.seq);

const flush = () => new Promise((resolve) => setImmediate(resolve));

class Violation extends Error {
  constructor(name, detail) {
    super(`${name}: ${detail}`);
    this.name = "Violation";
    this.invariant = name;
  }
}

export class World {
  constructor(seed, { trace = false, options = {}, scenario: patch = {} } = {}) {
    this.sc = { ...scenario(seed), ...patch };
    this.r = new Rng(seed);
    this.t = 0;
    this.agenda = new Agenda();
    this.trace = trace;
    this.lines = [];
    this.steps = 0;
    this.options = options;
    this.stats = { answers: 0, upstream: 0, served: 0 };
    this.redis = new SimRedis(this);
    this.mdh = new SimMdh(this);
    this.instances = [];
    this.pages = [];
    this.participantIds = [];
  }

  log(line) {
    if (this.trace) this.lines.push(`${(this.t / S).toFixed(3).padStart(9)} ${line}`);
  }

  at(delay, fn, label) {
    return this.agenda.push(this.t + Math.max(0, delay), fn, label);
  }

  fail(name, detail) {
    // The first violation wins, also when it is found in a promise callback.
    this.violation ??= new Violation(name, detail);
    throw this.violation;
  }

  /** The runtime an instance's broker gets: virtual clock, timers that die with it. */
  runtime(inst) {
    let ids = 0;
    return {
      now: () => WALL0 + this.t,
      mono: () => this.t,
      sleep: (ms) => new Promise((resolve) => this.at(ms, () => inst.alive && resolve(), "sleep")),
      setTimer: (fn, ms) => this.at(ms, () => inst.alive && fn(), "timer"),
      clearTimer: (e) => {
        if (e) e.dead = true;
      },
      randomId: () => `i${inst.index}.${inst.gen}.${++ids}`,
      // Not SHA-256, but 32 bytes that depend on every input byte, computed here and now.
      sha256: async (bytes) => {
        const out = new Uint8Array(32);
        let h = 0x811c9dc5;
        for (let i = 0; i < bytes.length; i++) {
          h = Math.imul(h ^ bytes[i], 0x01000193);
          out[i % 32] ^= h & 0xff;
        }
        for (let i = 0; i < 32; i++) out[i] ^= (h >>> (i % 24)) & 0xff;
        return out;
      },
    };
  }

  setup() {
    const { sc, r } = this;
    for (let p = 0; p < sc.participants; p++) {
      let id = `${hex(r, 8)}-${hex(r, 4)}-4${hex(r, 3)}-8${hex(r, 3)}-${hex(r, 12)}`;
      if (sc.oddIds && p % 2 === 1) {
        id = r.pick([
          `${"x".repeat(1020)}${String(p).padStart(4, "0")}`,
          `ada\uFFFD${"😀".repeat(p)}`,
          `name with spaces, % and : ${p}`,
          `${"é".repeat(300)}${p}`,
        ]);
      }
      this.participantIds.push(id);
    }
    if (sc.withdrawn) this.mdh.withdrawn.add(this.participantIds[sc.participants - 1]);
    for (let i = 0; i < sc.instances; i++) this.instances.push(this.startInstance(i, 0));
    for (let p = 0; p < sc.participants; p++) {
      for (let k = 0; k < sc.pagesEach; k++) {
        const page = new Page(this, this.pages.length, p);
        this.pages.push(page);
        this.at(r.range(0, 2 * S), () => page.ask("initial"), "page start");
      }
    }
    // Faults, each at a random time in the run.
    const when = () => r.range(0, sc.duration * 0.8);
    for (let k = 0; k < sc.redisStalls; k++) this.at(when(), () => this.redis.stall(r.range(0.2, 4) * S), "redis stall");
    for (let k = 0; k < sc.redisRestarts; k++) this.at(when(), () => this.redis.restart(r.range(0, 3) * S), "redis restart");
    for (let k = 0; k < sc.tamper; k++) this.at(when(), () => this.redis.tamper(), "tamper");
    for (let k = 0; k < sc.outages; k++) {
      const ra = r.chance(0.6) ? String(1 + r.below(8)) : null;
      const status = r.chance(0.8) ? 503 : 429;
      this.at(when(), () => this.mdh.outage(r.range(2, 15) * S, status, ra), "outage");
    }
    for (let k = 0; k < sc.slowWindows; k++) this.at(when(), () => this.mdh.slow(r.range(2, 12) * S), "slow upstream");
    if (sc.revoke) this.at(when(), () => this.mdh.revoke(), "revoke service tokens");
    for (let k = 0; k < sc.crashes; k++) this.at(when(), () => this.crash(r.below(sc.instances), r.range(0.5, 5) * S), "crash");
  }

  startInstance(index, gen) {
    const inst = { index, gen, alive: true, open: 0, requests: new Set() };
    const world = this;
    inst.broker = makeBroker(
      {
        tokenUrl: TOKEN_URL,
        serviceAccount: "RKStudio.sim",
        privateKey: FAKE_PEM,
        participant: (req) => this.host(inst, req),
        store: redisStore((args) => this.redis.command(inst, args), { prefix: "sim:" }),
        rateLimit: this.sc.rateLimit,
        // Web Crypto settles on its own threads, outside this simulation's scheduler, so the
        // simulated store holds plain records; sealing is tested in seal.test.js and
        // operators.test.js (a real Redis).
        seal: false,
        log: (line) => this.log(`  i${index} ${line}`),
        ...this.options,
      },
      {
        runtime: this.runtime(inst),
        credentials: { key: Promise.resolve(null), namespace: Promise.resolve("ns"), assertion: async () => "sim-assertion" },
        fetch: (url, init) => world.mdh.fetch(inst, init),
      },
    );
    return inst;
  }

  /** The host's participant(): its session lookup. A hanging host never settles. */
  host(inst, req) {
    const id = req.headers.get("x-sim-participant");
    if (this.sc.hangingHost && this.r.chance(0.05)) return new Promise(() => {});
    return id;
  }

  crash(i, downFor) {
    const inst = this.instances[i];
    if (!inst.alive) return;
    this.log(`CRASH instance ${i} (back in ${(downFor / S).toFixed(1)} s)`);
    inst.alive = false;
    for (const req of inst.requests) req.onCrash();
    inst.requests.clear();
    this.mdh.orphan(inst);
    this.at(downFor, () => {
      this.instances[i] = this.startInstance(i, inst.gen + 1);
      this.log(`instance ${i} restarted`);
    }, "restart");
  }

  /** A live instance, as a load balancer would pick one; null when none is up. */
  balance() {
    const live = this.instances.filter((x) => x.alive);
    return live.length ? this.r.pick(live) : null;
  }

  async run() {
    this.setup();
    const end = this.sc.duration + 30 * S;
    for (;;) {
      const e = this.agenda.pop();
      if (!e) break;
      if (e.dead) continue;
      if (e.at > end) break;
      this.t = e.at;
      e.fn();
      await flush();
      if (this.violation) throw this.violation;
      this.steps++;
      this.invariants();
      if (this.steps > 300_000) this.fail("progress", "more than 300,000 steps");
    }
    this.final();
    return this;
  }

  /** Checked after every step. */
  invariants() {
    const cap = this.cap;
    for (const inst of this.instances) {
      if (cap !== undefined && inst.open > cap) this.fail("upstream-cap", `instance ${inst.index} has ${inst.open} upstream calls open (cap ${cap})`);
    }
    for (const page of this.pages) page.check();
    this.mdh.check();
    this.redis.check();
  }

  final() {
    this.mdh.final();
    // Every lock a live instance took was released by it (not left to its TTL), when the
    // store answered every command.
    if (!this.redis.clean) return;
    for (const [entry, at] of this.redis.held) {
      const [, holder] = entry.split("\n");
      const [, index, gen] = /^i(\d+)\.(\d+)\./.exec(holder) ?? [];
      const inst = this.instances[Number(index)];
      if (inst && inst.alive && inst.gen === Number(gen)) this.fail("lock-released", `a lock taken at ${(at / S).toFixed(3)} s by a live instance was never released (${entry.split("\n")[0].replace(/^sim:/, "")})`);
    }
  }
}

function hex(r, n) {
  let s = "";
  for (let i = 0; i < n; i++) s += "0123456789abcdef"[r.below(16)];
  return s;
}

// ---- pages ---------------------------------------------------------------------------

/** One page of the browser package: renews at expiry − min(renewBefore, life/2), retries with back-off. */
class Page {
  constructor(world, index, p) {
    this.w = world;
    this.index = index;
    this.p = p;
    this.id = world.participantIds[p];
    this.token = null; // { value, expiresAt }
    this.pending = null;
    this.stopped = false;
    this.failures = 0;
  }

  get name() {
    return `page${this.index}(p${this.p})`;
  }

  ask(reason) {
    const w = this.w;
    if (this.stopped || this.pending || w.t > w.sc.duration) return;
    if (reason !== "forced" && this.token && this.token.expiresAt <= WALL0 + w.t) reason = "expired";
    const inst = w.balance();
    if (!inst) {
      this.retry(1 * S, reason);
      return;
    }
    const sentAt = w.t;
    const req = { page: this, inst, sentAt, reason, done: false };
    this.pending = req;
    w.mdh.noteRequest(this.p, reason, sentAt);
    w.log(`${this.name} → i${inst.index} ${reason}`);
    req.onCrash = () => this.settle(req, { network: true });
    inst.requests.add(req);
    const body = JSON.stringify({ reason, participant: this.id });
    const headers = { "content-type": "application/json", "sec-fetch-site": "same-origin", "x-sim-participant": this.id };
    // respond() is what handle() and node() share; the checks below stand in for what
    // new Response() and writeHead() refuse (a status outside 200–599, CR/LF in a header).
    inst.broker
      .respond({
        method: "POST",
        header: (name) => headers[name] ?? null,
        selfOrigin: "https://app.sim",
        readBody: async () => body,
        subject: { headers: { get: (name) => headers[name] ?? null } },
      })
      .then(
        (out) => {
          if (!Number.isInteger(out.status) || out.status < 200 || out.status > 599) w.fail("no-crash", `${this.name}: status ${out.status} would make Response/writeHead throw`);
          for (const [k, v] of Object.entries(out.headers)) {
            if (/[\r\n\0]/.test(String(v))) w.fail("no-crash", `${this.name}: header ${k} has CR/LF/NUL: Response/writeHead would throw`);
          }
          const text = JSON.stringify(out.body);
          const get = (name) => out.headers[Object.keys(out.headers).find((k) => k.toLowerCase() === name) ?? ""] ?? null;
          // The answer travels back over the network: 0.2–2 ms.
          w.at(w.r.range(0.2, 2), () => {
            inst.requests.delete(req);
            if (inst.alive) this.settle(req, { status: out.status, headers: { get }, text });
          }, "answer");
        },
        (err) => {
          if (!inst.alive) return;
          w.fail("no-crash", `respond() rejected for ${this.name}: ${err?.name} ${err?.message}`);
        },
      )
      .catch(() => {}); // a violation: recorded by fail(), rethrown by run()
  }

  settle(req, answer) {
    const w = this.w;
    if (req.done) return;
    req.done = true;
    this.pending = null;
    const waited = w.t - req.sentAt;
    if (waited > PAGE_TIMEOUT_MS) w.fail("page-timeout", `${this.name} waited ${waited} ms for a ${req.reason} answer`);
    if (answer.network) {
      w.log(`${this.name} ← network error (instance crashed)`);
      this.retry(w.r.range(0.5, 2) * S, req.reason);
      return;
    }
    w.stats.answers++;
    const { status, text } = answer;
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      w.fail("answer-shape", `${this.name}: ${status} with a body that is not JSON`);
    }
    w.log(`${this.name} ← ${status} ${status === 200 ? `expires_in ${body.expires_in}` : body.error}${answer.headers.get("retry-after") ? ` (Retry-After ${answer.headers.get("retry-after")})` : ""}`);
    if (status === 200) {
      w.stats.served++;
      const owner = w.mdh.participantTokens.get(body.access_token);
      if (!owner) w.fail("own-participant", `${this.name} got a token MyDataHelps never issued`);
      if (owner.p !== this.p) w.fail("own-participant", `${this.name} got participant ${owner.p}'s token`);
      const e = body.expires_in;
      if (!Number.isInteger(e) || e < MIN_EXPIRES_IN || e > MAX_EXPIRES_IN) w.fail("page-acceptable", `${this.name} got expires_in ${e}, which the page refuses`);
      const left = (owner.expiresAt - (WALL0 + w.t)) / S;
      if (e > left + 1) w.fail("page-acceptable", `${this.name} got expires_in ${e} for a token with ${left.toFixed(1)} s left`);
      if (req.reason === "forced" || req.reason === "expired") {
        if (owner.issuedAt < req.sentAt || body.access_token === this.token?.value) w.fail("fresh-on-forced", `${this.name} asked ${req.reason} and got a token issued before it asked`);
      }
      this.failures = 0;
      // The page measures expiry from when it sent the request (errs short).
      this.token = { value: body.access_token, expiresAt: WALL0 + req.sentAt + e * S };
      const window = Math.max(Math.min(w.sc.renewBeforeS, e / 2), MIN_EXPIRES_IN) * S;
      let next = req.sentAt + e * S - window - w.t;
      let reason = "scheduled";
      if (w.r.chance(w.sc.forcedP)) {
        next = w.r.range(0, next);
        reason = "forced"; // an API call answered 401: the page forces a renewal
      }
      this.w.at(next, () => this.ask(reason), "renewal");
      return;
    }
    if (status === 500) w.fail("no-500", `${this.name} got 500 ${body.error}`);
    const code = body.error;
    if (status === 401 || status === 403) {
      // Final for the page: it drops its token and stops.
      const mdh = w.mdh;
      const legit = (code === "participant_not_allowed" && mdh.withdrawn.has(this.id)) || (code === "participant_unauthorized" && mdh.unauthorized.has(this.id));
      if (!legit && !mdh.documentedGap(this.p)) w.fail("innocent", `${this.name} got a final ${status} ${code}`);
      this.stopped = true;
      this.token = null;
      return;
    }
    const ra = Number(answer.headers.get("retry-after") ?? 0);
    this.failures++;
    const backoff = Math.min(30, 2 ** this.failures) * w.r.range(0.5, 1);
    this.retry(Math.max(ra, backoff) * S, req.reason);
  }

  retry(delay, reason) {
    this.w.at(delay, () => this.ask(reason === "initial" ? "initial" : reason), "retry");
  }

  /** The page-timeout invariant, checked after every step. */
  check() {
    const req = this.pending;
    if (req && !req.done && this.w.t - req.sentAt > PAGE_TIMEOUT_MS) {
      this.w.fail("page-timeout", `${this.name}: a ${req.reason} request unanswered after ${this.w.t - req.sentAt} ms (instance ${req.inst.index})`);
    }
  }
}

// ---- MyDataHelps ----------------------------------------------------------------------

class SimMdh {
  constructor(world) {
    this.w = world;
    this.serviceTokens = new Map(); // token → { issuedAt, expiresAt, revoked }
    this.participantTokens = new Map(); // token → { p, issuedAt, expiresAt }
    this.withdrawn = new Set();
    this.unauthorized = new Set();
    this.calls = []; // participant grants: { p, inst, start, end, outcome, window }
    this.serviceCalls = [];
    this.down = null; // { until, status, retryAfter, firstFailAt, calls }
    this.outages = [];
    this.slowUntil = -1;
    this.serial = 0;
    this.requests = new Map(); // p → [{ reason, at }]
  }

  noteRequest(p, reason, at) {
    if (!this.requests.has(p)) this.requests.set(p, []);
    this.requests.get(p).push({ reason, at });
  }

  outage(ms, status, retryAfter) {
    const w = this.w;
    w.log(`UPSTREAM DOWN for ${(ms / S).toFixed(1)} s: ${status}${retryAfter ? ` Retry-After ${retryAfter}` : ""}`);
    this.down = { from: w.t, until: w.t + ms, status, retryAfter, firstAnswerAt: null, starts: [] };
    this.outages.push(this.down);
  }

  slow(ms) {
    this.w.log(`UPSTREAM SLOW for ${(ms / S).toFixed(1)} s`);
    this.slowUntil = this.w.t + ms;
  }

  /** MyDataHelps revokes every service token it issued so far (a restart, a key rotation). */
  revoke() {
    const w = this.w;
    let n = 0;
    for (const [, s] of this.serviceTokens) {
      if (!s.revoked) {
        s.revoked = true;
        n++;
      }
    }
    w.log(`UPSTREAM REVOKED ${n} service token(s)`);
  }

  /**
   * The documented gap (docs/operators.md): a service token revoked younger than 30 s, on
   * an instance that replaced one in the last 30 s (or waited on the fleet's replacement),
   * is not replaced again: its participants are refused until either is 30 s old.
   */
  documentedGap(p) {
    // The refusal is remembered for 2 s fleet-wide like any failure: any instance's will do.
    const t = this.w.t;
    return this.calls.some((c) => {
      if (c.p !== p || c.outcome !== "svc_refused" || c.end <= t - 2.5 * S) return false;
      const svc = this.serviceTokens.get(c.service);
      if (!svc || c.start - svc.issuedAt >= 30 * S) return false;
      // The instance's replacement may have been another's grant it waited on: any will do.
      return this.serviceCalls.some((g) => g.start > c.start - 30 * S && g.start <= c.start);
    });
  }

  orphan(inst) {
    for (const c of [...this.calls, ...this.serviceCalls]) if (c.inst === inst && c.end === null) c.orphan = true;
  }

  fetch(inst, init) {
    const w = this.w;
    const r = w.r;
    const form = new URLSearchParams(init.body);
    const grant = form.get("grant_type");
    const pid = form.get("participant_id");
    const p = w.participantIds.indexOf(pid);
    const call = { p, inst, start: w.t, end: null, outcome: null, window: 0, service: form.get("token") };
    (grant === "client_credentials" ? this.serviceCalls : this.calls).push(call);
    w.stats.upstream++;
    inst.open++;
    if (this.down && w.t < this.down.until) this.down.starts.push(w.t);
    const slow = w.t < this.slowUntil;
    const latency = slow ? r.range(3, 25) * S : r.chance(0.1) ? r.range(...w.sc.upLatencyMs) : r.range(1, w.sc.upLatencyMs[0]);
    w.log(`  i${inst.index} → MDH ${grant}${p >= 0 ? ` p${p}` : ""}`);
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (outcome) => {
        settled = true;
        inst.open--;
        call.end = w.t;
        call.outcome = outcome;
      };
      init.signal?.addEventListener("abort", () => {
        if (settled) return;
        finish("timeout");
        call.window = 2 * S;
        w.log(`  i${inst.index} ✕ MDH ${grant}${p >= 0 ? ` p${p}` : ""} aborted`);
        reject(new DOMException("aborted", "AbortError"));
      });
      w.at(latency, () => {
        if (settled || !inst.alive) {
          if (!settled) finish("orphan");
          return;
        }
        const answer = this.answer(grant, form, p, call);
        finish(answer.outcome);
        call.window = answer.window ?? 0;
        if (this.down && call.start >= this.down.from && call.start < this.down.until && this.down.firstAnswerAt === null && answer.outcome === "down") this.down.firstAnswerAt = w.t;
        w.log(`  i${inst.index} ← MDH ${grant}${p >= 0 ? ` p${p}` : ""}: ${answer.status} ${answer.outcome}`);
        resolve(fakeResponse(answer));
      }, "upstream answer");
    });
  }

  /** What MyDataHelps answers now. */
  answer(grant, form, p, call) {
    const w = this.w;
    const r = w.r;
    const now = WALL0 + w.t;
    const json = (status, body, outcome, extra = {}) => ({ status, text: JSON.stringify(body), headers: {}, outcome, ...extra });
    if (this.down && w.t < this.down.until) {
      const headers = this.down.retryAfter ? { "Retry-After": this.down.retryAfter } : {};
      const window = this.down.retryAfter ? Math.min(60, Number(this.down.retryAfter)) * S : 2 * S;
      return { status: this.down.status, text: '{"error":"unavailable"}', headers, outcome: "down", window };
    }
    const sc = w.sc;
    if (sc.flaky && r.chance(sc.flaky)) {
      const kind = r.pick(["500", "503", "503ra", "malformed", "html"]);
      if (kind === "500") return json(500, { error: "server_error" }, "error", { window: 2 * S });
      if (kind === "503") return json(503, { error: "unavailable" }, "error", { window: 2 * S });
      if (kind === "503ra") return { ...json(503, { error: "unavailable" }, "error"), headers: { "Retry-After": "3" }, window: 3 * S };
      if (kind === "malformed") return json(200, { access_token: "has space", expires_in: 60 }, "malformed", { window: 2 * S });
      return { status: 200, text: "<html>", headers: {}, outcome: "malformed", window: 2 * S };
    }
    if (grant === "client_credentials") {
      if (form.get("client_assertion") !== "sim-assertion") return json(400, { error: "invalid_client" }, "refused");
      const token = `svc${++this.serial}x${"S".repeat(20)}`;
      const life = sc.serviceLifetimeS;
      this.serviceTokens.set(token, { issuedAt: w.t, expiresAt: now + life * S, revoked: false });
      return json(200, { access_token: token, expires_in: life, token_type: "Bearer" }, "ok");
    }
    const svc = this.serviceTokens.get(form.get("token"));
    if (!svc || svc.revoked || svc.expiresAt <= now) return json(400, { error: "invalid_grant" }, "svc_refused");
    const pid = form.get("participant_id");
    // No window: the broker may retry with another service token, or be refused by its own
    // back-off before it concludes; its 403 memory is tested in broker.test.js.
    if (this.withdrawn.has(pid)) return json(400, { error: "invalid_grant" }, "withdrawn");
    let life = sc.lifetimeS;
    if (sc.shortLifetimes && r.chance(0.3)) life = r.pick([0.001, 0.5, 1, 1.9]);
    const token = `p${p}t${++this.serial}x${"A".repeat(20)}`;
    this.participantTokens.set(token, { p, issuedAt: w.t, expiresAt: now + life * S });
    return json(200, { access_token: token, expires_in: life, token_type: "Bearer" }, "ok", life < MIN_EXPIRES_IN ? { window: 2 * S } : {});
  }

  /** Failure memory, fleet-wide (per instance while the store misbehaves), and outages. */
  check() {
    const w = this.w;
    const c = this.calls[this.calls.length - 1];
    if (!c || c.checked) return;
    c.checked = true;
    if (c.p < 0) return;
    const storeClean = w.redis.clean;
    let prev = null;
    for (let k = this.calls.length - 2; k >= 0; k--) {
      const q = this.calls[k];
      if (q.p !== c.p || q.end === null || q.orphan || (!storeClean && q.inst !== c.inst)) continue;
      if (!prev || q.end > prev.end) prev = q;
    }
    if (!prev || !prev.window) return;
    if (c.start > prev.end && c.start < prev.end + prev.window) {
      w.fail("failure-window", `p${c.p}: an upstream call on i${c.inst.index} ${c.start - prev.end} ms after i${prev.inst.index}'s failed one (${prev.outcome}, remembered ${prev.window} ms)`);
    }
  }

  final() {
    const w = this.w;
    // During an outage with Retry-After r: a handful of calls per r, whatever the number of participants.
    for (const o of this.outages) {
      if (!o.retryAfter || o.firstAnswerAt === null) continue;
      const r = Number(o.retryAfter) * S;
      const later = o.starts.filter((t) => t > o.firstAnswerAt + 50);
      const allowed = w.sc.instances * (Math.ceil((o.until - o.firstAnswerAt) / r) + 1);
      if (later.length > allowed) w.fail("outage-backoff", `${later.length} upstream calls during a ${((o.until - o.from) / S).toFixed(1)} s outage with Retry-After ${o.retryAfter} (at most ${allowed})`);
    }
    // Steady state: at most one participant call per half lifetime, unless the page forced one.
    if (!w.redis.clean || w.sc.tamper || w.sc.shortLifetimes) return;
    const ok = this.calls.filter((c) => c.outcome === "ok" && !c.orphan);
    for (let i = 0; i < ok.length; i++) {
      for (let j = i + 1; j < ok.length; j++) {
        const a = ok[i];
        const b = ok[j];
        if (a.p !== b.p) continue;
        if (b.start >= a.end + (w.sc.lifetimeS * S) / 2 - 6 * S) break;
        // A slow answer reaches the page with part of its life spent, and the page (which
        // measures from when it asked) renews it early: not steady state.
        if (a.end - a.start > 2 * S) break;
        const asked = (this.requests.get(a.p) ?? []).some((q) => (q.reason === "forced" || q.reason === "expired") && q.at > a.start && q.at <= b.start);
        if (!asked) w.fail("half-life", `p${a.p}: two successful upstream calls ${b.start - a.end} ms apart, lifetime ${w.sc.lifetimeS} s, none forced`);
        break;
      }
    }
  }
}

/** What fetch() resolves, as far as the broker reads it: status, headers.get, a body stream. */
function fakeResponse({ status, text, headers }) {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  let bytes = new TextEncoder().encode(text);
  return {
    status,
    headers: { get: (name) => lower[name.toLowerCase()] ?? null },
    body: {
      getReader: () => ({
        read: async () => {
          const value = bytes;
          bytes = null;
          return value ? { done: false, value } : { done: true, value: undefined };
        },
        cancel: async () => {},
      }),
    },
  };
}

// ---- Redis ---------------------------------------------------------------------------

const REMOVE_IF = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
const INCR_WINDOW =
  "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return {n, redis.call('PTTL', KEYS[1])}";

export const TAMPER_KINDS = ["swap", "garbage", "future", "decade", "fail-status", "fail-crlf", "lock-forever", "persist", "rate-garbage", "short"];

class ReplyError extends Error {
  get name() {
    return "ReplyError";
  }
}

/**
 * One Redis server. Each instance has one connection: commands on it execute and answer in
 * order (Redis pipelines per connection), connections race each other. Faults: error
 * replies, stalls (nothing answers, then everything at once), restarts (empty; commands
 * meanwhile fail), and tampering with what it holds.
 */
class SimRedis {
  constructor(world) {
    this.w = world;
    this.map = new Map(); // key → { v, exp } (exp null: no TTL)
    this.stalledUntil = -1;
    this.downUntil = -1;
    this.clean = true; // false once a fault touched it: invariants become per instance
    this.lockTtls = [];
    this.held = new Map(); // "key\nholder id" → when taken, until released (compare-and-delete)
  }

  live(key) {
    const e = this.map.get(key);
    if (e && e.exp !== null && e.exp <= this.w.t) {
      this.map.delete(key);
      return undefined;
    }
    return e;
  }

  command(inst, args) {
    const w = this.w;
    const r = w.r;
    const conn = (inst.conn ??= { last: 0 });
    return new Promise((resolve, reject) => {
      if (w.t < this.downUntil) {
        // Connection refused: fails fast.
        w.at(r.range(0.1, 1), () => inst.alive && reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })), "redis refused");
        return;
      }
      const [lo, hi] = w.sc.redisLatencyMs;
      let exec = w.t + (r.chance(0.05) ? r.range(lo, hi * 4) : r.range(lo, hi));
      if (exec < this.stalledUntil) exec = this.stalledUntil + r.range(0, 2);
      exec = Math.max(exec, conn.last); // per-connection order
      conn.last = exec;
      // Executed and answered in one step: the command is atomic at `exec`, and the
      // connection's replies keep its order.
      // A crashed instance's commands still run; nobody reads their replies.
      w.agenda.push(exec, () => {
        if (w.sc.redisErrors && r.chance(w.sc.redisErrors)) {
          this.clean = false;
          if (inst.alive) reject(new ReplyError("OOM command not allowed when used memory > 'maxmemory'."));
          return;
        }
        let reply;
        let error = null;
        try {
          reply = this.exec(args);
        } catch (err) {
          error = err;
        }
        if (!inst.alive) return;
        if (error) reject(error);
        else resolve(reply);
      }, "redis");
    });
  }

  exec(args) {
    const [cmd, ...rest] = args;
    const t = this.w.t;
    if (cmd === "GET") {
      const e = this.live(rest[0]);
      if (e && typeof e.v !== "string") throw new ReplyError("WRONGTYPE");
      return e ? e.v : null;
    }
    if (cmd === "SET") {
      const [key, value, ...opts] = rest;
      let px = null;
      let nx = false;
      for (let i = 0; i < opts.length; i++) {
        if (opts[i] === "NX") nx = true;
        else if (opts[i] === "PX") px = Number(opts[++i]);
        else throw new ReplyError("ERR syntax error");
      }
      if (px !== null && (!Number.isInteger(px) || px <= 0)) throw new ReplyError("ERR invalid expire time in 'set' command");
      if (nx && this.live(key)) return null;
      if (key.endsWith(":lock") || key.endsWith(":probe")) {
        this.lockTtls.push(px);
        this.held.set(`${key}\n${value}`, t);
      }
      this.map.set(key, { v: value, exp: px === null ? null : t + px });
      return "OK";
    }
    if (cmd === "EVAL") {
      const [script, , key, arg] = rest;
      if (script === REMOVE_IF) {
        const e = this.live(key);
        // Released by its holder, also when its TTL ended first (a flight of two upstream
        // calls can outlast it).
        this.held.delete(`${key}\n${arg}`);
        if (e && e.v === arg) {
          this.map.delete(key);
          return 1;
        }
        return 0;
      }
      if (script === INCR_WINDOW) {
        const e = this.live(key);
        if (e && !/^-?\d+$/.test(String(e.v))) throw new ReplyError("ERR value is not an integer or out of range");
        const n = e ? Number(e.v) + 1 : 1;
        if (e) e.v = String(n);
        else this.map.set(key, { v: "1", exp: null });
        const ent = this.map.get(key);
        if (n === 1) ent.exp = t + Number(arg);
        return [n, ent.exp === null ? -1 : Math.max(0, Math.round(ent.exp - t))];
      }
      throw new ReplyError("NOSCRIPT");
    }
    throw new ReplyError(`ERR unknown command '${cmd}'`);
  }

  stall(ms) {
    this.clean = false;
    this.w.log(`REDIS STALLS for ${(ms / S).toFixed(1)} s`);
    this.stalledUntil = this.w.t + ms;
  }

  restart(downMs) {
    this.clean = false;
    this.w.log(`REDIS RESTARTS EMPTY (down ${(downMs / S).toFixed(1)} s)`);
    this.map.clear();
    this.downUntil = this.w.t + downMs;
  }

  /** Someone with access to Redis writes what no broker wrote. */
  tamper() {
    const w = this.w;
    const r = w.r;
    const keys = [...this.map.keys()].filter((k) => this.live(k));
    const tokenKeys = keys.filter((k) => k.includes(":pt:") && !/:(lock|fail|rate)$/.test(k));
    const kind = r.pick(w.sc.tamperKinds ?? TAMPER_KINDS);
    const key = tokenKeys.length ? r.pick(tokenKeys) : null;
    w.log(`TAMPER ${kind}`);
    if (!key) return;
    const entry = this.map.get(key);
    let rec = null;
    try {
      rec = JSON.parse(entry.v);
    } catch {
      // not ours to read (sealed, or already garbage)
    }
    const set = (k, v, exp = entry.exp) => this.map.set(k, { v, exp });
    switch (kind) {
      case "swap": {
        // Another participant's entry under this key: must never reach this participant.
        const other = tokenKeys.find((k) => k !== key);
        if (other) set(key, this.map.get(other).v, this.map.get(other).exp);
        break;
      }
      case "garbage":
        set(key, r.pick(["{", "null", "[]", '{"kind":"participant_token"}', "x".repeat(100)]));
        break;
      case "future":
        if (rec) set(key, JSON.stringify({ ...rec, fetchedAt: WALL0 + w.t + 3600 * S }));
        break;
      case "decade":
        if (rec) set(key, JSON.stringify({ ...rec, expiresAt: WALL0 + w.t + 10 * 365 * 24 * 3600 * S, lifetimeMs: 10 * 365 * 24 * 3600 * S }), null);
        break;
      case "short":
        if (rec) set(key, JSON.stringify({ ...rec, expiresAt: WALL0 + w.t + 1_500 }));
        break;
      case "fail-status":
        set(`${key}:fail`, JSON.stringify({ kind: "failure", status: 999, code: "upstream_error" }), w.t + 5 * S);
        break;
      case "fail-crlf":
        set(`${key}:fail`, JSON.stringify({ kind: "failure", status: 503, code: "upstream_unavailable", retryAfter: "1\r\nSet-Cookie: x=y" }), w.t + 5 * S);
        break;
      case "lock-forever":
        set(`${key}:lock`, "someone", null);
        break;
      case "persist":
        entry.exp = null;
        break;
      case "rate-garbage":
        set(`${key}:rate`, "not-a-number", null);
        break;
      default:
        break;
    }
  }

  /** Locks the brokers take carry a TTL of at most the lock's (upstream timeout + 2 s). */
  check() {
    const ttl = this.w.lockTtlMs;
    for (const px of this.lockTtls) {
      if (px === null || px > ttl) this.w.fail("lock-ttl", `a lock was taken with PX ${px} (at most ${ttl})`);
    }
    this.lockTtls.length = 0;
  }
}

/** Runs one seed; resolves the world, or rejects with the Violation (world attached). */
export async function runSeed(seed, opts = {}) {
  const w = new World(seed, opts);
  w.lockTtlMs = 10_000;
  w.cap = opts.cap ?? 8; // the broker's default maxConcurrentUpstream
  try {
    await w.run();
  } catch (err) {
    err.world = w;
    throw err;
  }
  return w;
}
