//! The token lifecycle as a sans-IO state machine (after quinn-proto): inputs carry
//! `now`, the shell drains [`Lifecycle::poll`] for work and asks
//! [`Lifecycle::poll_timeout`] when to wake it next.

use super::backoff::{parse_retry_after, Rng};
pub use super::config::Config;
use super::error::{ErrorCode, TokenError};
use super::token::{
    parse_response, parse_stored, same_identity, Field, ResponseFields, StoredFields, Token,
};
use alloc::string::String;
use alloc::vec::Vec;

/// A token with less than this left is never handed out (nor a quarter of its
/// lifetime, for tokens so short that 10 s would be most of it).
pub const MIN_VALID_MS: f64 = 10_000.0;

/// After a clear, tokens from other tabs (or shared storage) issued up to this long
/// after it are refused too: a tab that had not heard of the logout yet may have sent
/// its renewal just after it. This tab's own broker calls are not affected.
pub const CLEAR_GRACE_MS: f64 = 5_000.0;

/// A point in time, seen on two clocks: the wall clock (`Date.now()`) that token expiry
/// is defined on, and the page's monotonic clock (`performance.now()`) that cannot jump.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Now {
    /// Epoch ms.
    pub wall: f64,
    /// Monotonic ms.
    pub mono: f64,
}

/// Why a broker call is made; passed to a broker function as `reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// There was no token.
    Initial,
    /// The renewal window of the current token opened.
    Scheduled,
    /// `refresh()` was called.
    Forced,
    /// The token expired (or fell under the minimum) before it was renewed.
    Expired,
}

impl Reason {
    /// The string passed to JavaScript.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Initial => "initial",
            Reason::Scheduled => "scheduled",
            Reason::Forced => "forced",
            Reason::Expired => "expired",
        }
    }
}

/// What the broker did, as the shell observed it.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A success status (or a broker function's result) and the parsed body: `None`
    /// when it was not a JSON object.
    Body {
        /// HTTP status, 0 for a broker function.
        status: u16,
        /// The response fields.
        fields: Option<ResponseFields>,
    },
    /// A non-success HTTP status.
    Status {
        /// The status.
        status: u16,
        /// The `Retry-After` header, if any.
        retry_after: Option<String>,
    },
    /// The broker redirected (we never follow: a token endpoint must not).
    Redirect,
    /// A network error, CORS failure or a broker function that threw.
    Network,
    /// No answer within `timeoutMs`.
    Timeout,
}

/// Events for the app's listeners.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A new token was adopted.
    Token,
    /// The current token's renewal window opened (once per token).
    Expiring,
    /// The current token expired with no replacement (once per token).
    Expired,
    /// A renewal attempt failed.
    Error(TokenError),
    /// The token was cleared.
    Cleared,
}

/// Work for the shell.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Start broker call `id`: take the cross-tab lock, re-check for a newer token,
    /// then [`Lifecycle::begin_send`] and report with [`Lifecycle::reply`].
    CallBroker {
        /// Identifies this attempt; replies for other ids are ignored.
        id: u64,
        /// Why.
        reason: Reason,
    },
    /// Write the current token to storage, or remove the entry when there is none.
    Persist,
    /// Tell other tabs about the new token.
    BroadcastToken,
    /// Tell other tabs the token was cleared.
    BroadcastClear,
    /// Give the event to listeners.
    Emit(Event),
    /// Resolve every waiting `getToken()`/`refresh()` with the current token, or
    /// reject them with the error.
    Settle(Result<(), TokenError>),
    /// Abort the in-flight request and lock wait, if any.
    Abort,
}

/// The answer to `getToken()`/`refresh()`.
#[derive(Clone, Debug, PartialEq)]
pub enum Access {
    /// A usable token is there: hand it out now.
    Ready,
    /// Wait for the next `Settle`.
    Wait,
    /// Fail now.
    Fail(TokenError),
}

