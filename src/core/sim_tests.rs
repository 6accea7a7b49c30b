//! A deterministic multi-tab simulation, in the spirit of tokio-rs/turmoil: N [`Tab`]s
//! share a simulated Web Lock manager, BroadcastChannel, storage and broker on one
//! virtual clock. A seeded scheduler delays and reorders deliveries (per sender FIFO,
//! as BroadcastChannel keeps), fires timers late, and — in faulty runs — drops
//! messages, kills tabs (also while they hold the lock with a request in flight), opens
//! new ones, and makes the broker slow, failing or refusing. The invariants are checked
//! after every step.
//!
//! `MDH_SIM_SEEDS=n` runs n seeds (default 10,000); `MDH_SIM_SEED=s` replays one seed
//! (a failure prints it); `MDH_SIM_TRACE=1` prints the replayed seed's steps.

use super::fixtures::{S, WALL0};
use super::lifecycle::CLEAR_GRACE_MS;
use super::*;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

/// splitmix64: the scheduler's randomness, from the seed alone.
struct R(u64);

impl R {
    fn u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.unit()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.u64() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// How one seed's world behaves.
#[derive(Clone, Debug)]
struct Scenario {
    tabs: usize,
    lifetime_s: f64,
    renew_before_s: f64,
    storage: Storage,
    /// Two participants share the computer (and the storage key).
    two_people: bool,
    /// Faults: drops, kills, a failing or slow broker, very late timers.
    faulty: bool,
    /// Without Web Locks (an old browser), or with locks the browser refuses (an
    /// opaque-origin sandboxed frame), or without `navigator.locks.query()` to list
    /// the peers: best effort only.
    no_locks: bool,
    refused: bool,
    unlisted: bool,
    /// Tabs' Web Storage starts throwing mid-session (quota, a page's wrapper around
    /// `setItem`): not a fault, the exact invariants still hold.
    breaking: bool,
    duration: f64,
}

impl Scenario {
    /// No faults, Web Locks, one participant: the exact invariants hold. (Two
    /// participants evict each other's tabs by design: a `Hello` clears.)
    fn strict(&self) -> bool {
        !self.faulty && !self.no_locks && !self.two_people && !self.refused && !self.unlisted
    }

