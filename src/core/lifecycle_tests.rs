//! Lifecycle tests on a virtual clock with a scripted broker.

use super::*;
use crate::core::fixtures::{body, status, H, S, WALL0};
use crate::core::{Field, RetryPolicy, StoredFields};
use std::collections::VecDeque;

/// A tab: the lifecycle, a virtual clock, and a broker that answers after `latency`
/// from a script, then with healthy tokens of `lifetime_s`.
struct Sim {
    core: Lifecycle,
    now: Now,
    lifetime_s: f64,
    latency: f64,
    script: VecDeque<Reply>,
    inflight: Vec<(u64, f64, Reply)>,
    /// (wall time sent, reason) of each broker request.
    calls: Vec<(f64, Reason)>,
    events: Vec<(f64, Event)>,
    settles: Vec<Result<(), TokenError>>,
    issued: u64,
}

impl Sim {
    fn new(cfg: Config, lifetime_s: f64) -> Self {
        Sim {
            core: Lifecycle::new(cfg, 7),
            now: Now {
                wall: WALL0,
                mono: 0.0,
            },
            lifetime_s,
            latency: 50.0,
            script: VecDeque::new(),
            inflight: Vec::new(),
            calls: Vec::new(),
            events: Vec::new(),
            settles: Vec::new(),
            issued: 0,
        }
    }

    fn drain(&mut self) {
        while let Some(o) = self.core.poll() {
            match o {
                Output::CallBroker { id, reason } => {
                    assert!(self.core.pending(id));
                    assert!(self.core.begin_send(id, self.now));
                    self.calls.push((self.now.wall, reason));
                    let reply = self.script.pop_front().unwrap_or_else(|| {
                        self.issued += 1;
                        body(&format!("tok{}", self.issued), self.lifetime_s)
                    });
                    self.inflight
                        .push((id, self.now.mono + self.latency, reply));
                }
                Output::Emit(e) => self.events.push((self.now.wall, e)),
                Output::Settle(r) => self.settles.push(r),
                _ => {}
            }
        }
    }

    fn advance(&mut self, ms: f64) {
        self.now.wall += ms;
        self.now.mono += ms;
    }

    /// Runs the event loop until the monotonic clock reaches `until`, like the shell
    /// does: deliver replies and wake on `poll_timeout` (capped at 30 s).
    fn run_for(&mut self, dur: f64) {
        let until = self.now.mono + dur;
        let mut guard = 0u32;
        loop {
            self.drain();
            guard += 1;
            assert!(guard < 1_000_000, "event loop does not make progress");
            let timer = self
                .core
                .poll_timeout(self.now)
                .map(|d| d.min(30_000.0))
                .unwrap_or(30_000.0);
            assert!(timer >= 0.0);
            let reply_at = self
                .inflight
                .iter()
                .map(|x| x.1)
                .fold(f64::INFINITY, f64::min);
            let next = (self.now.mono + timer).min(reply_at);
            if next > until {
                self.advance(until - self.now.mono);
                self.core.tick(self.now);
                self.drain();
                return;
            }
            self.advance(next - self.now.mono);
            if let Some(i) = self.inflight.iter().position(|x| x.1 <= self.now.mono) {
                let (id, _, reply) = self.inflight.remove(i);
                self.core.reply(id, self.now, reply);
            } else {
                self.core.tick(self.now);
            }
        }
    }

    fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| f(e)).count()
    }

    /// The `error` events so far, with the wall time they were emitted.
    fn errors(&self) -> Vec<(f64, TokenError)> {
        self.events
            .iter()
            .filter_map(|(at, e)| match e {
                Event::Error(e) => Some((*at, e.clone())),
                _ => None,
            })
            .collect()
    }

    /// A tab that has fetched its first token (1 s of virtual time).
    fn started(cfg: Config, lifetime_s: f64) -> Self {
        let mut sim = Sim::new(cfg, lifetime_s);
        sim.core.get(sim.now);
        sim.run_for(S);
        sim
    }
}

fn cfg() -> Config {
    Config::default()
}

#[test]
fn first_get_waits_then_serves_one_token() {
    let mut sim = Sim::new(cfg(), 3600.0);
    assert_eq!(sim.core.get(sim.now), Access::Wait);
    for _ in 0..1000 {
        assert_eq!(sim.core.get(sim.now), Access::Wait);
        assert_eq!(sim.core.refresh(sim.now), Access::Wait);
    }
    sim.run_for(1.0 * S);
    assert_eq!(sim.calls.len(), 1, "single flight");
    assert_eq!(sim.calls[0].1, Reason::Initial);
    assert_eq!(sim.settles, vec![Ok(())]);
    assert_eq!(sim.core.get(sim.now), Access::Ready);
    let t = sim.core.usable(sim.now).unwrap();
    assert_eq!(
        t.expires_at,
        sim.calls[0].0 + 3600.0 * S,
        "expires_at counts from send time"
    );
}

#[test]
fn healthy_broker_is_called_once_per_lifetime() {
    // (lifetime s, renewBefore s, expected renewal period s)
    for (life, before, period) in [
        (3600.0, 120.0, 3480.0),
        (90.0, 120.0, 45.0),
        (300.0, 60.0, 240.0),
        (2.0, 120.0, 1.0),
    ] {
        let mut sim = Sim::new(
            Config {
                renew_before_ms: before * S,
                ..cfg()
            },
            life,
        );
        sim.latency = 0.0;
        sim.core.get(sim.now);
        let span = period * 100.0 * S;
        sim.run_for(span + 1.0);
        assert_eq!(sim.calls.len(), 101, "life {life}");
        for w in sim.calls.windows(2) {
            assert!(
                (w[1].0 - w[0].0 - period * S).abs() < 1e-6,
                "life {life}: {:?}",
                w
            );
            assert_eq!(w[1].1, Reason::Scheduled);
        }
        assert_eq!(sim.count(|e| *e == Event::Expired), 0);
        assert_eq!(sim.count(|e| *e == Event::Expiring), 100);
        assert_eq!(sim.count(|e| *e == Event::Token), 101);
    }
}

#[test]
fn renewal_window_serves_old_token_and_renews_in_background() {
    let mut sim = Sim::started(
        Config {
            auto_refresh: false,
            ..cfg()
        },
        3600.0,
    );
    sim.run_for(3500.0 * S); // into the 120 s window; no timer renewal without autoRefresh
    assert_eq!(sim.calls.len(), 1);
    assert_eq!(sim.core.get(sim.now), Access::Ready);
    assert_eq!(sim.calls.len(), 1, "the request is queued, not yet sent");
    sim.run_for(S);
    assert_eq!(sim.calls.len(), 2);
    assert_eq!(sim.calls[1].1, Reason::Scheduled);
    assert_eq!(sim.core.status(sim.now).expires_in, Some(3599.0));
}