/// The coarse state shown by `status()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// No token.
    Empty,
    /// A token that has not expired.
    Valid,
    /// A broker call is under way.
    Renewing,
    /// Waiting before the next attempt.
    Backoff,
    /// The token expired with no replacement.
    Expired,
    /// `destroy()` was called.
    Destroyed,
}

impl State {
    /// The string shown to JavaScript.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Empty => "empty",
            State::Valid => "valid",
            State::Renewing => "renewing",
            State::Backoff => "backoff",
            State::Expired => "expired",
            State::Destroyed => "destroyed",
        }
    }
}

/// A snapshot for `status()`; holds no secret.
#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    /// Coarse state.
    pub state: State,
    /// Whole seconds left, if there is a token.
    pub expires_in: Option<f64>,
    /// Epoch ms of expiry.
    pub expires_at: Option<f64>,
    /// Epoch ms when renewal is due.
    pub renew_at: Option<f64>,
    /// Epoch ms of the next automatic attempt after a failure.
    pub next_attempt_at: Option<f64>,
    /// Broker requests sent by this tab.
    pub broker_calls: u64,
    /// The last failure, until a token is obtained.
    pub last_error: Option<ErrorCode>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    /// `CallBroker` issued, request not sent yet (lock wait, re-check).
    Queued,
    /// Request sent at this time.
    Sent(Now),
    /// Backing off until this monotonic time.
    Waiting(f64),
}

#[derive(Clone, Debug)]
struct Renewal {
    id: u64,
    reason: Reason,
    failures: u32,
    /// Set by `refresh()`: only a token issued after this wall time satisfies it.
    forced_at: Option<f64>,
    phase: Phase,
}

/// The lifecycle of one participant token in one tab.
#[derive(Debug)]
pub struct Lifecycle {
    cfg: Config,
    rng: Rng,
    token: Option<Token>,
    expiring_sent: bool,
    expired_sent: bool,
    renewal: Option<Renewal>,
    /// After a renewal gave up: monotonic time of the next automatic attempt.
    resume_at: Option<f64>,
    /// Monotonic times of the last `max_attempts` failed broker calls, a ring whose next
    /// slot is `failed_at`: the budget that keeps any sequence of broker answers from
    /// making more than `max_attempts` failed calls per `max_delay_ms`.
    failed: Vec<f64>,
    failed_at: usize,
    next_id: u64,
    /// Counts adopted tokens: identifies "the same token" for caches, even when two
    /// tokens share their times to the millisecond.
    generation: u64,
    broker_calls: u64,
    last_error: Option<TokenError>,
    destroyed: bool,
    /// Wall time of the last clear (a logout, here or in another tab): a token issued
    /// before it (or within [`CLEAR_GRACE_MS`] after it) never comes back from another
    /// tab, however late its broadcast arrives.
    cleared_at: f64,
    /// Work for the shell, oldest first (a few items at a time: a Vec is smaller code
    /// than a VecDeque).
    out: Vec<Output>,
}

impl Lifecycle {
    /// A lifecycle with no token.
    pub fn new(cfg: Config, seed: u64) -> Self {
        Lifecycle {
            cfg,
            rng: Rng::new(seed),
            token: None,
            expiring_sent: false,
            expired_sent: false,
            renewal: None,
            resume_at: None,
            failed: Vec::new(),
            failed_at: 0,
            next_id: 0,
            generation: 0,
            broker_calls: 0,
            last_error: None,
            destroyed: false,
            cleared_at: f64::NEG_INFINITY,
            out: Vec::new(),
        }
    }

    /// The next piece of work for the shell.
    pub fn poll(&mut self) -> Option<Output> {
        (!self.out.is_empty()).then(|| self.out.remove(0))
    }

    /// The current token, if it has not expired.
    pub fn token(&self, now: Now) -> Option<&Token> {
        self.token
            .as_ref()
            .filter(|t| t.remaining(now.wall, now.mono) > 0.0)
    }