    fn pick(r: &mut R) -> Scenario {
        let short = r.chance(0.5);
        Scenario {
            tabs: 1 + r.below(6),
            lifetime_s: if short {
                14.0
            } else {
                r.range(6.0, 120.0).floor()
            },
            renew_before_s: if short {
                2.0
            } else {
                r.range(1.0, 60.0).floor()
            },
            storage: [
                Storage::Memory,
                Storage::Memory,
                Storage::Session,
                Storage::Local,
            ][r.below(4)],
            two_people: r.chance(0.15),
            faulty: r.chance(0.5),
            no_locks: r.chance(0.1),
            refused: r.chance(0.05),
            unlisted: r.chance(0.05),
            breaking: r.chance(0.3),
            duration: r.range(30.0, 120.0) * S,
        }
    }
}

#[derive(Clone, Debug)]
enum Ev {
    Timer(usize, u64),
    Deliver(usize, Incoming),
    Grant(usize, u64),
    Peers(usize, u64, Option<Vec<String>>),
    Refused(usize, u64),
    /// The device's wall clock moves by this much (sleep, a user setting it).
    Jump(f64),
    Reply(usize, u64, Reply),
    Get(usize),
    Refresh(usize),
    Clear(usize),
    Wake(usize),
    Kill(usize),
    /// The tab's storage throws from now on: its next write fails.
    Break(usize),
    Open,
}

/// An event at a virtual time; the heap pops the earliest (then the oldest).
struct At(f64, u64, Ev);
impl PartialEq for At {
    fn eq(&self, o: &Self) -> bool {
        self.0 == o.0 && self.1 == o.1
    }
}
impl Eq for At {}
impl PartialOrd for At {
    fn partial_cmp(&self, o: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for At {
    fn cmp(&self, o: &Self) -> core::cmp::Ordering {
        o.0.total_cmp(&self.0).then(o.1.cmp(&self.1))
    }
}

struct Sim {
    tab: Tab,
    who: usize,
    alive: bool,
    opened: f64,
    timer: u64,
    /// The attempt whose lock this tab holds.
    held: Option<u64>,
    /// Broker requests out: (id, sent under the lock).
    out: Vec<(u64, bool)>,
    /// Since when callers wait (`getToken()`/`refresh()` answered `Wait`).
    waiting: Option<f64>,
    /// Session storage of this tab.
    session: Option<StoredFields>,
    /// Writes to this tab's storage throw.
    broken: bool,
    /// The shell switched this tab to memory (after a write threw).
    memory: bool,
}

struct World {
    sc: Scenario,
    r: R,
    now: f64,
    seq: u64,
    q: BinaryHeap<At>,
    tabs: Vec<Sim>,
    /// The Web Lock manager, one lock per participant (the names carry it): the
    /// holder and the queue, FIFO.
    holder: [Option<(usize, u64)>; 2],
    queue: [VecDeque<(usize, u64)>; 2],
    /// Per (from, to) pair, the last delivery time: BroadcastChannel keeps order.
    fifo: BTreeMap<(usize, usize), f64>,
    local: Option<StoredFields>,
    issued: u64,
    calls: Vec<(f64, usize, Reason)>,
    /// The latest successful renewal per participant: (wall time, issued_at).
    /// (Strict runs, which check them, have no clock jumps.)
    renewed: [Option<(f64, f64)>; 2],
    /// The wall time of the latest clear per participant.
    cleared: [Option<f64>; 2],
    trace: bool,
    steps: u64,
    killed_in_flight: u64,
    wall_offset: f64,
}

fn person(who: usize) -> &'static str {
    ["alice", "bob"][who]
}

fn fields(t: &Token, who: usize) -> StoredFields {
    StoredFields {
        p: Field::Str(person(who).into()),
        v: Field::Num(STORE_VERSION),
        access_token: Field::Str(t.access.secret().into()),
        issued_at: Field::Num(t.issued_at),
        expires_at: Field::Num(t.expires_at),
    }
}

impl World {
    fn new(seed: u64) -> World {
        let mut r = R(seed);
        let sc = Scenario::pick(&mut r);
        let mut w = World {
            sc,
            r,
            now: 0.0,
            seq: 0,
            q: BinaryHeap::new(),
            tabs: Vec::new(),
            holder: [None, None],
            queue: [VecDeque::new(), VecDeque::new()],
            fifo: BTreeMap::new(),
            local: None,
            issued: 0,
            calls: Vec::new(),
            renewed: [None, None],
            cleared: [None, None],
            trace: false,
            steps: 0,
            killed_in_flight: 0,
            wall_offset: 0.0,
        };
        for _ in 0..w.sc.tabs {
            let at = w.r.range(0.0, 300.0);
            w.at(at, Ev::Open);
        }
        // The app asks now and then in each tab; faulty runs also refresh, clear,
        // kill and open tabs.
        let mut t = 0.0;
        while t < w.sc.duration {
            t += w.r.range(0.0, 4.0 * S);
            let k = w.r.below(64);
            let tab = w.r.below(w.sc.tabs + 2);
            let ev = match k {
                0 if w.sc.faulty => Ev::Kill(tab),
                8 if w.sc.faulty => {
                    let d = w.r.range(1.0, 7200.0) * S;
                    Ev::Jump(if w.r.chance(0.5) { d } else { -d })
                }
                1 if w.sc.faulty => Ev::Open,
                9 | 10 if w.sc.breaking => Ev::Break(tab),
                2 => Ev::Clear(tab),
                3 if w.sc.faulty => Ev::Refresh(tab),
                4..=7 => Ev::Wake(tab),
                _ => Ev::Get(tab),
            };
            w.at(t, ev);
        }
        w
    }

    fn at(&mut self, t: f64, ev: Ev) {
        self.seq += 1;
        self.q.push(At(t, self.seq, ev));
    }

    fn clock(&self) -> Now {
        Now {
            wall: WALL0 + self.now + self.wall_offset,
            mono: self.now,
        }
    }

    fn live(&self, i: usize) -> bool {
        self.tabs.get(i).is_some_and(|t| t.alive)
    }