#[test]
fn token_under_ten_seconds_is_never_handed_out() {
    let mut sim = Sim::started(
        Config {
            auto_refresh: false,
            ..cfg()
        },
        3600.0,
    );
    sim.advance(3589.0 * S + 50.0); // sent at 0, now 3590.05 s: 9.95 s left
    assert!(sim.core.usable(sim.now).is_none());
    assert!(sim.core.token(sim.now).is_some());
    assert_eq!(sim.core.get(sim.now), Access::Wait);
}

#[test]
fn retries_back_off_with_full_jitter_within_bounds() {
    let mut sim = Sim::new(cfg(), 3600.0);
    sim.script
        .extend([status(503), Reply::Network, Reply::Timeout, status(500)]);
    sim.core.get(sim.now);
    sim.run_for(60.0 * S);
    assert_eq!(sim.calls.len(), 5);
    let ceilings = [500.0, 1000.0, 2000.0, 4000.0];
    for (i, w) in sim.calls.windows(2).enumerate() {
        let gap = w[1].0 - w[0].0 - sim.latency;
        assert!(gap >= 0.0 && gap <= ceilings[i], "retry {i}: {gap}");
    }
    let errors = sim.errors();
    assert_eq!(errors.len(), 4);
    assert_eq!(errors[0].1.code, ErrorCode::BrokerFailed);
    assert_eq!(errors[0].1.status, 503);
    assert_eq!(errors[1].1.code, ErrorCode::BrokerUnreachable);
    assert_eq!(errors[2].1.code, ErrorCode::BrokerTimeout);
    for (i, (at, e)) in errors.iter().enumerate() {
        assert_eq!(
            e.retry_at,
            Some(sim.calls[i + 1].0),
            "retry_at announces the next call"
        );
        assert!(*at <= e.retry_at.unwrap());
    }
    assert_eq!(
        sim.settles,
        vec![Ok(())],
        "one settlement after the retries succeed"
    );
}

#[test]
fn jitter_spreads_delays_over_the_whole_range() {
    let mut gaps = Vec::new();
    for seed in 0..200 {
        let mut sim = Sim::new(cfg(), 3600.0);
        sim.core = Lifecycle::new(cfg(), seed);
        sim.script.push_back(status(503));
        sim.core.get(sim.now);
        sim.run_for(10.0 * S);
        gaps.push(sim.calls[1].0 - sim.calls[0].0 - sim.latency);
    }
    assert!(gaps.iter().all(|g| (0.0..=500.0).contains(g)));
    assert!(gaps.iter().any(|&g| g < 100.0) && gaps.iter().any(|&g| g > 400.0));
}

#[test]
fn retry_after_is_honoured_in_seconds_and_as_a_date() {
    for header in ["7", "Tue, 14 Nov 2023 22:13:27 GMT"] {
        let mut sim = Sim::new(cfg(), 3600.0);
        sim.latency = 0.0;
        // The date is 7 s after the start of the virtual clock.
        assert_eq!(sim.now.wall, WALL0);
        sim.script.push_back(Reply::Status {
            status: 429,
            retry_after: Some(header.into()),
        });
        sim.core.get(sim.now);
        sim.run_for(60.0 * S);
        assert_eq!(sim.calls.len(), 2, "{header}");
        let gap = sim.calls[1].0 - sim.calls[0].0;
        assert!((7.0 * S..=7.5 * S).contains(&gap), "{header}: {gap}");
    }
}

#[test]
fn retry_after_is_capped_at_max_delay() {
    let mut sim = Sim::new(cfg(), 3600.0);
    sim.latency = 0.0;
    sim.script.push_back(Reply::Status {
        status: 503,
        retry_after: Some("86400".into()),
    });
    sim.core.get(sim.now);
    sim.run_for(31.0 * S);
    assert_eq!(sim.calls.len(), 2);
    assert_eq!(sim.calls[1].0 - sim.calls[0].0, 30.0 * S);
}

#[test]
fn rejection_is_final_and_clears_the_token() {
    for code in [401, 403] {
        let mut sim = Sim::started(cfg(), 90.0);
        sim.script.push_back(status(code));
        sim.run_for(50.0 * S); // renewal at 45 s is rejected
        assert_eq!(sim.calls.len(), 2);
        assert!(sim.core.token(sim.now).is_none(), "token cleared");
        assert_eq!(sim.count(|e| *e == Event::Cleared), 1);
        let err = sim.settles.last().unwrap().clone().unwrap_err();
        assert_eq!((err.code, err.status), (ErrorCode::BrokerRejected, code));
        sim.run_for(10.0 * H);
        assert_eq!(sim.calls.len(), 2, "no retry until the app asks");
        assert_eq!(sim.core.status(sim.now).state, State::Empty);
        assert_eq!(sim.core.get(sim.now), Access::Wait);
        sim.run_for(S);
        assert_eq!(sim.calls.len(), 3);
        assert_eq!(sim.core.get(sim.now), Access::Ready);
    }
}

#[test]
fn valid_token_is_served_during_retries_and_give_up_pauses() {
    let mut sim = Sim::started(cfg(), 3600.0);
    sim.script.extend(std::iter::repeat_n(status(502), 5));
    sim.run_for(3480.0 * S); // window opens; five failures within ~8 s
    sim.run_for(10.0 * S);
    assert_eq!(sim.calls.len(), 6);
    assert_eq!(
        sim.core.get(sim.now),
        Access::Ready,
        "still-valid token served"
    );
    let st = sim.core.status(sim.now);
    assert_eq!(st.state, State::Valid);
    assert_eq!(st.last_error, Some(ErrorCode::BrokerFailed));
    let last_err_at = sim.calls[5].0 + sim.latency;
    assert_eq!(st.next_attempt_at, Some(last_err_at + 30.0 * S));
    // The pause lasts max_delay, then a fresh renewal succeeds.
    sim.run_for(30.0 * S);
    assert_eq!(sim.calls.len(), 7);
    assert!((sim.calls[6].0 - last_err_at - 30.0 * S).abs() < 1e-6);
    assert_eq!(sim.core.status(sim.now).last_error, None);
}

#[test]
fn wake_ends_a_give_up_pause_at_once() {
    let mut sim = Sim::new(
        Config {
            retry: RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
            ..cfg()
        },
        3600.0,
    );
    sim.script.push_back(Reply::Network);
    sim.core.get(sim.now);
    sim.run_for(S);
    assert_eq!(sim.settles.len(), 1);
    assert_eq!(
        sim.settles[0].as_ref().unwrap_err().code,
        ErrorCode::BrokerUnreachable
    );
    // Nothing to resume: there was never a token, and the app has not asked again.
    sim.run_for(60.0 * S);
    assert_eq!(sim.calls.len(), 1);
    // With a token, a gave-up renewal resumes on wake before max_delay — after a
    // single failure at once.
    let one = Config {
        retry: RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        },
        ..cfg()
    };
    let mut sim = Sim::started(one.clone(), 3600.0);
    sim.script.push_back(Reply::Network);
    sim.run_for(3490.0 * S);
    assert_eq!(sim.calls.len(), 2);
    sim.core.wake(sim.now);
    sim.run_for(S);
    assert_eq!(
        sim.calls.len(),
        2,
        "one failure in the last 30 s spends the budget of 1"
    );
    // After max_attempts failures within max_delay, a wake (online, visible, focus —
    // a click can raise one) waits for the failure budget: no storm of wakes can
    // make more than max_attempts failed calls per max_delay.
    let mut sim = Sim::started(cfg(), 3600.0);
    sim.script.extend(std::iter::repeat_n(Reply::Network, 5));
    sim.run_for(3490.0 * S);
    assert_eq!(sim.calls.len(), 6);
    assert_eq!(sim.core.status(sim.now).state, State::Valid);
    sim.run_for(5.0 * S);
    for _ in 0..20 {
        sim.core.wake(sim.now);
        sim.run_for(0.1 * S);
    }
    assert_eq!(sim.calls.len(), 6);
    let first_failure = sim.calls[1].0;
    let gave_up = sim.calls[5].0;
    sim.run_for(40.0 * S);
    assert_eq!(sim.calls.len(), 7);
    let resumed = sim.calls[6].0;
    assert!(
        resumed >= first_failure + 30.0 * S,
        "{}",
        resumed - first_failure
    );
    assert!(resumed <= gave_up + 30.0 * S + S, "{}", resumed - gave_up);
}

