//! One tab's whole renewal, sans-IO: the [`Lifecycle`] plus the cross-tab attempt
//! (lock → re-check → count peers → ask → send → reply), its deadlines, the channel
//! protocol and clock-jump detection. Every input carries `now`; the shell performs the
//! [`Action`]s it drains with [`Tab::poll`] and arms one timer for
//! [`Tab::poll_timeout`], then calls [`Tab::handle_timeout`] (after quinn-proto).
//!
//! Why an attempt asks before it sends: memory and session storage are per tab, so a
//! tab granted the lock cannot see whether the holder before it renewed. It counts its
//! peers (their presence locks) and asks them; a peer answers with its usable token or
//! "none". BroadcastChannel keeps each sender's messages in order, so the answer of the
//! tab that renewed arrives after its broadcast of the new token: waiting for every
//! counted peer (not a fixed quarter second, which a loaded machine overruns) is what
//! keeps N tabs at one broker call per renewal.
//!
//! Shared (local) storage is re-read first inside the lock: a fresh entry written by
//! the holder before saves the question. It can only say yes, though: an entry that is
//! not newer may be stale because a peer's storage threw and that peer renewed in
//! memory, so the attempt asks its peers then too. A tab whose own storage threw
//! ([`Tab::storage_failed`]) no longer reads it.

use super::backoff::Rng;
use super::config::{Level, Storage};
use super::error::TokenError;
use super::lifecycle::{Access, Config, Event, Lifecycle, Now, Output, Reason, Reply};
use super::token::{Field, StoredFields, STORE_VERSION};

use alloc::string::String;
use alloc::vec::Vec;

/// Wake at least this often: timers are throttled or frozen in background tabs and
/// the device may sleep (oidc-client-ts re-checks every 5 s for the same reason).
pub const MAX_SLEEP_MS: f64 = 30_000.0;
/// A wall-clock move this much larger or smaller than monotonic time is a jump.
pub const CLOCK_JUMP_MS: f64 = 2_000.0;
/// How long a tab waits for answers when it cannot count its peers (no Web Locks).
pub const PEER_WAIT_MS: f64 = 250.0;
/// How long a tab waits for the answers of the peers it counted: they all answer,
/// unless one is frozen or dying; a loaded machine may take far more than 250 ms.
pub const COUNTED_PEER_WAIT_MS: f64 = 2_000.0;
/// The warning when Web Storage throws (sandboxed frame, private mode, quota).
pub const STORAGE_UNAVAILABLE: &str =
    "storage is not available here (sandboxed frame, private mode or quota); keeping the token in memory";
/// How much longer than a holder's longest turn (peer wait + `timeoutMs`) a tab waits
/// for the cross-tab lock before it renews without it (a script may hold it for good).
pub const LOCK_GRACE_MS: f64 = 1_000.0;

/// What this tab can use to coordinate, as the shell found it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Env {
    /// A BroadcastChannel to the origin's other tabs is open.
    pub channel: bool,
    /// Web Locks serialize broker calls across tabs.
    pub locks: bool,
    /// This tab holds its presence lock, so its peers can be counted.
    pub presence: bool,
}

/// Kinds of channel message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    /// A manager of this participant started: other participants' tabs let go.
    Hello = 0,
    /// A token entry (a broadcast, or the answer to `Ask` when `nonce` is set).
    Token = 1,
    /// The answer to `Ask`: no usable token here.
    None = 2,
    /// The token was cleared (logout).
    Clear = 3,
    /// "Who has a token?"
    Ask = 4,
    /// Anything else (a newer version of this library).
    Unknown = 5,
}

impl Kind {
    /// The wire name (`t`).
    pub fn as_str(self) -> &'static str {
        ["hello", "token", "none", "clear", "ask", "?"][self as usize]
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Kind {
        match s {
            "hello" => Kind::Hello,
            "token" => Kind::Token,
            "none" => Kind::None,
            "clear" => Kind::Clear,
            "ask" => Kind::Ask,
            _ => Kind::Unknown,
        }
    }
}