    /// Message delivery delay: short when healthy; in faulty runs a long tail too.
    fn delay(&mut self) -> f64 {
        if self.sc.faulty && self.r.chance(0.05) {
            self.r.range(0.0, 3.0 * S)
        } else {
            self.r.range(0.0, 400.0)
        }
    }

    fn open(&mut self) {
        let who = if self.sc.two_people && self.r.chance(0.4) {
            1
        } else {
            0
        };
        let cfg = Config {
            identity: Some(person(who).into()),
            renew_before_ms: self.sc.renew_before_s * S,
            storage: self.sc.storage,
            timeout_ms: 5.0 * S,
            ..Config::default()
        };
        let locks = !self.sc.no_locks;
        let env = Env {
            channel: true,
            locks,
            presence: locks,
        };
        let seed = self.r.u64();
        let i = self.tabs.len();
        self.tabs.push(Sim {
            tab: Tab::new(cfg, env, seed),
            who,
            alive: true,
            opened: self.clock().wall,
            timer: 0,
            held: None,
            out: Vec::new(),
            waiting: None,
            session: None,
            broken: false,
            memory: false,
        });
        let stored = match self.sc.storage {
            Storage::Local => self.local.clone(),
            _ => None,
        };
        let now = self.clock();
        let restored = self.tabs[i].tab.restore(stored, now);
        if restored == Restored::Remove {
            self.local = None;
        }
        self.tabs[i].tab.start(now);
        let a = self.tabs[i].tab.get(now);
        self.answered(i, a);
        self.perform(i);
    }

    fn answered(&mut self, i: usize, a: Access) {
        let now = self.clock();
        match a {
            Access::Ready => {
                let t = &self.tabs[i].tab;
                let tok = t.life().usable(now).expect("Ready without a usable token");
                self.check_token(i, tok.clone());
            }
            Access::Wait => {
                let w = &mut self.tabs[i].waiting;
                w.get_or_insert(self.now);
            }
            Access::Fail(_) => {}
        }
    }

    /// A token handed out is the tab's participant's, not past its expiry nor under
    /// the floor.
    fn check_token(&self, i: usize, t: Token) {
        let now = self.clock();
        let floor = super::lifecycle::MIN_VALID_MS.min(t.lifetime() / 4.0);
        let who = self.tabs[i].who;
        assert!(
            t.access.secret().starts_with(person(who)),
            "tab {i} of {} handed out another participant's token",
            person(who)
        );
        assert!(
            t.remaining(now.wall, now.mono) >= floor,
            "tab {i} handed out a token with {} ms left (floor {floor})",
            t.remaining(now.wall, now.mono)
        );
    }