#[test]
fn giving_up_without_a_token_announces_no_next_attempt() {
    let policy = RetryPolicy {
        max_attempts: 2,
        base_delay_ms: 100.0,
        max_delay_ms: 1000.0,
    };
    let mut sim = Sim::new(
        Config {
            retry: policy,
            ..cfg()
        },
        3600.0,
    );
    sim.script.extend([status(503), status(503)]);
    sim.core.get(sim.now);
    sim.run_for(S);
    assert_eq!(sim.calls.len(), 2);
    let errors: Vec<TokenError> = sim.errors().into_iter().map(|(_, e)| e).collect();
    assert_eq!(errors.len(), 2);
    assert!(errors[0].retry_at.is_some(), "the retry is announced");
    assert_eq!(
        errors[1].retry_at, None,
        "nothing will resume without a token"
    );
    let st = sim.core.status(sim.now);
    assert_eq!(st.next_attempt_at, None);
    assert_eq!(st.state, State::Empty);
    assert_eq!(st.last_error, Some(ErrorCode::BrokerFailed));
    assert_eq!(sim.core.poll_timeout(sim.now), None);
    sim.run_for(10.0 * S);
    assert_eq!(sim.calls.len(), 2, "and nothing comes");

    // With a token that is due, the give-up pause is announced and kept.
    sim.core.get(sim.now);
    sim.run_for(S);
    assert_eq!(sim.calls.len(), 3);
    sim.script.extend([status(503), status(503)]);
    sim.run_for(3480.0 * S); // the window opens; both attempts fail within ~200 ms
    assert_eq!(sim.calls.len(), 5);
    let (at, last) = match sim.events.last() {
        Some((at, Event::Error(e))) => (*at, e.clone()),
        e => panic!("{e:?}"),
    };
    assert_eq!(last.retry_at, Some(at + 1000.0));
    assert_eq!(sim.core.status(sim.now).next_attempt_at, last.retry_at);
    sim.run_for(S);
    assert_eq!(sim.calls.len(), 6, "the announced attempt comes");
}

#[test]
fn sleeping_past_expiry_renews_at_once_on_wake() {
    let mut sim = Sim::started(cfg(), 3600.0);
    // The device sleeps for 5 h: the wall clock jumps, the page's timers do not run.
    sim.now.wall += 5.0 * H;
    sim.now.mono += 1.0;
    sim.core.tick(sim.now);
    sim.drain();
    assert_eq!(sim.count(|e| *e == Event::Expired), 1);
    assert_eq!(sim.calls.len(), 2);
    assert_eq!(sim.calls[1].1, Reason::Expired);
    assert_eq!(sim.core.status(sim.now).state, State::Renewing);
    sim.run_for(S);
    assert_eq!(sim.core.get(sim.now), Access::Ready);
}

#[test]
fn a_clock_set_backwards_does_not_stretch_the_token() {
    let mut sim = Sim::new(cfg(), 300.0);
    sim.latency = 0.0;
    sim.core.get(sim.now);
    sim.run_for(S);
    sim.now.wall -= 2.0 * H;
    sim.core.tick(sim.now);
    sim.run_for(200.0 * S);
    // Renewal at 180 s of monotonic time, despite the wall clock saying 2 h + 5 min left.
    assert_eq!(sim.calls.len(), 2);
    assert_eq!(sim.calls[1].1, Reason::Scheduled);
}

#[test]
fn token_from_another_tab_supersedes_a_queued_renewal() {
    let mut sim = Sim::new(cfg(), 3600.0);
    assert_eq!(sim.core.get(sim.now), Access::Wait);
    let id = match sim.core.poll() {
        Some(Output::CallBroker { id, .. }) => id,
        o => panic!("{o:?}"),
    };
    let peer = crate::core::parse_stored(
        StoredFields {
            v: Field::Num(1.0),
            p: Field::Missing,
            access_token: Field::Str("peer".into()),
            issued_at: Field::Num(sim.now.wall),
            expires_at: Field::Num(sim.now.wall + H),
        },
        sim.now.wall,
        sim.now.mono,
        None,
    )
    .unwrap();
    assert!(sim.core.external(sim.now, peer.clone()));
    assert!(!sim.core.pending(id));
    assert!(
        !sim.core.begin_send(id, sim.now),
        "the waiting tab does not call the broker"
    );
    sim.drain();
    assert_eq!(sim.settles, vec![Ok(())]);
    assert_eq!(sim.core.get(sim.now), Access::Ready);
    assert!(
        !sim.core.external(sim.now, peer),
        "same token twice is not adopted twice"
    );
}

#[test]
fn forced_refresh_is_not_satisfied_by_an_older_peer_token() {
    let mut sim = Sim::new(cfg(), 3600.0);
    let old = sim.now.wall;
    sim.advance(10.0 * S);
    sim.core.refresh(sim.now);
    let id = match sim.core.poll() {
        Some(Output::CallBroker { id, reason }) => {
            assert_eq!(reason, Reason::Forced);
            id
        }
        o => panic!("{o:?}"),
    };
    let stale = crate::core::parse_stored(
        StoredFields {
            v: Field::Num(1.0),
            p: Field::Missing,
            access_token: Field::Str("peer".into()),
            issued_at: Field::Num(old),
            expires_at: Field::Num(old + H),
        },
        sim.now.wall,
        sim.now.mono,
        None,
    )
    .unwrap();
    assert!(sim.core.external(sim.now, stale));
    assert!(
        sim.core.begin_send(id, sim.now),
        "refresh still calls the broker"
    );
}