    /// The token if it may be handed out: at least [`MIN_VALID_MS`] left, and the
    /// lifecycle not destroyed.
    pub fn usable(&self, now: Now) -> Option<&Token> {
        self.token
            .as_ref()
            .filter(|_| !self.destroyed)
            .filter(|t| t.remaining(now.wall, now.mono) >= min_valid(t))
    }

    /// What the callers waiting get for settlement `r` when the shell performs it at
    /// `now`: `Ok` when the token is usable (the shell hands it out), else the error.
    /// A token that fell under the floor in between (a page's slow wrapper around
    /// storage or the channel ran first) is refused as the broker's late answer is.
    pub fn settled(&self, r: Result<(), TokenError>, now: Now) -> Result<(), TokenError> {
        r?;
        self.usable(now).map(|_| ()).ok_or_else(|| {
            TokenError::new(
                ErrorCode::InvalidResponse,
                "the broker's token expired on arrival",
            )
        })
    }

    /// How long before expiry the renewal is due: `renewBefore`, capped at half the
    /// lifetime, but never after the token fell under the floor (else a token between
    /// the floor and a short `renewBefore` would be neither usable nor renewed, and one
    /// adopted from another tab in that gap would be handed out under the floor).
    fn window(&self, t: &Token) -> f64 {
        self.cfg
            .renew_before_ms
            .min(t.lifetime() / 2.0)
            .max(min_valid(t))
    }

    /// The participant this lifecycle belongs to.
    pub fn identity(&self) -> Option<&str> {
        self.cfg.identity.as_deref()
    }

    /// Whether a stored entry or channel message with participant field `p` is ours.
    pub fn is_ours(&self, p: &Field) -> bool {
        same_identity(p, self.identity())
    }

    /// Validates a stored or broadcast entry for this lifecycle's participant.
    pub fn entry(&self, fields: StoredFields, now: Now) -> Option<Token> {
        parse_stored(fields, now.wall, now.mono, self.identity())
    }

    /// Whether the lifecycle was destroyed.
    pub fn is_destroyed(&self) -> bool {
        self.destroyed
    }

    /// Changes whenever another token is adopted.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Until which wall time (epoch ms) the token object handed out now may be handed
    /// out again without asking the core: it stays usable, its whole seconds left do
    /// not change, and `get()` would start no renewal. `None`: do not reuse.
    pub fn reuse_until(&self, now: Now) -> Option<f64> {
        if self.destroyed {
            return None;
        }
        let t = self.usable(now)?;
        let rem = t.remaining(now.wall, now.mono);
        let busy = self.renewal.is_some() || self.resume_at.is_some();
        let mut left = rem - super::floor(rem / 1000.0) * 1000.0; // next whole-second tick
        left = left.min(rem - min_valid(t));
        if !busy {
            let to_window = rem - self.window(t);
            if to_window <= 0.0 {
                return None;
            }
            left = left.min(to_window);
        }
        (left > 0.0).then_some(now.wall + left)
    }

    /// `getToken()`.
    pub fn get(&mut self, now: Now) -> Access {
        if self.destroyed {
            return Access::Fail(destroyed());
        }
        self.evaluate(now);
        if let Some(t) = self.usable(now) {
            // Inside the window: serve the still-valid token and renew in the
            // background, even without autoRefresh.
            let in_window = t.remaining(now.wall, now.mono) <= self.window(t);
            if in_window && self.renewal.is_none() && self.resume_at.is_none() {
                self.start_automatic(now, Reason::Scheduled);
            }
            return Access::Ready;
        }
        if self.renewal.is_none() {
            // The app asks: that lifts a give-up pause.
            let reason = if self.token.is_some() {
                Reason::Expired
            } else {
                Reason::Initial
            };
            self.start(reason, None);
        }
        Access::Wait
    }