    /// Performs tab `i`'s actions as the browser shell would, then re-arms its timer.
    fn perform(&mut self, i: usize) {
        while let Some(a) = self.tabs[i].tab.poll() {
            if self.trace {
                std::println!("{:>9.1} tab {i}: {a:?}", self.now);
            }
            let now = self.clock();
            match a {
                Action::Lock(id) if self.sc.refused => {
                    let d = self.r.range(0.0, 5.0);
                    self.at(self.now + d, Ev::Refused(i, id));
                }
                Action::Lock(id) => {
                    let who = self.tabs[i].who;
                    self.queue[who].push_back((i, id));
                    self.grant(who);
                }
                Action::Unlock(id) => {
                    let who = self.tabs[i].who;
                    if self.holder[who] == Some((i, id)) {
                        self.tabs[i].held = None;
                        self.holder[who] = None;
                        self.grant(who);
                    }
                }
                Action::CountPeers(id) => {
                    let who = self.tabs[i].who;
                    let ids = (0..self.tabs.len())
                        .filter(|&j| j != i && self.live(j) && self.tabs[j].who == who)
                        .map(|j| j.to_string())
                        .collect();
                    let ids = (!self.sc.unlisted).then_some(ids);
                    let d = self.r.range(0.0, 30.0);
                    self.at(self.now + d, Ev::Peers(i, id, ids));
                }
                Action::ReadShared(id) => {
                    // A shell in memory reads nothing.
                    let f = self.local.clone().filter(|_| !self.tabs[i].memory);
                    self.tabs[i].tab.shared(id, f, now);
                }
                Action::Send(id, reason) => self.send(i, id, reason),
                Action::Abort(id) => {
                    let who = self.tabs[i].who;
                    self.queue[who].retain(|&q| q != (i, id));
                    if let Some(k) = self.tabs[i].out.iter().position(|o| o.0 == id) {
                        self.tabs[i].out.remove(k);
                        // The aborted fetch rejects.
                        let d = self.r.range(0.0, 5.0);
                        self.at(self.now + d, Ev::Reply(i, id, Reply::Network));
                    }
                }
                Action::Post(m) => self.post(i, m),
                Action::Persist => {
                    let t = self.tabs[i].tab.life().token(now).cloned();
                    let who = self.tabs[i].who;
                    let entry = t.map(|t| fields(&t, who));
                    if self.tabs[i].memory {
                        continue;
                    }
                    if self.tabs[i].broken && entry.is_some() {
                        // As the shell: the write throws, the entry is removed (which
                        // still works when the quota is full), memory from now on.
                        match self.sc.storage {
                            Storage::Session => self.tabs[i].session = None,
                            _ => self.local = None,
                        }
                        self.tabs[i].memory = true;
                        self.tabs[i].tab.storage_failed();
                        continue;
                    }
                    match self.sc.storage {
                        Storage::Memory => {}
                        Storage::Session => self.tabs[i].session = entry,
                        Storage::Local => {
                            // As `forget()`: never remove another participant's entry.
                            let ours = match &self.local {
                                Some(f) => f.p == Field::Str(person(who).into()),
                                None => true,
                            };
                            if entry.is_some() || ours {
                                self.local = entry;
                            }
                        }
                    }
                }
                Action::Settle(r) => {
                    if self.tabs[i].waiting.take().is_some() && r.is_ok() {
                        let tok = self.tabs[i].tab.life().usable(now).cloned();
                        let tok = tok.expect("settled Ok without a usable token");
                        self.check_token(i, tok);
                    }
                }
                Action::Emit(_) | Action::Log(..) => {}
            }
        }
        if let Some(d) = self.tabs[i].tab.poll_timeout(self.clock()) {
            assert!((0.0..=MAX_SLEEP_MS).contains(&d), "tab {i}: timer {d}");
            self.tabs[i].timer += 1;
            // Timers fire late: a busy machine, a background tab.
            let late = if self.sc.faulty && self.r.chance(0.1) {
                self.r.range(0.0, 1500.0)
            } else {
                self.r.range(0.0, 40.0)
            };
            let gen = self.tabs[i].timer;
            self.at(self.now + d.ceil() + 1.0 + late, Ev::Timer(i, gen));
        }
    }

    /// The lock manager grants the next request when the lock is free.
    fn grant(&mut self, who: usize) {
        if self.holder[who].is_some() {
            return;
        }
        while let Some((j, id)) = self.queue[who].pop_front() {
            if !self.live(j) {
                continue;
            }
            self.holder[who] = Some((j, id));
            self.tabs[j].held = Some(id);
            let d = self.r.range(0.0, 15.0);
            self.at(self.now + d, Ev::Grant(j, id));
            return;
        }
    }

    fn post(&mut self, i: usize, m: Msg) {
        let now = self.clock();
        let who = self.tabs[i].who;
        let entry = match m.kind {
            Kind::Token => self.tabs[i].tab.life().token(now).map(|t| fields(t, who)),
            _ => None,
        };
        let msg = Incoming {
            kind: m.kind,
            p: Field::Str(person(who).into()),
            entry,
            nonce: m.nonce,
            from: Some(i.to_string()),
        };
        for j in 0..self.tabs.len() {
            if j == i || !self.live(j) {
                continue;
            }
            if self.sc.faulty && self.r.chance(0.03) {
                continue; // dropped
            }
            let d = self.delay();
            let last = self.fifo.get(&(i, j)).copied().unwrap_or(0.0);
            let t = (self.now + d).max(last);
            self.fifo.insert((i, j), t);
            self.at(t, Ev::Deliver(j, msg.clone()));
        }
    }