#[test]
fn clear_and_destroy_reject_waiters_and_stop_everything() {
    let mut sim = Sim::new(cfg(), 3600.0);
    sim.core.get(sim.now);
    sim.drain();
    sim.core.clear(sim.now, true);
    sim.drain();
    assert_eq!(
        sim.settles[0].as_ref().unwrap_err().code,
        ErrorCode::Cleared
    );
    assert_eq!(sim.count(|e| *e == Event::Cleared), 1);
    sim.run_for(S);
    assert_eq!(sim.core.status(sim.now).state, State::Empty);
    assert!(
        sim.core.token(sim.now).is_none(),
        "the in-flight answer is not adopted"
    );

    sim.core.get(sim.now);
    sim.run_for(S);
    sim.core.destroy();
    sim.drain();
    assert_eq!(sim.core.get(sim.now), Access::Fail(destroyed()));
    assert_eq!(sim.core.refresh(sim.now), Access::Fail(destroyed()));
    assert_eq!(sim.core.poll_timeout(sim.now), None);
    assert_eq!(sim.core.status(sim.now).state, State::Destroyed);
    assert!(
        sim.core.usable(sim.now).is_none(),
        "nothing is handed out after destroy"
    );
}

#[test]
fn invalid_response_is_final_for_the_renewal() {
    let mut sim = Sim::new(cfg(), 3600.0);
    sim.script.push_back(body("has space", 60.0));
    sim.core.get(sim.now);
    sim.run_for(S);
    assert_eq!(sim.calls.len(), 1);
    let e = sim.settles[0].clone().unwrap_err();
    assert_eq!((e.code, e.status), (ErrorCode::InvalidResponse, 200));
    for s in [404, 400, 302] {
        let mut sim = Sim::new(cfg(), 3600.0);
        sim.script.push_back(status(s));
        sim.core.get(sim.now);
        sim.run_for(S);
        assert_eq!(sim.calls.len(), 1, "{s} is not retried");
    }
}

#[test]
fn status_never_holds_the_token() {
    let mut sim = Sim::new(cfg(), 3600.0);
    sim.script.push_back(body("SUPERSECRETTOKENVALUE", 3600.0));
    sim.core.get(sim.now);
    sim.run_for(S);
    let st = sim.core.status(sim.now);
    assert_eq!(st.state, State::Valid);
    assert!(!format!("{st:?}").contains("SECRET"));
    assert!(!format!("{:?}", sim.core).contains("SECRET"));
}

#[test]
fn restored_token_is_used_without_a_broker_call() {
    let mut sim = Sim::new(cfg(), 3600.0);
    let t = crate::core::parse_stored(
        StoredFields {
            v: Field::Num(1.0),
            p: Field::Missing,
            access_token: Field::Str("stored".into()),
            issued_at: Field::Num(sim.now.wall - 1000.0 * S),
            expires_at: Field::Num(sim.now.wall + 2600.0 * S),
        },
        sim.now.wall,
        sim.now.mono,
        None,
    )
    .unwrap();
    assert!(sim.core.restore(sim.now, t));
    assert_eq!(sim.core.get(sim.now), Access::Ready);
    sim.run_for(2600.0 * S);
    assert_eq!(sim.calls.len(), 1, "renewed on schedule");
    assert!((sim.calls[0].0 - (sim.now.wall - 2600.0 * S + 2480.0 * S)).abs() < 1.0);
}