/// A message to the other tabs. For `Token` the shell attaches the current token's
/// entry; every message carries this tab's participant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Msg {
    /// What it says.
    pub kind: Kind,
    /// The question it asks or answers.
    pub nonce: Option<f64>,
}

/// A message from another tab, as the shell decoded it.
#[derive(Clone, Debug, PartialEq)]
pub struct Incoming {
    /// What it says.
    pub kind: Kind,
    /// Its participant (`p`).
    pub p: Field,
    /// Its token entry (`e`), for `Token`.
    pub entry: Option<StoredFields>,
    /// Its question (`n`).
    pub nonce: Option<f64>,
    /// Its sender: the id in the sender's presence lock name (`s`), if it has one.
    pub from: Option<String>,
}

/// Work for the shell, performed in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Request the cross-tab Web Lock for attempt `id` (abortable with [`Action::Abort`]);
    /// report with [`Tab::lock_granted`] or [`Tab::lock_refused`].
    Lock(u64),
    /// Release the cross-tab lock held for attempt `id`.
    Unlock(u64),
    /// List the other live tabs of this participant (the ids in their presence lock
    /// names); report with [`Tab::peers`]. Every message this tab posts carries its own
    /// id as `s`.
    CountPeers(u64),
    /// Read the shared (local) storage entry now; report with [`Tab::shared`].
    ReadShared(u64),
    /// Send broker request `id`; report with [`Tab::reply`].
    Send(u64, Reason),
    /// Abort attempt `id`: its lock request and its broker request.
    Abort(u64),
    /// Post a message to the other tabs.
    Post(Msg),
    /// Write the current token to storage, or remove the entry when there is none.
    Persist,
    /// Give an event to the listeners.
    Emit(Event),
    /// Resolve every waiting caller with the current token, or reject them.
    Settle(Result<(), TokenError>),
    /// Log a fixed line (never token material).
    Log(Level, &'static str),
}

/// What [`Tab::restore`] found in storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restored {
    /// No entry.
    Nothing,
    /// A token of ours, adopted.
    Adopted,
    /// An entry of a newer format (another tab runs a newer version): left alone.
    Newer,
    /// A corrupt, foreign or expired entry: the shell removes it.
    Remove,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Stage {
    /// Waiting for the cross-tab lock.
    Locking,
    /// Reading shared storage (synchronous: the answer comes while the shell drains).
    Reading,
    /// Counting the peers.
    Counting,
    /// Waiting for the peers' answers to `nonce` (those counted are in `Tab::left`).
    Asking { nonce: f64, counted: bool },
    /// The broker request is out.
    Sending,
}

#[derive(Clone, Copy, Debug)]
struct Attempt {
    id: u64,
    reason: Reason,
    stage: Stage,
    /// Monotonic deadline of the stage.
    deadline: f64,
    /// The cross-tab lock is held.
    locked: bool,
}

/// One tab: the lifecycle and the cross-tab attempt.
#[derive(Debug)]
pub struct Tab {
    life: Lifecycle,
    env: Env,
    storage: Storage,
    timeout_ms: f64,
    attempt: Option<Attempt>,
    /// The counted peers yet to answer the question of the attempt.
    left: Vec<String>,
    /// The clock at the last timer or wake, to detect jumps.
    clock: Option<Now>,
    rng: Rng,
    out: Vec<Action>,
}

impl Tab {
    /// A tab with no token.
    pub fn new(cfg: Config, env: Env, seed: u64) -> Tab {
        let mut env = env;
        // Presence only counts peers that can be asked, and only under the lock.
        env.presence &= env.channel && env.locks;
        Tab {
            storage: cfg.storage,
            timeout_ms: cfg.timeout_ms,
            life: Lifecycle::new(cfg, seed),
            env,
            attempt: None,
            left: Vec::new(),
            clock: None,
            rng: Rng::new(seed ^ 0x9e37_79b9_7f4a_7c15),
            out: Vec::new(),
        }
    }