    fn send(&mut self, i: usize, id: u64, reason: Reason) {
        let locked = self.tabs[i].held.is_some();
        let who = self.tabs[i].who;
        // Single flight: while the lock holds, no other live tab of the same
        // participant has a request out that it sent under the lock.
        if locked {
            for (j, t) in self.tabs.iter().enumerate() {
                if j != i && t.alive && t.who == who {
                    assert!(
                        !t.out.iter().any(|o| o.1),
                        "tab {i} sent under the lock while tab {j} had a request out"
                    );
                }
            }
        }
        // No redundant call: with no faults, when a tab sends (not for refresh()), no
        // live tab of its participant holds a fresher token than it does.
        if self.sc.strict() && reason != Reason::Forced {
            let now = self.clock();
            let mine = self.tabs[i]
                .tab
                .life()
                .token(now)
                .map_or(0.0, |t| t.issued_at);
            for (j, t) in self.tabs.iter().enumerate() {
                if j == i || !t.alive || t.who != who {
                    continue;
                }
                if let Some(tok) = t.tab.life().usable(now) {
                    if self.tainted(who, tok) {
                        continue; // refused by the others as issued around a clear
                    }
                    let window = (self.sc.renew_before_s * S).min(tok.lifetime() / 2.0);
                    assert!(
                        tok.issued_at <= mine || tok.remaining(now.wall, now.mono) <= window,
                        "tab {i} called the broker ({reason:?}) while tab {j} held a fresh token"
                    );
                }
            }
        }
        self.calls.push((self.now, i, reason));
        self.tabs[i].out.push((id, locked));
        let (latency, reply) = self.broker(who);
        self.at(self.now + latency, Ev::Reply(i, id, reply));
        if self.sc.faulty && locked && self.r.chance(0.1) {
            // Killed while it holds the lock with its request in flight.
            let at = self.now + self.r.range(0.0, latency);
            self.at(at, Ev::Kill(i));
            self.killed_in_flight += 1;
        }
    }

    fn broker(&mut self, who: usize) -> (f64, Reply) {
        let mut latency = self.r.range(5.0, 400.0);
        if self.sc.faulty {
            let k = self.r.unit();
            if k < 0.05 {
                latency = self.r.range(4.0 * S, 8.0 * S); // past timeoutMs sometimes
            } else if k < 0.12 {
                return (latency, Reply::Network);
            } else if k < 0.18 {
                let status = [500, 503, 429][self.r.below(3)];
                let retry_after = None;
                return (
                    latency,
                    Reply::Status {
                        status,
                        retry_after,
                    },
                );
            } else if k < 0.19 {
                let retry_after = None;
                return (
                    latency,
                    Reply::Status {
                        status: 401,
                        retry_after,
                    },
                );
            }
        }
        self.issued += 1;
        let tok = format!("{}{}", person(who), self.issued);
        let fields = ResponseFields {
            access_token: Field::Str(tok),
            token_type: Field::Str("Bearer".into()),
            expires_in: Field::Num(self.sc.lifetime_s),
        };
        let reply = Reply::Body {
            status: 200,
            fields: Some(fields),
        };
        (latency, reply)
    }

    /// Issued before or just after the participant's last clear (as a tab that heard of
    /// it late counts): other tabs may refuse it.
    fn tainted(&self, who: usize, t: &Token) -> bool {
        let heard = 400.0; // the longest healthy delivery
        self.cleared[who].is_some_and(|c| t.issued_at <= c + heard + CLEAR_GRACE_MS)
    }

    fn kill(&mut self, i: usize) {
        if !self.live(i) {
            return;
        }
        // A killed tab's locks go; its request may still reach the broker.
        self.tabs[i].alive = false;
        let who = self.tabs[i].who;
        self.queue[who].retain(|q| q.0 != i);
        if self.holder[who].is_some_and(|h| h.0 == i) {
            self.holder[who] = None;
            self.grant(who);
        }
    }