    /// `refresh()`: a broker call whose result is issued after now. Joins a renewal
    /// already under way (single flight) rather than starting a second one.
    pub fn refresh(&mut self, now: Now) -> Access {
        if self.destroyed {
            return Access::Fail(destroyed());
        }
        self.evaluate(now);
        match &mut self.renewal {
            Some(r) => {
                r.forced_at.get_or_insert(now.wall);
            }
            None => self.start(Reason::Forced, Some(now.wall)),
        }
        Access::Wait
    }

    /// A timer fired.
    pub fn tick(&mut self, now: Now) {
        self.evaluate(now);
    }

    /// The page became visible, came online, or its clock jumped: a paused renewal
    /// (after giving up) is due at once; everything else is re-checked.
    pub fn wake(&mut self, now: Now) {
        if self.destroyed {
            return;
        }
        if self.resume_at.is_some() {
            self.resume_at = Some(now.mono);
        }
        self.evaluate(now);
    }

    /// Whether broker call `id` still waits to be sent (the shell skips its re-check
    /// work when not).
    pub fn pending(&self, id: u64) -> bool {
        matches!(&self.renewal, Some(r) if r.id == id && r.phase == Phase::Queued)
    }

    /// The shell is about to send broker call `id`. `false`: it is no longer needed.
    pub fn begin_send(&mut self, id: u64, now: Now) -> bool {
        match &mut self.renewal {
            Some(r) if r.id == id && r.phase == Phase::Queued && !self.destroyed => {
                r.phase = Phase::Sent(now);
                self.broker_calls += 1;
                true
            }
            _ => false,
        }
    }

    /// The broker answered call `id`. Replies to superseded calls are ignored.
    pub fn reply(&mut self, id: u64, now: Now, reply: Reply) {
        let Some(r) = self.renewal.as_ref().filter(|r| r.id == id) else {
            return;
        };
        let Phase::Sent(sent) = r.phase else {
            return;
        };
        let status = match &reply {
            Reply::Body { status, .. } => *status,
            _ => 0,
        };
        match classify(reply, sent, now) {
            // Not usable on arrival (a slow answer, or a lifetime shorter than the
            // round trip): adopting it would start the next call at once. Refused like
            // any final error, so that no broker answer makes a storm.
            Ok(token) if token.remaining(now.wall, now.mono) < min_valid(&token) => {
                let e = TokenError::with_status(
                    ErrorCode::InvalidResponse,
                    status,
                    "the broker's token expired on arrival",
                );
                self.fail(now, e, None);
            }
            Ok(token) => {
                self.renewal = None;
                self.adopt(token);
                self.out.push(Output::Persist);
                self.out.push(Output::BroadcastToken);
                self.out.push(Output::Emit(Event::Token));
                self.out.push(Output::Settle(Ok(())));
            }
            Err((e, retry_after)) => self.fail(now, e, retry_after),
        }
        self.evaluate(now);
    }