#[cfg(not(target_arch = "wasm32"))]
mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Step {
        Run(f64),
        Get,
        Refresh,
        Fail(u8),
        SleepWall(f64),
        WallBack(f64),
        Wake,
        Clear,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (1.0..7200.0f64).prop_map(|s| Step::Run(s * S)),
            Just(Step::Get),
            Just(Step::Refresh),
            (0u8..8).prop_map(Step::Fail),
            (1.0..20000.0f64).prop_map(|s| Step::SleepWall(s * S)),
            (1.0..7200.0f64).prop_map(|s| Step::WallBack(s * S)),
            Just(Step::Wake),
            Just(Step::Clear),
        ]
    }

    fn failure(k: u8) -> Reply {
        match k {
            0 => status(503),
            1 => status(429),
            2 => Reply::Network,
            3 => Reply::Timeout,
            4 => status(500),
            5 => Reply::Status {
                status: 429,
                retry_after: Some("3".into()),
            },
            6 => body("bad token", 10.0),
            _ => status(401),
        }
    }

    /// Any broker answer at all, with a lifetime from absurd to sane.
    fn answer() -> impl Strategy<Value = Reply> {
        prop_oneof![
            prop::sample::select(vec![1e-9, 0.01, 0.5, 1.9, 2.0, 2.5, 5.0, 60.0, 3600.0])
                .prop_map(|secs| body("tok", secs)),
            (0u8..8).prop_map(failure),
            Just(status(404)),
            Just(Reply::Body {
                status: 200,
                fields: None
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        /// The failure budget: whatever the broker answers (and however often the page wakes),
        /// an idle page makes at most `max_attempts` failed calls per `max_delay_ms`,
        /// and after a usable token the next call waits for its renewal point (≥ 1 s:
        /// no token under 2 s is adopted).
        #[test]
        fn no_broker_answer_makes_a_storm(
            answers in proptest::collection::vec(answer(), 1..200),
            latency in 0.0..3000.0f64,
            wakes in proptest::collection::vec(0.0..600.0f64, 0..30),
            attempts in 1u32..6,
            seed in any::<u64>(),
        ) {
            let c = Config { retry: RetryPolicy { max_attempts: attempts, ..RetryPolicy::default() }, ..cfg() };
            let window = c.retry.max_delay_ms;
            let mut sim = Sim::new(c.clone(), 3600.0);
            sim.core = Lifecycle::new(c, seed);
            sim.latency = latency;
            sim.script.extend(answers);
            sim.core.get(sim.now);
            let start = sim.now.wall;
            let mut wakes = wakes;
            wakes.sort_by(f64::total_cmp);
            for w in wakes {
                let at = start + w * S;
                if at > sim.now.wall { sim.run_for(at - sim.now.wall); }
                sim.core.wake(sim.now);
            }
            sim.run_for(start + 600.0 * S - sim.now.wall);
            let fails: Vec<f64> = sim.errors().into_iter().map(|(at, _)| at).collect();
            for (i, &t) in fails.iter().enumerate() {
                let within = fails[i..].iter().take_while(|&&u| u < t + window).count();
                prop_assert!(within as u32 <= attempts, "{} failed calls within {} ms", within, window);
            }
            for pair in sim.calls.windows(2) {
                prop_assert!(pair[1].0 > pair[0].0, "two calls at one instant");
            }
            prop_assert!(sim.calls.len() < 600 * 2 + 20, "{} calls in 10 minutes", sim.calls.len());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// Healthy broker, any lifetime and renewBefore: exactly one call per lifetime.
        #[test]
        fn healthy_case_one_call_per_lifetime(life in 2u32..100_000, before in 1u32..600, n in 1u32..20) {
            let life = life as f64;
            let mut sim = Sim::new(Config { renew_before_ms: before as f64 * S, ..cfg() }, life);
            sim.latency = 0.0;
            sim.core.get(sim.now);
            let period = life - (before as f64).min(life / 2.0).max((life / 4.0).min(10.0));
            sim.run_for(period * S * n as f64 + period * S / 2.0);
            prop_assert_eq!(sim.calls.len() as u32, n + 1);
            prop_assert_eq!(sim.count(|e| *e == Event::Expired), 0);
        }

        /// Any mix of clock moves, failures and app calls: the loop always progresses,
        /// delays stay within bounds, and once the broker is healthy and the app asks,
        /// a usable token arrives.
        #[test]
        fn no_state_wedges(life in 2u32..20_000, steps in proptest::collection::vec(step(), 1..40), seed in any::<u64>()) {
            let mut sim = Sim::new(cfg(), life as f64);
            sim.core = Lifecycle::new(cfg(), seed);
            for s in steps {
                match s {
                    Step::Run(d) => {
                        // No hot loop: healthy renewals come at most once per half
                        // lifetime, failed calls at most maxAttempts per maxDelayMs.
                        let before = sim.calls.len();
                        sim.run_for(d);
                        let period = (life as f64 * S / 2.0 - sim.latency).max(1.0);
                        let budget = cfg().retry.max_attempts as f64 * (d / cfg().retry.max_delay_ms + 2.0);
                        let made = (sim.calls.len() - before) as f64;
                        prop_assert!(made <= d / period + 2.0 + budget, "{} calls in {} ms", made, d);
                    }
                    Step::Get => { let _ = sim.core.get(sim.now); }
                    Step::Refresh => { let _ = sim.core.refresh(sim.now); }
                    Step::Fail(k) => sim.script.push_back(failure(k)),
                    Step::SleepWall(d) => { sim.now.wall += d; sim.core.tick(sim.now); }
                    Step::WallBack(d) => { sim.now.wall -= d; sim.core.tick(sim.now); }
                    Step::Wake => sim.core.wake(sim.now),
                    Step::Clear => sim.core.clear(sim.now, true),
                }
                sim.drain();
                if let Some(d) = sim.core.poll_timeout(sim.now) {
                    prop_assert!(d >= 0.0);
                }
            }
            sim.script.clear();
            sim.run_for(40.0 * S);
            let _ = sim.core.get(sim.now);
            sim.run_for(40.0 * S);
            prop_assert!(sim.core.usable(sim.now).is_some() || sim.core.token(sim.now).is_some(),
                "healthy broker + app asking yields a token: {:?}", sim.core.status(sim.now));
        }

        /// Backoff delays stay in [0, min(max, base·2^(n−1))] and honour Retry-After.
        #[test]
        fn backoff_bounds(failures in 1u32..64, unit in 0.0..1.0f64, ra in proptest::option::of(0.0..1e9f64)) {
            let p = RetryPolicy::default();
            let d = p.delay(failures, unit, ra);
            prop_assert!(d >= 0.0 && d <= p.max_delay_ms);
            if let Some(ra) = ra { prop_assert!(d >= ra.min(p.max_delay_ms)); }
            else { prop_assert!(d <= (p.base_delay_ms * 2f64.powi(failures as i32 - 1)).min(p.max_delay_ms)); }
        }

        /// The response validator never panics, whatever the fields hold.
        #[test]
        fn parser_never_panics(tok in ".{0,40}", ty in ".{0,10}", num in any::<f64>(), st in ".{0,12}", which in 0u8..4) {
            let exp = match which { 0 => Field::Num(num), 1 => Field::Str(st), 2 => Field::Other, _ => Field::Missing };
            let _ = crate::core::parse_response(ResponseFields {
                access_token: Field::Str(tok), token_type: Field::Str(ty), expires_in: exp }, 0.0, 0.0);
        }

        /// Retry-After parsing never panics and never yields a negative delay.
        #[test]
        fn retry_after_never_negative(v in ".{0,40}", now in 0.0..4e12f64) {
            if let Some(ms) = crate::core::parse_retry_after(&v, now) { prop_assert!(ms >= 0.0); }
        }
    }
}

#[test]
fn clear_emits_cleared_only_when_there_was_something_to_clear() {
    let mut sim = Sim::new(cfg(), 3600.0);
    sim.core.clear(sim.now, true);
    sim.core.clear(sim.now, false);
    sim.drain();
    assert_eq!(sim.count(|e| *e == Event::Cleared), 0);
    sim.core.get(sim.now);
    sim.run_for(S);
    sim.core.clear(sim.now, true);
    sim.core.clear(sim.now, true);
    sim.drain();
    assert_eq!(sim.count(|e| *e == Event::Cleared), 1);
}

#[test]
fn a_token_unusable_on_arrival_is_refused_and_starts_nothing() {
    // 3 s token, answered after 2.5 s: 0.5 s left, under its 0.75 s floor.
    let mut sim = Sim::new(cfg(), 3.0);
    sim.latency = 2500.0;
    sim.core.get(sim.now);
    sim.run_for(60.0 * S);
    assert_eq!(sim.calls.len(), 1, "no storm");
    let errors = sim.errors();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].1.code, ErrorCode::InvalidResponse);
    assert_eq!(errors[0].1.status, 200);
    assert_eq!(sim.settles.len(), 1);
    assert!(sim.core.token(sim.now).is_none());
}

#[test]
fn a_far_expiry_from_another_tab_never_blocks_later_real_tokens() {
    let mut sim = Sim::started(cfg(), 3600.0);
    let entry = |issued: f64, expires: f64| StoredFields {
        v: Field::Num(1.0),
        p: Field::Missing,
        access_token: Field::Str("peer".into()),
        issued_at: Field::Num(issued),
        expires_at: Field::Num(expires),
    };
    let now = sim.now;
    // Forged: a 40-day expiry, or issued a minute from now. Refused at the door.
    assert!(sim
        .core
        .entry(entry(now.wall, now.wall + 40.0 * 86_400.0 * S), now)
        .is_none());
    assert!(sim
        .core
        .entry(entry(now.wall + 60.0 * S, now.wall + H), now)
        .is_none());
    // The most a forger gets through: 30 days, issued now. A real token issued after
    // it still wins, although it expires far sooner.
    let forged = sim
        .core
        .entry(entry(now.wall, now.wall + 30.0 * 86_400.0 * S), now)
        .unwrap();
    assert!(sim.core.external(now, forged));
    sim.advance(S);
    let real = sim
        .core
        .entry(entry(sim.now.wall - 10.0, sim.now.wall + H), sim.now)
        .unwrap();
    assert!(sim.core.external(sim.now, real));
    assert_eq!(
        sim.core.token(sim.now).unwrap().expires_at,
        sim.now.wall + H
    );
}

#[test]
fn entries_of_another_participant_are_never_adopted() {
    let ada = Config {
        identity: Some("ada".into()),
        ..cfg()
    };
    let sim = Sim::new(ada, 3600.0);
    let now = sim.now;
    let entry = |p: Field| StoredFields {
        v: Field::Num(1.0),
        p,
        access_token: Field::Str("peer".into()),
        issued_at: Field::Num(now.wall),
        expires_at: Field::Num(now.wall + H),
    };
    assert!(sim
        .core
        .entry(entry(Field::Str("ada".into())), now)
        .is_some());
    assert!(sim
        .core
        .entry(entry(Field::Str("ben".into())), now)
        .is_none());
    assert!(sim.core.entry(entry(Field::Missing), now).is_none());
    assert!(sim.core.is_ours(&Field::Str("ada".into())));
    assert!(!sim.core.is_ours(&Field::Missing));
    let anon = Sim::new(cfg(), 3600.0);
    assert!(anon
        .core
        .entry(entry(Field::Str("ada".into())), now)
        .is_none());
    assert!(anon.core.is_ours(&Field::Missing));
}

#[test]
fn reuse_until_stops_at_the_next_second_and_at_the_window() {
    let mut sim = Sim::new(cfg(), 3600.0);
    sim.latency = 0.0;
    sim.core.get(sim.now);
    sim.run_for(250.0);
    // 3599.75 s left: the object's expires_in (3599) holds for 750 ms.
    assert_eq!(sim.core.reuse_until(sim.now), Some(sim.now.wall + 750.0));
    // 20 ms before the renewal window opens, reuse ends there.
    sim.advance(3480.0 * S - 250.0 - 20.0);
    assert_eq!(sim.core.reuse_until(sim.now), Some(sim.now.wall + 20.0));
    // Inside the window with no renewal under way: never reuse (get() must start one).
    sim.advance(40.0);
    assert_eq!(sim.core.reuse_until(sim.now), None);
    assert_eq!(sim.core.get(sim.now), Access::Ready);
    // With the renewal under way, reuse again up to the next second.
    assert!(sim.core.reuse_until(sim.now).is_some());
    sim.core.destroy();
    assert_eq!(sim.core.reuse_until(sim.now), None);
}

#[test]
fn a_failed_refresh_far_from_expiry_schedules_nothing_extra() {
    let mut sim = Sim::started(cfg(), 3600.0);
    sim.script.push_back(status(404));
    sim.core.refresh(sim.now);
    sim.run_for(S);
    assert_eq!(sim.calls.len(), 2);
    let st = sim.core.status(sim.now);
    assert_eq!((st.state, st.next_attempt_at), (State::Valid, None));
    // Nothing until the token's own renewal point, 3480 s after it was issued.
    sim.run_for(3400.0 * S);
    assert_eq!(sim.calls.len(), 2);
    sim.run_for(100.0 * S);
    assert_eq!(sim.calls.len(), 3);
    assert_eq!(sim.calls[2].1, Reason::Scheduled);
}

#[test]
fn every_adopted_token_has_a_new_generation_even_within_one_millisecond() {
    let mut sim = Sim::new(cfg(), 3600.0);
    sim.latency = 0.0;
    sim.core.get(sim.now);
    sim.drain();
    let g0 = sim.core.generation();
    sim.run_for(0.0);
    let g1 = sim.core.generation();
    sim.core.refresh(sim.now);
    sim.run_for(0.0); // same millisecond, same expires_in: same times, another token
    let g2 = sim.core.generation();
    assert!(g0 < g1 && g1 < g2, "{g0} {g1} {g2}");
    assert_eq!(sim.calls.len(), 2);
    assert_eq!(sim.calls[0].0, sim.calls[1].0);
}

/// Found by the multi-tab simulator (seed 136): a tab's broadcast of a token issued
/// before a logout, delivered after it, brought the token back in the tab that logged
/// out. A clear refuses every token issued before it.
#[test]
fn a_token_issued_before_a_clear_is_never_adopted_after_it() {
    let mut sim = Sim::started(cfg(), 3600.0);
    let old = sim.core.token(sim.now).unwrap().clone();
    let mut late = old.clone();
    late.issued_at += 1.0; // newer than ours, still issued before the clear
    sim.advance(5.0);
    sim.core.clear(sim.now, true);
    sim.drain();
    sim.advance(5.0);
    assert!(
        !sim.core.external(sim.now, late.clone()),
        "resurrected by a late broadcast"
    );
    assert!(sim.core.token(sim.now).is_none());
    // Heard from another tab, too.
    let mut other = Sim::started(cfg(), 3600.0);
    other.core.clear(other.now, false);
    assert!(!other.core.external(other.now, late));
    // Nor one sent just after it by a tab that had not heard of it yet (seed 637)...
    let mut early = old.clone();
    early.issued_at = sim.now.wall + 1.0;
    assert!(!sim.core.external(sim.now, early));
    // ...but one of the next sign-in is adopted.
    let mut next = old;
    next.issued_at = sim.now.wall + CLEAR_GRACE_MS + 1.0;
    sim.advance(CLEAR_GRACE_MS + 2.0);
    assert!(sim.core.external(sim.now, next));
}

// Tests added for mutation testing (`npm run mutants`): each pins behaviour that a
// surviving mutant changed.

/// A token from another tab, issued and expiring at these wall times.
fn peer_token(now: Now, issued: f64, expires: f64) -> Token {
    crate::core::parse_stored(
        StoredFields {
            v: Field::Num(1.0),
            p: Field::Missing,
            access_token: Field::Str("peer".into()),
            issued_at: Field::Num(issued),
            expires_at: Field::Num(expires),
        },
        now.wall,
        now.mono,
        None,
    )
    .unwrap()
}

#[test]
fn reason_and_state_strings_are_the_documented_ones() {
    // index.d.ts: RenewalReason and TokenState.
    for (r, s) in [
        (Reason::Initial, "initial"),
        (Reason::Scheduled, "scheduled"),
        (Reason::Forced, "forced"),
        (Reason::Expired, "expired"),
    ] {
        assert_eq!(r.as_str(), s);
    }
    for (st, s) in [
        (State::Empty, "empty"),
        (State::Valid, "valid"),
        (State::Renewing, "renewing"),
        (State::Backoff, "backoff"),
        (State::Expired, "expired"),
        (State::Destroyed, "destroyed"),
    ] {
        assert_eq!(st.as_str(), s);
    }
}

#[test]
fn a_token_is_expired_at_its_exact_expiry() {
    let mut sim = Sim::started(
        Config {
            auto_refresh: false,
            ..cfg()
        },
        3600.0,
    );
    // Sent at 0: it expires at 3600 s.
    sim.advance(3599.0 * S - 1.0);
    assert!(sim.core.token(sim.now).is_some());
    assert_eq!(sim.core.status(sim.now).state, State::Valid);
    sim.advance(1.0);
    assert!(sim.core.token(sim.now).is_none());
    let st = sim.core.status(sim.now);
    assert_eq!(
        (st.state, st.expires_in, st.expires_at),
        (State::Expired, None, None)
    );
}

#[test]
fn a_destroyed_lifecycle_says_so_and_adopts_no_peer_token() {
    let mut sim = Sim::started(cfg(), 3600.0);
    assert!(!sim.core.is_destroyed());
    let peer = peer_token(sim.now, sim.now.wall, sim.now.wall + H);
    sim.core.destroy();
    assert!(sim.core.is_destroyed());
    assert!(!sim.core.external(sim.now, peer));
    assert!(sim.core.usable(sim.now).is_none());
}

#[test]
fn an_expired_peer_token_is_not_adopted() {
    let mut sim = Sim::new(cfg(), 3600.0);
    let peer = peer_token(sim.now, sim.now.wall - H, sim.now.wall + S);
    sim.advance(2.0 * S);
    assert!(!sim.core.external(sim.now, peer));
    sim.drain();
    assert!(sim.events.is_empty() && sim.settles.is_empty());
    assert_eq!(sim.core.status(sim.now).state, State::Empty);
}

#[test]
fn only_the_current_queued_call_is_sent_and_counted() {
    let mut sim = Sim::new(cfg(), 3600.0);
    sim.core.get(sim.now);
    let id = match sim.core.poll() {
        Some(Output::CallBroker { id, .. }) => id,
        o => panic!("{o:?}"),
    };
    assert!(!sim.core.pending(id + 1));
    assert!(!sim.core.begin_send(id + 1, sim.now), "an id never issued");
    assert_eq!(sim.core.status(sim.now).broker_calls, 0);
    assert!(sim.core.begin_send(id, sim.now));
    assert!(!sim.core.pending(id));
    assert!(!sim.core.begin_send(id, sim.now), "sent once");
    assert_eq!(sim.core.status(sim.now).broker_calls, 1);
    // The retry is another call with another id; the first one's id is refused.
    sim.core.reply(id, sim.now, status(503));
    let wait = sim.core.poll_timeout(sim.now).unwrap();
    sim.advance(wait);
    sim.core.tick(sim.now);
    let retry = loop {
        match sim.core.poll() {
            Some(Output::CallBroker { id, .. }) => break id,
            Some(_) => {}
            None => panic!("no retry"),
        }
    };
    assert_ne!(retry, id);
    assert!(sim.core.pending(retry));
    assert!(!sim.core.begin_send(id, sim.now), "the superseded id");
    assert_eq!(sim.core.status(sim.now).broker_calls, 1);
    assert!(sim.core.begin_send(retry, sim.now));
    assert_eq!(sim.core.status(sim.now).broker_calls, 2);
}

#[test]
fn a_token_with_exactly_its_floor_left_on_arrival_is_adopted() {
    // 3 s token (floor 0.75 s) answered after 2.25 s: 0.75 s left, as usable() allows.
    let mut sim = Sim::new(
        Config {
            auto_refresh: false,
            ..cfg()
        },
        3.0,
    );
    sim.latency = 2250.0;
    sim.core.get(sim.now);
    sim.run_for(2250.0);
    assert_eq!(sim.settles, vec![Ok(())]);
    assert!(sim.core.usable(sim.now).is_some());
    assert!(sim.errors().is_empty());
}

#[test]
fn reuse_until_holds_in_a_give_up_pause_and_ends_at_the_floor_or_a_whole_second() {
    // At a whole second left, the next millisecond shows another expires_in: no reuse.
    let mut sim = Sim::new(cfg(), 3600.0);
    sim.latency = 0.0;
    sim.core.get(sim.now);
    sim.run_for(S);
    assert_eq!(sim.core.reuse_until(sim.now), None);
    sim.advance(1.0);
    assert_eq!(sim.core.reuse_until(sim.now), Some(sim.now.wall + 999.0));

    // Paused after giving up inside the window: get() starts nothing, so the object
    // is reused up to the next whole second.
    let one = Config {
        retry: RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        },
        ..cfg()
    };
    let mut sim = Sim::started(one, 3600.0);
    sim.latency = 0.0;
    sim.script.push_back(Reply::Network);
    sim.run_for(3479.0 * S + 250.0); // the window opened at 3480 s; 119.75 s left
    assert_eq!(sim.calls.len(), 2);
    assert!(sim.core.status(sim.now).next_attempt_at.is_some(), "paused");
    assert_eq!(sim.core.reuse_until(sim.now), Some(sim.now.wall + 750.0));
    assert_eq!(sim.core.get(sim.now), Access::Ready);
    sim.run_for(0.0);
    assert_eq!(sim.calls.len(), 2, "get() in the pause starts nothing");

    // A 6 s token (floor 1.5 s, window 3 s) whose renewal is under way: reuse ends
    // where the token falls under its floor, before the next whole second.
    let mut sim = Sim::new(cfg(), 6.0);
    sim.latency = 0.0;
    sim.core.get(sim.now);
    sim.run_for(0.0);
    sim.latency = 10.0 * S;
    sim.run_for(4100.0); // renewal sent at 3 s, still in flight; 1.9 s left
    assert_eq!(sim.calls.len(), 2);
    assert_eq!(sim.core.reuse_until(sim.now), Some(sim.now.wall + 400.0));
}