    fn step(&mut self) -> bool {
        let Some(At(t, _, ev)) = self.q.pop() else {
            return false;
        };
        if t > self.sc.duration + 60.0 * S {
            return false;
        }
        self.now = self.now.max(t);
        let now = self.clock();
        if self.trace {
            std::println!("{:>9.1} {ev:?}", self.now);
        }
        let i = match &ev {
            Ev::Timer(i, _)
            | Ev::Deliver(i, _)
            | Ev::Grant(i, _)
            | Ev::Peers(i, _, _)
            | Ev::Reply(i, _, _)
            | Ev::Get(i)
            | Ev::Refresh(i)
            | Ev::Clear(i)
            | Ev::Wake(i)
            | Ev::Refused(i, _)
            | Ev::Break(i)
            | Ev::Kill(i) => *i,
            Ev::Open => {
                self.open();
                return true;
            }
            Ev::Jump(d) => {
                self.wall_offset += d;
                return true;
            }
        };
        if !self.live(i) {
            return true;
        }
        let who = self.tabs[i].who;
        match ev {
            Ev::Timer(_, gen) => {
                if gen != self.tabs[i].timer {
                    return true;
                }
                self.tabs[i].tab.handle_timeout(now);
            }
            Ev::Deliver(_, m) => self.tabs[i].tab.message(m, now),
            Ev::Grant(_, id) => self.tabs[i].tab.lock_granted(id, now),
            Ev::Peers(_, id, ids) => self.tabs[i].tab.peers(id, ids, now),
            Ev::Refused(_, id) => self.tabs[i].tab.lock_refused(id, now),
            Ev::Reply(_, id, reply) => {
                let before = self.tabs[i].tab.life().token(now).map(|t| t.issued_at);
                self.tabs[i].out.retain(|o| o.0 != id);
                self.tabs[i].tab.reply(id, now, reply);
                let after = self.tabs[i].tab.life().token(now).map(|t| t.issued_at);
                if let Some(at) = after.filter(|a| Some(*a) != before) {
                    self.renewed[who] = Some((now.wall, at));
                }
            }
            Ev::Get(_) => {
                let a = self.tabs[i].tab.get(now);
                self.answered(i, a);
            }
            Ev::Refresh(_) => {
                let a = self.tabs[i].tab.refresh(now);
                self.answered(i, a);
            }
            Ev::Clear(_) => {
                self.tabs[i].tab.clear(now);
                self.cleared[who] = Some(now.wall);
            }
            Ev::Wake(_) => self.tabs[i].tab.wake(now),
            Ev::Kill(_) => {
                self.kill(i);
                return true;
            }
            Ev::Break(_) => {
                self.tabs[i].broken = self.sc.storage != Storage::Memory;
                return true;
            }
            Ev::Open | Ev::Jump(_) => unreachable!(),
        }
        self.perform(i);
        true
    }