    /// The current (sent) renewal failed with `e`.
    fn fail(&mut self, now: Now, mut e: TokenError, retry_after: Option<f64>) {
        let Some(r) = self.renewal.as_mut() else {
            return;
        };
        r.failures += 1;
        let failures = r.failures;
        if self.failed.len() < self.cfg.retry.max_attempts as usize {
            self.failed.push(now.mono);
        } else if let Some(slot) = self.failed.get_mut(self.failed_at) {
            *slot = now.mono;
            self.failed_at = (self.failed_at + 1) % self.cfg.retry.max_attempts as usize;
        }
        let budget = self.budget_wait(now);
        let Some(r) = self.renewal.as_mut() else {
            return;
        };
        if e.code == ErrorCode::BrokerRejected {
            // The participant's session is over: drop the token everywhere
            // and stay quiet until the app asks again.
            self.renewal = None;
            self.token = None;
            self.last_error = Some(e.clone());
            self.out.push(Output::Persist);
            self.out.push(Output::BroadcastClear);
            self.out.push(Output::Emit(Event::Error(e.clone())));
            self.out.push(Output::Emit(Event::Cleared));
            self.out.push(Output::Settle(Err(e)));
        } else if e.code.is_retryable(e.status) && failures < self.cfg.retry.max_attempts {
            let delay = self
                .cfg
                .retry
                .delay(failures, self.rng.unit(), retry_after)
                .max(budget);
            r.phase = Phase::Waiting(now.mono + delay);
            e.retry_at = Some(now.wall + delay);
            self.last_error = Some(e.clone());
            self.out.push(Output::Emit(Event::Error(e)));
        } else {
            // Gave up (or a final error): pause, keep any valid token. With no
            // token there is nothing to resume (the app asks again): announce
            // no `retry_at` and no `next_attempt_at` that would never come.
            self.renewal = None;
            let due = self
                .token
                .as_ref()
                .is_some_and(|t| t.remaining(now.wall, now.mono) <= self.window(t));
            if self.cfg.auto_refresh && due {
                let pause = self.cfg.retry.max_delay_ms;
                self.resume_at = Some(now.mono + pause);
                e.retry_at = Some(now.wall + pause);
            }
            self.last_error = Some(e.clone());
            self.out.push(Output::Emit(Event::Error(e.clone())));
            self.out.push(Output::Settle(Err(e)));
        }
    }

    /// A token from another tab or from shared storage. Adopted when it is newer than
    /// ours; returns whether it was.
    pub fn external(&mut self, now: Now, token: Token) -> bool {
        if self.destroyed
            || token.remaining(now.wall, now.mono) <= 0.0
            || token.issued_at <= self.cleared_at + CLEAR_GRACE_MS
        {
            return false;
        }
        // Newer means issued later, not expiring later: an entry claiming a far
        // expiry must not shut out the real renewals that follow it.
        if let Some(cur) = &self.token {
            if token.issued_at <= cur.issued_at && cur.remaining(now.wall, now.mono) > 0.0 {
                return false;
            }
        }
        let fresh = token.remaining(now.wall, now.mono) > self.window(&token);
        let issued_at = token.issued_at;
        self.adopt(token);
        self.out.push(Output::Persist);
        self.out.push(Output::Emit(Event::Token));
        let satisfies = |r: &Renewal| fresh && r.forced_at.is_none_or(|f| issued_at >= f);
        match &self.renewal {
            // A request already sent will bring an even newer token: let it finish.
            Some(r) if matches!(r.phase, Phase::Sent(_)) => {}
            Some(r) if satisfies(r) => {
                self.renewal = None;
                self.out.push(Output::Settle(Ok(())));
            }
            Some(_) => {}
            None => self.out.push(Output::Settle(Ok(()))),
        }
        self.evaluate(now);
        true
    }

    /// A token restored from this tab's storage at start-up: adopted quietly (no
    /// listener can exist yet, and the entry is already stored).
    pub fn restore(&mut self, now: Now, token: Token) -> bool {
        if self.destroyed || self.token.is_some() || token.remaining(now.wall, now.mono) <= 0.0 {
            return false;
        }
        self.adopt(token);
        self.evaluate(now);
        true
    }

    /// `clear()` here (`local`) or a clear announced by another tab.
    pub fn clear(&mut self, now: Now, local: bool) {
        if self.destroyed {
            return;
        }
        let had = self.token.is_some() || self.renewal.is_some();
        self.cleared_at = self.cleared_at.max(now.wall);
        self.token = None;
        self.renewal = None;
        self.resume_at = None;
        self.last_error = None;
        self.out.push(Output::Abort);
        if local {
            self.out.push(Output::Persist);
            self.out.push(Output::BroadcastClear);
        } else if had {
            // The other tab removed shared storage; ours may be per-tab.
            self.out.push(Output::Persist);
        }
        // Only a real transition is an event: `clear()` with nothing to clear (say,
        // from inside a `cleared` listener) emits nothing, so it cannot recurse.
        if had {
            self.out.push(Output::Emit(Event::Cleared));
        }
        self.out.push(Output::Settle(Err(TokenError::new(
            ErrorCode::Cleared,
            "the token was cleared",
        ))));
        self.evaluate(now);
    }