    /// The lifecycle, for what the shell reads (token, status, identity).
    pub fn life(&self) -> &Lifecycle {
        &self.life
    }

    /// What this tab coordinates with.
    pub fn env(&self) -> Env {
        self.env
    }

    /// Where the token is kept: the configured storage until it threw, then memory.
    pub fn storage(&self) -> Storage {
        self.storage
    }

    /// Web Storage threw (at start-up, or mid-session: quota, a revoked permission, a
    /// page's wrapper); the shell keeps the token in memory from now on, so attempts
    /// no longer read shared storage (a read that threw reports [`Tab::shared`] with
    /// nothing: the peers are asked). Warns once.
    pub fn storage_failed(&mut self) {
        if self.storage != Storage::Memory {
            self.storage = Storage::Memory;
            self.log(Level::Warn, STORAGE_UNAVAILABLE);
        }
    }

    /// The next piece of work for the shell.
    pub fn poll(&mut self) -> Option<Action> {
        (!self.out.is_empty()).then(|| self.out.remove(0))
    }

    /// Adopts the stored entry, if it is a usable one of ours, at start-up. `None`: no
    /// entry; a value that is not an object is [`StoredFields::CORRUPT`].
    pub fn restore(&mut self, fields: Option<StoredFields>, now: Now) -> Restored {
        let Some(f) = fields else {
            return Restored::Nothing;
        };
        let newer = matches!(f.v, Field::Num(v) if v > STORE_VERSION);
        let adopted = match self.life.entry(f, now) {
            Some(t) => self.life.restore(now, t),
            None => false,
        };
        self.pump(now);
        if adopted {
            self.log(Level::Info, "restored a token from storage");
            Restored::Adopted
        } else if newer {
            self.log(Level::Info, "ignoring a stored entry of a newer format");
            Restored::Newer
        } else {
            // Another participant's entry goes too: this tab now belongs to ours.
            self.log(
                Level::Info,
                "removed a corrupt, foreign or expired stored entry",
            );
            Restored::Remove
        }
    }

    /// After [`Tab::restore`]: a manager with a participant announces itself, so that the
    /// origin's tabs of another participant under the same key let go of their tokens.
    pub fn start(&mut self, now: Now) {
        if self.life.identity().is_some() {
            self.post(Kind::Hello, None);
        }
        self.clock = Some(now);
        self.pump(now);
    }

    /// `getToken()`; also the SDK's `tokenWillExpire` hint.
    pub fn get(&mut self, now: Now) -> Access {
        let a = self.life.get(now);
        self.pump(now);
        a
    }

    /// `refresh()`.
    pub fn refresh(&mut self, now: Now) -> Access {
        let a = self.life.refresh(now);
        self.pump(now);
        a
    }

    /// `clear()` in this tab.
    pub fn clear(&mut self, now: Now) {
        self.unsettle();
        self.life.clear(now, true);
        self.pump(now);
    }

    /// Drops a success for the waiting callers that is queued but not yet performed:
    /// the shell reads the token when it performs it, and the clear or destroy that
    /// follows takes that token; the callers get its rejection (queued after) instead.
    fn unsettle(&mut self) {
        self.keep_queued(|a| *a != Action::Settle(Ok(())));
    }

    /// Keeps the queued actions `keep` accepts (one copy of `retain` for both uses).
    fn keep_queued(&mut self, keep: fn(&Action) -> bool) {
        self.out.retain(keep);
    }

    /// Another participant signed in here (a `Hello` heard through this page's other
    /// managers): let go of the token unless `p` is ours.
    pub fn switched(&mut self, p: &Field, now: Now) {
        if self.life.is_ours(p) {
            return;
        }
        self.log(
            Level::Info,
            "another participant signed in here; letting go of the token",
        );
        self.unsettle();
        self.life.clear(now, false);
        self.pump(now);
    }