#[test]
fn wake_ends_a_give_up_pause_once_the_failure_budget_allows() {
    let policy = RetryPolicy {
        max_attempts: 2,
        base_delay_ms: 500.0,
        max_delay_ms: 30_000.0,
    };
    let mut sim = Sim::started(
        Config {
            retry: policy,
            ..cfg()
        },
        3600.0,
    );
    let wall0 = sim.now.wall - sim.now.mono;
    sim.latency = 0.0;
    sim.script.extend([
        Reply::Status {
            status: 503,
            retry_after: Some("20".into()),
        },
        Reply::Network,
    ]);
    // The window opens at 3480 s: a failure then, the retry 20 s later fails too and
    // the renewal gives up until 3530 s. The budget (2 failures per 30 s) frees at 3510 s.
    sim.run_for(3514.0 * S);
    assert_eq!(sim.calls.len(), 3);
    assert_eq!(
        sim.core.status(sim.now).next_attempt_at,
        Some(wall0 + 3530.0 * S)
    );
    sim.core.wake(sim.now);
    sim.run_for(S);
    assert_eq!(sim.calls.len(), 4, "the wake resumed the renewal");
    assert_eq!(sim.calls[3].0, wall0 + 3515.0 * S);
    assert!(sim.core.usable(sim.now).is_some());
}