    /// Checked after every step.
    fn invariants(&self) {
        let now = self.clock();
        for (i, t) in self.tabs.iter().enumerate().filter(|(_, t)| t.alive) {
            // Never another participant's token, never a usable one past its floor.
            if let Some(tok) = t.tab.life().token(now) {
                assert!(tok.access.secret().starts_with(person(t.who)), "tab {i}");
            }
            // Never wedged: callers waiting are answered within a bound (five
            // attempts, their backoff and timeouts, lock waits).
            if let Some(since) = t.waiting {
                assert!(
                    self.now - since < 400.0 * S,
                    "tab {i}: callers wait since {since} (now {})",
                    self.now
                );
            }
            if !self.sc.strict() {
                continue;
            }
            // With no faults, within a bound of a renewal every live tab of that
            // participant holds it (or a newer token), unless a clear came after.
            let bound = 2.0 * S;
            if let Some((at, issued)) = self.renewed[t.who] {
                let cleared = self.cleared[t.who].is_some_and(|c| c >= at - bound - CLEAR_GRACE_MS);
                if now.wall > at + bound && t.opened < at && !cleared {
                    let has = t.tab.life().token(now).map(|k| k.issued_at);
                    assert!(
                        has.is_some_and(|h| h >= issued),
                        "tab {i} lacks the renewal of {at} (has {has:?})"
                    );
                }
            }
            // And a clear reaches every live tab of its participant.
            if let Some(c) = self.cleared[t.who] {
                if now.wall > c + bound && t.opened < c {
                    let stale = t.tab.life().token(now).is_some_and(|k| k.issued_at <= c);
                    assert!(!stale, "tab {i} kept a token cleared at {c}");
                }
            }
        }
    }
}

fn run(seed: u64, trace: bool) -> World {
    let mut w = World::new(seed);
    w.trace = trace;
    while w.step() {
        w.invariants();
        w.steps += 1;
        assert!(w.steps < 200_000, "no progress");
    }
    w
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn many_tabs_on_many_seeds_keep_every_invariant() {
    if let Some(seed) = env_u64("MDH_SIM_SEED") {
        run(seed, std::env::var("MDH_SIM_TRACE").is_ok());
        return;
    }
    let n = env_u64("MDH_SIM_SEEDS").unwrap_or(10_000);
    let (mut steps, mut calls, mut killed) = (0, 0, 0);
    for seed in 0..n {
        let ok = std::panic::catch_unwind(|| run(seed, false));
        if let Ok(w) = &ok {
            steps += w.steps;
            calls += w.calls.len();
            killed += w.killed_in_flight;
        }
        if ok.is_err() {
            let sc = Scenario::pick(&mut R(seed));
            panic!(
                "seed {seed} failed ({sc:?}); replay: MDH_SIM_SEED={seed} MDH_SIM_TRACE=1 cargo test --lib many_tabs -- --nocapture"
            );
        }
    }
    std::eprintln!(
        "simulated {n} seeds: {steps} steps, {calls} broker calls, {killed} tabs killed holding the lock mid-request"
    );
}

/// The outside report: 5 tabs × 3 renewals (memory, crossTab, 14 s tokens,
/// renewBeforeSeconds 2) on a loaded machine made 5 broker calls instead of 4. With
/// deliveries up to 400 ms late, every seed must make one call per renewal.
#[test]
fn five_tabs_three_renewals_make_four_calls() {
    for seed in 0..300u64 {
        let ok = std::panic::catch_unwind(|| five_tabs(seed));
        assert!(ok.is_ok(), "seed {seed} of the five-tab scenario failed");
    }
}

fn five_tabs(seed: u64) {
    {
        let mut w = World::new(seed);
        w.sc = Scenario {
            tabs: 5,
            lifetime_s: 14.0,
            renew_before_s: 2.0,
            storage: Storage::Memory,
            two_people: false,
            faulty: false,
            no_locks: false,
            refused: false,
            unlisted: false,
            breaking: false,
            duration: 0.0,
        };
        // Only the five tabs, opened together; nobody calls getToken() again.
        w.q.clear();
        for _ in 0..5 {
            let at = w.r.range(0.0, 50.0);
            w.at(at, Ev::Open);
        }
        let end = 3.0 * 12.0 * S + 6.0 * S;
        while w.q.peek().is_some_and(|a| a.0 <= end) {
            w.step();
            w.invariants();
        }
        let calls: Vec<String> = w.calls.iter().map(|c| format!("{:.0}", c.0)).collect();
        assert_eq!(
            w.calls.len(),
            4,
            "seed {seed}: calls at {}",
            calls.join(", ")
        );
    }
}

#[test]
fn a_stored_value_that_is_no_object_is_removed_and_a_newer_format_left_alone() {
    let mut t = Tab::new(Config::default(), Env::default(), 1);
    let now = Now {
        wall: WALL0,
        mono: 0.0,
    };
    assert_eq!(t.restore(None, now), Restored::Nothing);
    assert_eq!(
        t.restore(Some(StoredFields::CORRUPT), now),
        Restored::Remove
    );
    let mut newer = StoredFields::CORRUPT;
    newer.v = Field::Num(STORE_VERSION + 1.0);
    assert_eq!(t.restore(Some(newer), now), Restored::Newer);
    let mut t = Tab::new(Config::default(), Env::default(), 1);
    let f = StoredFields {
        p: Field::Missing,
        v: Field::Num(STORE_VERSION),
        access_token: Field::Str("ok".into()),
        issued_at: Field::Num(WALL0 - 1000.0),
        expires_at: Field::Num(WALL0 + 3_600_000.0),
    };
    assert_eq!(t.restore(Some(f), now), Restored::Adopted);
    assert!(t.life().usable(now).is_some());
}