    /// `destroy()`.
    pub fn destroy(&mut self, now: Now) {
        // What is queued but not yet performed (a listener destroyed the manager
        // mid-drain): no more events, successes, requests or lock calls after it; the
        // storage write, messages, releases and aborts still go.
        self.keep_queued(|a| {
            matches!(
                a,
                Action::Unlock(_)
                    | Action::Abort(_)
                    | Action::Post(_)
                    | Action::Persist
                    | Action::Settle(Err(_))
                    | Action::Log(..)
            )
        });
        self.life.destroy();
        self.pump(now);
    }

    /// The page became visible, came online or was restored.
    pub fn wake(&mut self, now: Now) {
        self.clock = Some(now);
        self.life.wake(now);
        self.pump(now);
    }

    /// The timer armed for [`Tab::poll_timeout`] fired (maybe late, maybe early).
    pub fn handle_timeout(&mut self, now: Now) {
        let jumped = self.clock.is_some_and(|c| {
            let drift = (now.wall - c.wall) - (now.mono - c.mono);
            !(-CLOCK_JUMP_MS..=CLOCK_JUMP_MS).contains(&drift)
        });
        self.clock = Some(now);
        if jumped {
            self.log(Level::Info, "the wall clock jumped; re-checking the token");
            self.life.wake(now);
        } else {
            self.life.tick(now);
        }
        self.pump(now);
        if let Some(a) = self.attempt.filter(|a| now.mono >= a.deadline) {
            self.overdue(a, now);
        }
    }

    /// Milliseconds until [`Tab::handle_timeout`] is due, at most [`MAX_SLEEP_MS`];
    /// `None` once destroyed.
    pub fn poll_timeout(&self, now: Now) -> Option<f64> {
        if self.life.is_destroyed() {
            return None;
        }
        let mut next = self.life.poll_timeout(now).unwrap_or(MAX_SLEEP_MS);
        if let Some(a) = &self.attempt {
            next = next.min(a.deadline - now.mono);
        }
        Some(next.clamp(0.0, MAX_SLEEP_MS))
    }

    /// The cross-tab lock for attempt `id` was granted (the shell holds it until
    /// [`Action::Unlock`]).
    pub fn lock_granted(&mut self, id: u64, now: Now) {
        match &mut self.attempt {
            Some(a) if a.id == id && a.stage == Stage::Locking => {
                a.locked = true;
                self.locked(id, now);
            }
            // Granted after the attempt ended or went on without it: give it back.
            _ => self.out.push(Action::Unlock(id)),
        }
    }

    /// The browser refused the lock (an opaque-origin sandboxed frame has
    /// `navigator.locks` but may not use it): carry on without it, never wedge.
    pub fn lock_refused(&mut self, id: u64, now: Now) {
        if self.stage(id) == Some(Stage::Locking) {
            self.log(
                Level::Debug,
                "Web Locks refused here; renewing without the cross-tab lock",
            );
            self.locked(id, now);
        }
    }

    /// The other live tabs of this participant, by id (`None`: they could not be listed).
    pub fn peers(&mut self, id: u64, ids: Option<Vec<String>>, now: Now) {
        if self.stage(id) != Some(Stage::Counting) {
            return;
        }
        if ids.as_ref().is_some_and(|v| v.is_empty()) || !self.life.pending(id) {
            self.send(id, now);
        } else {
            self.ask(ids, now);
        }
    }

    /// The shared storage entry read for attempt `id` (after [`Action::ReadShared`]).
    pub fn shared(&mut self, id: u64, fields: Option<StoredFields>, now: Now) {
        if self.stage(id) != Some(Stage::Reading) {
            return;
        }
        if let Some(t) = fields.and_then(|f| self.life.entry(f, now)) {
            self.life.external(now, t);
        }
        self.pump(now);
        if self.life.pending(id) {
            // Not newer: maybe stale (see the module's note), so the peers are asked.
            self.consult(id, now);
        } else {
            self.send(id, now);
        }
    }