#[test]
fn an_older_peer_token_replaces_ours_the_moment_ours_expires() {
    let mut sim = Sim::started(
        Config {
            auto_refresh: false,
            ..cfg()
        },
        3600.0,
    );
    let ours = sim.core.token(sim.now).unwrap().clone();
    // Issued before ours, but for two hours.
    let peer = peer_token(sim.now, ours.issued_at - S, ours.issued_at - S + 2.0 * H);
    assert!(!sim.core.external(sim.now, peer.clone()), "ours is newer");
    sim.advance(ours.expires_at - sim.now.wall);
    assert!(sim.core.token(sim.now).is_none(), "ours just expired");
    assert!(sim.core.external(sim.now, peer));
    assert_eq!(
        sim.core.token(sim.now).unwrap().expires_at,
        ours.issued_at - S + 2.0 * H
    );
}

#[test]
fn restore_takes_only_a_live_token_into_an_empty_lifecycle() {
    let mut sim = Sim::new(cfg(), 3600.0);
    let expired = peer_token(sim.now, sim.now.wall - H, sim.now.wall + S);
    let live = peer_token(sim.now, sim.now.wall, sim.now.wall + H);
    let later = peer_token(sim.now, sim.now.wall + S, sim.now.wall + 2.0 * H);
    sim.advance(2.0 * S);
    assert!(!sim.core.restore(sim.now, expired), "expired");
    assert!(sim.core.token(sim.now).is_none());
    assert!(sim.core.restore(sim.now, live));
    assert!(
        !sim.core.restore(sim.now, later),
        "a token is there already"
    );
    assert_eq!(
        sim.core.token(sim.now).unwrap().expires_at,
        sim.now.wall - 2.0 * S + H
    );
    let mut fresh = Sim::new(cfg(), 3600.0);
    fresh.core.destroy();
    let t = peer_token(fresh.now, fresh.now.wall, fresh.now.wall + H);
    assert!(!fresh.core.restore(fresh.now, t), "destroyed");
}