    /// `destroy()`: everything stops; waiting callers are rejected. Storage is kept
    /// (destroying a manager is not logging out).
    pub fn destroy(&mut self) {
        if self.destroyed {
            return;
        }
        self.destroyed = true;
        self.renewal = None;
        self.resume_at = None;
        self.out.push(Output::Abort);
        self.out.push(Output::Settle(Err(destroyed())));
    }

    /// Milliseconds from `now` until the shell must call [`Lifecycle::tick`]; `None`
    /// when nothing is scheduled. Never negative.
    pub fn poll_timeout(&self, now: Now) -> Option<f64> {
        if self.destroyed {
            return None;
        }
        let mut next: Option<f64> = None;
        let mut consider = |d: f64| next = Some(next.map_or(d, |n: f64| n.min(d)));
        if let Some(t) = &self.token {
            let rem = t.remaining(now.wall, now.mono);
            if !self.expiring_sent {
                consider(rem - self.window(t));
            } else if !self.expired_sent {
                consider(rem);
            }
        }
        if let Some(Renewal {
            phase: Phase::Waiting(until),
            ..
        }) = &self.renewal
        {
            consider(until - now.mono);
        }
        if let Some(at) = self.resume_at {
            consider(at - now.mono);
        }
        next.map(|d| d.max(0.0))
    }

    /// A snapshot for humans.
    pub fn status(&self, now: Now) -> Status {
        let state = if self.destroyed {
            State::Destroyed
        } else {
            match (&self.renewal, &self.token) {
                (Some(r), _) if matches!(r.phase, Phase::Waiting(_)) => State::Backoff,
                (Some(_), _) => State::Renewing,
                _ if self.resume_at.is_some() && self.token(now).is_none() => State::Backoff,
                (None, Some(t)) if t.remaining(now.wall, now.mono) > 0.0 => State::Valid,
                (None, Some(_)) => State::Expired,
                (None, None) => State::Empty,
            }
        };
        let live = self.token(now);
        let rem = live.map(|t| t.remaining(now.wall, now.mono));
        let next_attempt_at = match (&self.renewal, self.resume_at) {
            (
                Some(Renewal {
                    phase: Phase::Waiting(u),
                    ..
                }),
                _,
            ) => Some(now.wall + (u - now.mono)),
            (_, Some(u)) => Some(now.wall + (u - now.mono)),
            _ => None,
        };
        Status {
            state,
            expires_in: rem.map(|r| super::floor(r / 1000.0)),
            expires_at: live.map(|t| t.expires_at),
            renew_at: live.map(|t| now.wall + t.remaining(now.wall, now.mono) - self.window(t)),
            next_attempt_at,
            broker_calls: self.broker_calls,
            last_error: self.last_error.as_ref().map(|e| e.code),
        }
    }

    fn adopt(&mut self, token: Token) {
        self.token = Some(token);
        self.generation += 1;
        self.expiring_sent = false;
        self.expired_sent = false;
        self.resume_at = None;
        self.last_error = None;
    }

    fn start(&mut self, reason: Reason, forced_at: Option<f64>) {
        self.next_id += 1;
        let id = self.next_id;
        self.resume_at = None;
        self.renewal = Some(Renewal {
            id,
            reason,
            failures: 0,
            forced_at,
            phase: Phase::Queued,
        });
        self.out.push(Output::CallBroker { id, reason });
    }