    /// A message from another tab.
    pub fn message(&mut self, m: Incoming, now: Now) {
        if m.kind == Kind::Hello {
            return self.switched(&m.p, now);
        }
        // Every message names its participant: another participant's tabs (or, for a
        // manager with a participant, tabs without one) are neither heard nor answered.
        if !self.life.is_ours(&m.p) {
            return self.log(Level::Debug, "ignored a message of another participant");
        }
        match m.kind {
            Kind::Token => {
                let token = m.entry.clone().and_then(|f| self.life.entry(f, now));
                if let Some(t) = token {
                    if self.life.external(now, t) {
                        self.log(Level::Info, "adopted a token from another tab");
                        self.pump(now);
                        self.finish_ask(now);
                    }
                }
                self.answered(&m, now);
            }
            Kind::None => self.answered(&m, now),
            Kind::Clear => {
                self.log(Level::Info, "another tab cleared the token");
                self.life.clear(now, false);
            }
            Kind::Ask => {
                let kind = match self.life.usable(now) {
                    Some(_) => Kind::Token,
                    None => Kind::None,
                };
                self.post(kind, m.nonce);
            }
            _ => self.log(Level::Debug, "ignored an unknown message on the channel"),
        }
        self.pump(now);
    }

    /// The broker answered request `id` (a rejected request is [`Reply::Network`]).
    pub fn reply(&mut self, id: u64, now: Now, reply: Reply) {
        if self.stage(id) != Some(Stage::Sending) {
            return;
        }
        let a = self.attempt.take();
        self.life.reply(id, now, reply);
        self.pump(now);
        // The lock goes after the new token was broadcast.
        if let Some(a) = a.filter(|a| a.locked) {
            self.out.push(Action::Unlock(a.id));
        }
    }

    fn log(&mut self, level: Level, msg: &'static str) {
        self.out.push(Action::Log(level, msg));
    }

    fn post(&mut self, kind: Kind, nonce: Option<f64>) {
        if self.env.channel {
            self.out.push(Action::Post(Msg { kind, nonce }));
        }
    }

    fn stage(&self, id: u64) -> Option<Stage> {
        self.attempt.filter(|a| a.id == id).map(|a| a.stage)
    }

    fn set_stage(&mut self, stage: Stage, deadline: f64) {
        if let Some(a) = &mut self.attempt {
            a.stage = stage;
            a.deadline = deadline;
        }
    }

    /// Takes the lifecycle's outputs, turning its broker calls into attempts, then ends
    /// an attempt the lifecycle no longer wants before it sends (another tab's token
    /// satisfied it meanwhile): its lock request is aborted, not left in the queue.
    fn pump(&mut self, now: Now) {
        while let Some(o) = self.life.poll() {
            match o {
                Output::CallBroker { id, reason } => self.begin(id, reason, now),
                Output::Abort => self.end(true),
                Output::BroadcastToken => self.post(Kind::Token, None),
                Output::BroadcastClear => self.post(Kind::Clear, None),
                Output::Persist => self.out.push(Action::Persist),
                Output::Emit(e) => self.out.push(Action::Emit(e)),
                Output::Settle(r) => self.out.push(Action::Settle(r)),
            }
        }
        if let Some(a) = self.attempt {
            if a.stage != Stage::Sending && a.stage != Stage::Reading && !self.life.pending(a.id) {
                self.end(true);
            }
        }
    }

    /// Drops the current attempt: aborts what it waits for and lets go of its lock.
    fn end(&mut self, abort: bool) {
        if let Some(a) = self.attempt.take() {
            if abort {
                self.out.push(Action::Abort(a.id));
            }
            if a.locked {
                self.out.push(Action::Unlock(a.id));
            }
        }
    }

    /// Starts attempt `id` (it replaces any older one).
    fn begin(&mut self, id: u64, reason: Reason, now: Now) {
        self.end(true);
        self.attempt = Some(Attempt {
            id,
            reason,
            stage: Stage::Locking,
            deadline: now.mono + self.lock_wait(),
            locked: false,
        });
        if self.env.locks {
            self.out.push(Action::Lock(id));
        } else {
            self.locked(id, now);
        }
    }