#[test]
fn status_tells_when_renewal_is_due_and_when_a_retry_comes() {
    let mut sim = Sim::new(cfg(), 3600.0);
    sim.latency = 0.0;
    sim.core.get(sim.now);
    sim.run_for(10.0 * S);
    let sent = sim.calls[0].0;
    let st = sim.core.status(sim.now);
    assert_eq!(st.renew_at, Some(sent + 3480.0 * S));
    assert_eq!(st.expires_at, Some(sent + 3600.0 * S));
    // The wall clock set back an hour: renewal still comes after 3480 s of real time,
    // which the wall clock now reads an hour earlier.
    sim.now.wall -= H;
    let st = sim.core.status(sim.now);
    assert_eq!(st.renew_at, Some(sent + 3480.0 * S - H));
    // In a backoff wait, next_attempt_at is the retry the error announced.
    let mut sim = Sim::new(cfg(), 3600.0);
    sim.latency = 0.0;
    sim.script.push_back(Reply::Status {
        status: 503,
        retry_after: Some("5".into()),
    });
    sim.core.get(sim.now);
    sim.run_for(S);
    let st = sim.core.status(sim.now);
    let announced = sim.errors()[0].1.retry_at;
    assert_eq!(st.state, State::Backoff);
    assert_eq!(st.next_attempt_at, announced);
    assert!(announced.unwrap() >= sim.calls[0].0 + 5.0 * S);
}

#[test]
fn an_answer_to_a_call_from_before_a_clear_is_not_adopted() {
    let mut sim = Sim::new(cfg(), 3600.0);
    sim.core.get(sim.now);
    let first = match sim.core.poll() {
        Some(Output::CallBroker { id, .. }) => id,
        o => panic!("{o:?}"),
    };
    assert!(sim.core.begin_send(first, sim.now));
    sim.core.clear(sim.now, true);
    sim.core.get(sim.now);
    sim.drain(); // the new call goes out
    assert_eq!(sim.calls.len(), 1);
    sim.core.reply(first, sim.now, body("before-clear", 3600.0));
    assert!(
        sim.core.token(sim.now).is_none(),
        "the old answer is ignored"
    );
    sim.run_for(S);
    assert_eq!(sim.core.token(sim.now).unwrap().access.secret(), "tok1");
}

#[test]
fn a_peer_token_already_due_does_not_end_a_queued_renewal() {
    let mut sim = Sim::new(cfg(), 3600.0);
    assert_eq!(sim.core.get(sim.now), Access::Wait);
    let id = match sim.core.poll() {
        Some(Output::CallBroker { id, .. }) => id,
        o => panic!("{o:?}"),
    };
    // A one-hour token with exactly its 120 s window left: due for renewal already.
    let due = peer_token(sim.now, sim.now.wall - 3480.0 * S, sim.now.wall + 120.0 * S);
    assert!(sim.core.external(sim.now, due));
    assert!(sim.core.pending(id), "the renewal goes on");
    assert!(sim.core.begin_send(id, sim.now));
}

#[test]
fn a_peer_token_does_not_cut_short_a_request_already_sent() {
    let mut sim = Sim::new(cfg(), 3600.0);
    sim.core.get(sim.now);
    let id = match sim.core.poll() {
        Some(Output::CallBroker { id, .. }) => id,
        o => panic!("{o:?}"),
    };
    assert!(sim.core.begin_send(id, sim.now));
    let fresh = peer_token(sim.now, sim.now.wall, sim.now.wall + H);
    assert!(sim.core.external(sim.now, fresh));
    assert_eq!(sim.core.status(sim.now).state, State::Renewing);
    sim.advance(50.0);
    sim.core.reply(id, sim.now, body("from-broker", 3600.0));
    assert_eq!(
        sim.core.token(sim.now).unwrap().access.secret(),
        "from-broker",
        "the broker's answer, newer, is adopted"
    );
}

#[test]
fn a_token_that_expires_in_a_give_up_pause_shows_backoff() {
    // 20 s token: renewal due at 10 s, fails once (max_attempts 1), pause until 40 s.
    let one = Config {
        retry: RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        },
        ..cfg()
    };
    let mut sim = Sim::new(one, 20.0);
    sim.latency = 0.0;
    sim.core.get(sim.now);
    sim.run_for(0.0);
    sim.script.push_back(Reply::Network);
    sim.run_for(25.0 * S);
    assert_eq!(sim.calls.len(), 2);
    assert!(sim.core.token(sim.now).is_none(), "expired at 20 s");
    let st = sim.core.status(sim.now);
    assert_eq!(st.state, State::Backoff);
    assert!(st.next_attempt_at.is_some());
}

#[test]
fn a_renewal_started_with_exactly_the_floor_left_is_scheduled_not_expired() {
    let mut sim = Sim::new(cfg(), 3600.0);
    // One hour, 10 s (the floor) left: still usable, so not yet "expired".
    let t = peer_token(sim.now, sim.now.wall - 3590.0 * S, sim.now.wall + 10.0 * S);
    assert!(sim.core.restore(sim.now, t));
    assert!(sim.core.usable(sim.now).is_some());
    let reason = loop {
        match sim.core.poll() {
            Some(Output::CallBroker { reason, .. }) => break reason,
            Some(_) => {}
            None => panic!("no renewal started"),
        }
    };
    assert_eq!(reason, Reason::Scheduled);
}

#[test]
fn a_settlement_performed_after_the_token_fell_under_the_floor_is_refused() {
    let mut sim = Sim::started(cfg(), 3600.0);
    let now = sim.now;
    assert_eq!(sim.core.settled(Ok(()), now), Ok(()));
    let e = TokenError::new(ErrorCode::Cleared, "the token was cleared");
    assert_eq!(sim.core.settled(Err(e.clone()), now).unwrap_err(), e);
    // Just under the floor, as a slow page wrapper may leave it.
    let floor = MIN_VALID_MS;
    let left = sim.core.usable(now).unwrap().remaining(now.wall, now.mono);
    sim.advance(left - floor + 1.0);
    let e = sim.core.settled(Ok(()), sim.now).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidResponse);
    assert_eq!(e.detail, "the broker's token expired on arrival");
    sim.advance(-1.0);
    assert!(sim.core.settled(Ok(()), sim.now).is_ok());
}