    /// Applies the clock: token events, due retries, due resumption, and proactive
    /// renewal. Idempotent for one `now`, so every deadline it reports is cleared here.
    fn evaluate(&mut self, now: Now) {
        if self.destroyed {
            return;
        }
        let mut due = false;
        let mut expired = false;
        if let Some(t) = &self.token {
            let rem = t.remaining(now.wall, now.mono);
            if rem <= 0.0 && !self.expired_sent {
                self.expired_sent = true;
                self.expiring_sent = true;
                self.out.push(Output::Emit(Event::Expired));
                self.out.push(Output::Persist);
            } else if rem <= self.window(t) && !self.expiring_sent {
                self.expiring_sent = true;
                self.out.push(Output::Emit(Event::Expiring));
            }
            due = rem <= self.window(t);
            expired = rem < min_valid(t);
        }
        if let Some(r) = &mut self.renewal {
            if let Phase::Waiting(until) = r.phase {
                if now.mono >= until {
                    self.next_id += 1;
                    r.id = self.next_id;
                    r.phase = Phase::Queued;
                    self.out.push(Output::CallBroker {
                        id: r.id,
                        reason: r.reason,
                    });
                }
            }
        }
        if self.resume_at.is_some_and(|at| now.mono >= at) {
            // The pause is over; the renewal below starts if the token is still due.
            self.resume_at = None;
        }
        if self.cfg.auto_refresh && due && self.renewal.is_none() && self.resume_at.is_none() {
            self.start_automatic(now, reason_for(expired));
        }
    }

    /// Milliseconds until the failure budget allows another automatic call (0: now).
    fn budget_wait(&self, now: Now) -> f64 {
        // The ring is full only after max_attempts failures; its next slot holds the
        // oldest of them, which must be a window old before another automatic call.
        match self.failed.get(self.failed_at) {
            Some(&oldest) if self.failed.len() >= self.cfg.retry.max_attempts as usize => {
                (oldest + self.cfg.retry.max_delay_ms - now.mono).max(0.0)
            }
            _ => 0.0,
        }
    }

    /// A renewal the lifecycle decides on by itself (not one the app asked for): it
    /// waits while the failure budget is spent.
    fn start_automatic(&mut self, now: Now, reason: Reason) {
        let wait = self.budget_wait(now);
        if wait > 0.0 {
            self.resume_at = Some(now.mono + wait);
        } else {
            self.start(reason, None);
        }
    }
}

fn reason_for(expired: bool) -> Reason {
    if expired {
        Reason::Expired
    } else {
        Reason::Scheduled
    }
}

fn min_valid(t: &Token) -> f64 {
    MIN_VALID_MS.min(t.lifetime() / 4.0)
}

fn destroyed() -> TokenError {
    TokenError::new(ErrorCode::Destroyed, "the token manager was destroyed")
}

fn classify(reply: Reply, sent: Now, now: Now) -> Result<Token, (TokenError, Option<f64>)> {
    use ErrorCode::*;
    let e = |code, status, detail| Err((TokenError::with_status(code, status, detail), None));
    match reply {
        Reply::Body {
            status,
            fields: Some(f),
        } => parse_response(f, sent.wall, sent.mono).map_err(|mut err| {
            err.status = status;
            (err, None)
        }),
        Reply::Body {
            status,
            fields: None,
        } => e(
            InvalidResponse,
            status,
            "broker answer is not a JSON object of at most 64 KiB",
        ),
        Reply::Status {
            status: s @ (401 | 403),
            ..
        } => e(
            BrokerRejected,
            s,
            "broker refused: the participant's session is not valid",
        ),
        Reply::Status {
            status,
            retry_after,
        } => {
            let ra = retry_after.and_then(|v| parse_retry_after(&v, now.wall));
            Err((
                TokenError::with_status(
                    BrokerFailed,
                    status,
                    "broker answered with an error status",
                ),
                ra,
            ))
        }
        Reply::Redirect => e(
            BrokerFailed,
            0,
            "broker redirected; token endpoints must not",
        ),
        Reply::Network => e(BrokerUnreachable, 0, "broker could not be reached"),
        Reply::Timeout => e(BrokerTimeout, 0, "broker did not answer in time"),
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