    /// The longest a holder keeps the lock, plus a grace: the longest a tab waits for it.
    fn lock_wait(&self) -> f64 {
        self.timeout_ms + COUNTED_PEER_WAIT_MS + LOCK_GRACE_MS
    }

    /// Inside the lock (or without one), before calling the broker: did another tab
    /// renew meanwhile?
    fn locked(&mut self, id: u64, now: Now) {
        if !self.life.pending(id) {
            return self.send(id, now);
        }
        if self.storage == Storage::Local {
            // Shared storage: the holder before us wrote it before it let go.
            self.set_stage(Stage::Reading, now.mono + self.timeout_ms);
            self.out.push(Action::ReadShared(id));
        } else {
            self.consult(id, now);
        }
    }

    /// Asks the peers who has a token (counting them first when it can), or sends
    /// when there is no channel to ask on.
    fn consult(&mut self, id: u64, now: Now) {
        if !self.env.channel {
            self.send(id, now);
        } else if self.env.presence {
            self.set_stage(Stage::Counting, now.mono + COUNTED_PEER_WAIT_MS);
            self.out.push(Action::CountPeers(id));
        } else {
            self.ask(None, now);
        }
    }

    /// Asks the peers (all of `ids`, when they could be listed) who has a token.
    fn ask(&mut self, ids: Option<Vec<String>>, now: Now) {
        let nonce = self.rng.unit();
        let counted = ids.is_some();
        let wait = if counted {
            COUNTED_PEER_WAIT_MS
        } else {
            PEER_WAIT_MS
        };
        self.left = ids.unwrap_or_default();
        self.set_stage(Stage::Asking { nonce, counted }, now.mono + wait);
        self.post(Kind::Ask, Some(nonce));
    }

    /// Ticks off a counted peer's answer to our question; all answered: go on. (A tab
    /// opened after the count answers too, but is not waited for: it has no token
    /// newer than the lock's last holder.)
    fn answered(&mut self, m: &Incoming, now: Now) {
        let Some(a) = &self.attempt else { return };
        if let Stage::Asking {
            nonce,
            counted: true,
        } = a.stage
        {
            if m.nonce == Some(nonce) {
                self.left.retain(|id| Some(id) != m.from.as_ref());
                if self.left.is_empty() {
                    self.finish_ask(now);
                }
            }
        }
    }

    /// Ends the pending question, if any: its attempt goes on.
    fn finish_ask(&mut self, now: Now) {
        if let Some(a) = self.attempt {
            if matches!(a.stage, Stage::Asking { .. }) {
                self.send(a.id, now);
            }
        }
    }

    /// Asks the lifecycle for the go, then sends the request with its deadline.
    fn send(&mut self, id: u64, now: Now) {
        let Some(a) = self.attempt.filter(|a| a.id == id) else {
            return;
        };
        if !self.life.begin_send(id, now) {
            self.end(false);
            return self.pump(now);
        }
        self.log(Level::Debug, "calling the broker");
        self.set_stage(Stage::Sending, now.mono + self.timeout_ms);
        self.out.push(Action::Send(id, a.reason));
    }

    /// The stage of attempt `a` ran out of time.
    fn overdue(&mut self, a: Attempt, now: Now) {
        match a.stage {
            Stage::Locking => {
                self.log(
                    Level::Warn,
                    "the cross-tab lock is held too long (another script?); renewing without it",
                );
                self.locked(a.id, now);
            }
            Stage::Counting => self.ask(None, now),
            Stage::Asking { .. } | Stage::Reading => self.send(a.id, now),
            Stage::Sending => {
                self.out.push(Action::Abort(a.id));
                self.reply(a.id, now, Reply::Timeout);
            }
        }
    }
}

#[cfg(test)]
#[path = "tab_tests.rs"]
mod tests;
