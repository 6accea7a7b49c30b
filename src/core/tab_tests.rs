//! Tab tests that pin single steps of the cross-tab attempt (the simulator in
//! `sim_tests.rs` checks the properties over many tabs and seeds).

use super::*;
use crate::core::fixtures::{at, ok, WALL0};
use crate::core::{Access, Config, Event, Field, Reason, Reply, Storage};
use std::vec::Vec;

fn all() -> Env {
    Env {
        channel: true,
        locks: true,
        presence: true,
    }
}

fn tab(env: Env) -> Tab {
    let cfg = Config {
        identity: Some("ada".into()),
        ..Config::default()
    };
    Tab::new(cfg, env, 3)
}

fn drain(t: &mut Tab) -> Vec<Action> {
    core::iter::from_fn(|| t.poll()).collect()
}

fn msg(kind: Kind, nonce: Option<f64>, from: &str) -> Incoming {
    Incoming {
        kind,
        p: Field::Str("ada".into()),
        entry: None,
        nonce,
        from: Some(from.into()),
    }
}

fn nonce_of(actions: &[Action]) -> f64 {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Post(Msg {
                kind: Kind::Ask,
                nonce: Some(n),
            }) => Some(*n),
            _ => None,
        })
        .expect("an Ask")
}

#[test]
fn a_manager_with_a_participant_says_hello_one_without_does_not() {
    let mut t = tab(all());
    t.start(at(0.0));
    assert_eq!(
        drain(&mut t),
        [Action::Post(Msg {
            kind: Kind::Hello,
            nonce: None
        })]
    );
    let mut anon = Tab::new(Config::default(), all(), 3);
    anon.start(at(0.0));
    assert_eq!(drain(&mut anon), []);
    // Without a channel nothing is posted at all.
    let mut alone = tab(Env::default());
    alone.start(at(0.0));
    assert_eq!(drain(&mut alone), []);
}

#[test]
fn the_attempt_locks_lists_asks_waits_for_every_listed_peer_then_sends_and_unlocks_last() {
    let mut t = tab(all());
    assert_eq!(t.get(at(0.0)), Access::Wait);
    assert_eq!(drain(&mut t), [Action::Lock(1)]);
    t.lock_granted(1, at(5.0));
    assert_eq!(drain(&mut t), [Action::CountPeers(1)]);
    t.peers(1, Some(vec!["b".into(), "c".into()]), at(6.0));
    let n = nonce_of(&drain(&mut t));
    // A tab that was not listed answers: not waited for.
    t.message(msg(Kind::None, Some(n), "z"), at(7.0));
    t.message(msg(Kind::None, Some(n), "b"), at(8.0));
    // An answer to another question does not count.
    t.message(msg(Kind::None, Some(n + 1.0), "c"), at(9.0));
    assert!(drain(&mut t).iter().all(|a| !matches!(a, Action::Send(..))));
    t.message(msg(Kind::None, Some(n), "c"), at(10.0));
    let out = drain(&mut t);
    assert!(out.contains(&Action::Send(1, Reason::Initial)), "{out:?}");
    t.reply(1, at(50.0), ok(3600.0));
    let out = drain(&mut t);
    let post = out
        .iter()
        .position(|a| {
            matches!(
                a,
                Action::Post(Msg {
                    kind: Kind::Token,
                    ..
                })
            )
        })
        .expect("broadcast");
    let unlock = out
        .iter()
        .position(|a| *a == Action::Unlock(1))
        .expect("unlock");
    assert!(post < unlock, "the lock goes after the broadcast: {out:?}");
    assert!(out.contains(&Action::Settle(Ok(()))));
    assert_eq!(t.poll_timeout(at(50.0)), Some(MAX_SLEEP_MS));
}

#[test]
fn a_lone_tab_sends_at_once_and_an_unlisted_crowd_gets_a_quarter_second() {
    let mut t = tab(all());
    t.get(at(0.0));
    t.lock_granted(1, at(1.0));
    t.peers(1, Some(Vec::new()), at(2.0));
    assert!(drain(&mut t).contains(&Action::Send(1, Reason::Initial)));

    let mut t = tab(all());
    t.get(at(0.0));
    t.lock_granted(1, at(1.0));
    t.peers(1, None, at(2.0));
    drain(&mut t);
    assert_eq!(t.poll_timeout(at(2.0)), Some(PEER_WAIT_MS));
    t.handle_timeout(at(2.0 + PEER_WAIT_MS));
    assert!(drain(&mut t).contains(&Action::Send(1, Reason::Initial)));
}

#[test]
fn a_listed_peer_that_never_answers_holds_the_attempt_two_seconds_at_most() {
    let mut t = tab(all());
    t.get(at(0.0));
    t.lock_granted(1, at(0.0));
    t.peers(1, Some(vec!["frozen".into()]), at(0.0));
    drain(&mut t);
    assert_eq!(t.poll_timeout(at(0.0)), Some(COUNTED_PEER_WAIT_MS));
    t.handle_timeout(at(COUNTED_PEER_WAIT_MS - 1.0));
    assert!(!drain(&mut t).iter().any(|a| matches!(a, Action::Send(..))));
    t.handle_timeout(at(COUNTED_PEER_WAIT_MS));
    assert!(drain(&mut t).contains(&Action::Send(1, Reason::Initial)));
}

#[test]
fn a_peer_token_during_the_wait_ends_the_attempt_without_a_call() {
    let mut t = tab(all());
    t.get(at(0.0));
    t.lock_granted(1, at(0.0));
    t.peers(1, Some(vec!["b".into()]), at(0.0));
    let n = nonce_of(&drain(&mut t));
    let mut m = msg(Kind::Token, Some(n), "b");
    m.entry = Some(StoredFields {
        p: Field::Str("ada".into()),
        v: Field::Num(STORE_VERSION),
        access_token: Field::Str("peer".into()),
        issued_at: Field::Num(WALL0 - 10.0),
        expires_at: Field::Num(WALL0 + 3_600_000.0),
    });
    t.message(m, at(20.0));
    let out = drain(&mut t);
    assert!(
        !out.iter().any(|a| matches!(a, Action::Send(..))),
        "{out:?}"
    );
    assert!(out.contains(&Action::Unlock(1)));
    assert!(out.contains(&Action::Settle(Ok(()))));
    assert!(out.contains(&Action::Emit(Event::Token)));
}

#[test]
fn a_lock_held_too_long_or_refused_never_wedges_the_renewal() {
    let mut t = tab(all());
    t.get(at(0.0));
    drain(&mut t);
    let wait = Config::default().timeout_ms + COUNTED_PEER_WAIT_MS + LOCK_GRACE_MS;
    assert_eq!(t.poll_timeout(at(0.0)), Some(wait));
    t.handle_timeout(at(wait));
    let out = drain(&mut t);
    assert!(out.contains(&Action::Log(
        Level::Warn,
        "the cross-tab lock is held too long (another script?); renewing without it"
    )));
    assert!(out.contains(&Action::CountPeers(1)));
    // The lock granted after it went on without it is given back at once.
    t.lock_granted(1, at(wait + 1.0));
    assert_eq!(drain(&mut t), [Action::Unlock(1)]);

    let mut t = tab(all());
    t.get(at(0.0));
    drain(&mut t);
    t.lock_refused(1, at(1.0));
    assert!(drain(&mut t).contains(&Action::CountPeers(1)));
    // A refusal of an attempt that is over changes nothing.
    t.lock_refused(7, at(2.0));
    assert_eq!(drain(&mut t), []);
}

#[test]
fn a_request_past_timeout_is_aborted_and_retried() {
    let mut t = tab(Env::default());
    t.get(at(0.0));
    assert!(drain(&mut t).contains(&Action::Send(1, Reason::Initial)));
    let timeout = Config::default().timeout_ms;
    assert_eq!(t.poll_timeout(at(0.0)), Some(timeout));
    t.handle_timeout(at(timeout));
    let out = drain(&mut t);
    assert_eq!(out[0], Action::Abort(1));
    assert!(
        out.iter().any(|a| matches!(a, Action::Emit(Event::Error(e)) if e.code == crate::core::ErrorCode::BrokerTimeout)),
        "{out:?}"
    );
    // The aborted request's late rejection is ignored.
    t.reply(1, at(timeout + 1.0), Reply::Network);
    assert_eq!(drain(&mut t), []);
}

#[test]
fn local_storage_is_re_read_inside_the_lock_and_a_fresh_entry_saves_the_call() {
    let cfg = Config {
        storage: Storage::Local,
        ..Config::default()
    };
    let mut t = Tab::new(cfg, all(), 3);
    t.get(at(0.0));
    drain(&mut t);
    t.lock_granted(1, at(1.0));
    assert_eq!(drain(&mut t), [Action::ReadShared(1)]);
    t.shared(
        1,
        Some(StoredFields {
            p: Field::Missing,
            v: Field::Num(STORE_VERSION),
            access_token: Field::Str("fromdisk".into()),
            issued_at: Field::Num(WALL0),
            expires_at: Field::Num(WALL0 + 3_600_000.0),
        }),
        at(2.0),
    );
    let out = drain(&mut t);
    assert!(
        !out.iter().any(|a| matches!(a, Action::Send(..))),
        "{out:?}"
    );
    assert!(out.contains(&Action::Unlock(1)));
    assert_eq!(
        t.life().usable(at(2.0)).unwrap().access.secret(),
        "fromdisk"
    );
}

#[test]
fn asks_are_answered_with_a_usable_token_or_none_and_strangers_are_ignored() {
    let mut t = tab(all());
    t.message(msg(Kind::Ask, Some(0.5), "b"), at(0.0));
    assert_eq!(
        drain(&mut t),
        [Action::Post(Msg {
            kind: Kind::None,
            nonce: Some(0.5)
        })]
    );
    t.get(at(0.0));
    t.lock_granted(1, at(0.0));
    t.peers(1, Some(Vec::new()), at(0.0));
    t.reply(1, at(10.0), ok(3600.0));
    drain(&mut t);
    t.message(msg(Kind::Ask, Some(0.25), "b"), at(20.0));
    assert_eq!(
        drain(&mut t),
        [Action::Post(Msg {
            kind: Kind::Token,
            nonce: Some(0.25)
        })]
    );
    let mut bob = msg(Kind::Clear, None, "b");
    bob.p = Field::Str("bob".into());
    t.message(bob, at(30.0));
    assert_eq!(
        drain(&mut t),
        [Action::Log(
            Level::Debug,
            "ignored a message of another participant"
        )]
    );
    assert!(t.life().usable(at(30.0)).is_some());
    t.message(msg(Kind::Unknown, None, "b"), at(31.0));
    assert_eq!(
        drain(&mut t),
        [Action::Log(
            Level::Debug,
            "ignored an unknown message on the channel"
        )]
    );
    // Another participant's Hello lets go of the token; ours does not.
    t.message(msg(Kind::Hello, None, "b"), at(32.0));
    assert!(t.life().usable(at(32.0)).is_some());
    let mut hello = msg(Kind::Hello, None, "b");
    hello.p = Field::Str("bob".into());
    t.message(hello, at(33.0));
    assert!(t.life().token(at(33.0)).is_none());
}

#[test]
fn a_wall_clock_jump_at_a_timer_is_a_recheck() {
    let mut t = tab(Env::default());
    t.start(at(0.0));
    drain(&mut t);
    let jumped = Now {
        wall: WALL0 + 30_000.0 + CLOCK_JUMP_MS + 1.0,
        mono: 30_000.0,
    };
    t.handle_timeout(jumped);
    assert!(drain(&mut t).contains(&Action::Log(
        Level::Info,
        "the wall clock jumped; re-checking the token"
    )));
    let steady = Now {
        wall: jumped.wall + 30_000.0 + CLOCK_JUMP_MS,
        mono: 60_000.0,
    };
    t.handle_timeout(steady);
    assert_eq!(drain(&mut t), []);
}

#[test]
fn kind_names_round_trip() {
    for k in [Kind::Hello, Kind::Token, Kind::None, Kind::Clear, Kind::Ask] {
        assert_eq!(Kind::parse(k.as_str()), k);
    }
    assert_eq!(Kind::parse("nope"), Kind::Unknown);
}

// Pinned for the mutants `npm run mutants` found alive in tab.rs.

#[test]
fn env_is_what_the_shell_found_with_presence_only_where_it_counts() {
    assert_eq!(tab(all()).env(), all());
    let no_channel = Env {
        channel: false,
        ..all()
    };
    assert_eq!(
        tab(no_channel).env(),
        Env {
            presence: false,
            ..no_channel
        }
    );
}

#[test]
fn destroy_aborts_the_attempt_rejects_the_callers_and_stops_the_timer() {
    let mut t = tab(all());
    t.get(at(0.0));
    drain(&mut t);
    t.destroy(at(1.0));
    let out = drain(&mut t);
    assert!(out.contains(&Action::Abort(1)), "{out:?}");
    assert!(out.iter().any(
        |a| matches!(a, Action::Settle(Err(e)) if e.code == crate::core::ErrorCode::Destroyed)
    ));
    assert_eq!(t.poll_timeout(at(1.0)), None);
}

#[test]
fn wake_after_a_give_up_pause_renews_at_once() {
    let cfg = Config {
        retry: crate::core::RetryPolicy {
            max_attempts: 1,
            ..Default::default()
        },
        renew_before_ms: 120_000.0,
        ..Config::default()
    };
    let mut t = Tab::new(cfg, Env::default(), 3);
    t.get(at(0.0));
    drain(&mut t);
    t.reply(1, at(10.0), ok(200.0));
    drain(&mut t);
    // Inside the window: a renewal that fails once gives up and pauses.
    t.handle_timeout(at(100_000.0));
    let out = drain(&mut t);
    assert!(out.contains(&Action::Send(2, Reason::Scheduled)), "{out:?}");
    t.reply(2, at(100_010.0), Reply::Network);
    drain(&mut t);
    t.handle_timeout(at(100_020.0));
    assert!(!drain(&mut t).iter().any(|a| matches!(a, Action::Send(..))));
    t.wake(at(140_020.0));
    assert!(drain(&mut t).contains(&Action::Send(3, Reason::Scheduled)));
}

#[test]
fn a_steady_clock_is_no_jump() {
    let mut t = tab(Env::default());
    t.start(at(0.0));
    drain(&mut t);
    t.handle_timeout(at(30_000.0));
    assert_eq!(drain(&mut t), []);
    let back = Now {
        wall: WALL0 + 60_000.0 - CLOCK_JUMP_MS - 1.0,
        mono: 60_000.0,
    };
    t.handle_timeout(back);
    assert!(drain(&mut t).contains(&Action::Log(
        Level::Info,
        "the wall clock jumped; re-checking the token"
    )));
}

#[test]
fn a_peer_token_while_waiting_for_the_lock_aborts_the_lock_request() {
    let mut t = tab(all());
    t.get(at(0.0));
    assert_eq!(drain(&mut t), [Action::Lock(1)]);
    let mut m = msg(Kind::Token, None, "b");
    m.entry = Some(StoredFields {
        p: Field::Str("ada".into()),
        v: Field::Num(STORE_VERSION),
        access_token: Field::Str("peer".into()),
        issued_at: Field::Num(WALL0),
        expires_at: Field::Num(WALL0 + 3_600_000.0),
    });
    t.message(m, at(5.0));
    let out = drain(&mut t);
    assert!(out.contains(&Action::Abort(1)), "{out:?}");
    assert!(
        !out.contains(&Action::Unlock(1)),
        "not held: nothing to unlock"
    );
}

#[test]
fn unanswered_reads_and_counts_have_deadlines() {
    let cfg = Config {
        storage: Storage::Local,
        ..Config::default()
    };
    let mut t = Tab::new(cfg, all(), 3);
    t.get(at(10.0));
    drain(&mut t);
    t.lock_granted(1, at(10.0));
    assert_eq!(drain(&mut t), [Action::ReadShared(1)]);
    let timeout = Config::default().timeout_ms;
    assert_eq!(t.poll_timeout(at(10.0)), Some(timeout));
    t.handle_timeout(at(10.0 + timeout));
    assert!(drain(&mut t).contains(&Action::Send(1, Reason::Initial)));

    let mut t = tab(all());
    t.get(at(10.0));
    drain(&mut t);
    t.lock_granted(1, at(10.0));
    assert_eq!(drain(&mut t), [Action::CountPeers(1)]);
    assert_eq!(t.poll_timeout(at(10.0)), Some(COUNTED_PEER_WAIT_MS));
    t.handle_timeout(at(10.0 + COUNTED_PEER_WAIT_MS));
    let out = drain(&mut t);
    assert!(
        out.iter().any(|a| matches!(
            a,
            Action::Post(Msg {
                kind: Kind::Ask,
                ..
            })
        )),
        "{out:?}"
    );
}

// The shell performs the actions one by one; a page's wrapper around the API one of
// them calls may call clear() (or destroy()) before the queued settlement of the
// callers is performed. Those callers still wait, and the settlement reads the token
// when performed: they get the clear's (or destroy's) rejection, not a token gone.
#[test]
fn a_clear_or_destroy_before_a_queued_success_is_performed_rejects_those_callers_with_it() {
    let none = Env {
        channel: false,
        locks: false,
        presence: false,
    };
    type Stop = fn(&mut Tab, Now);
    let stops: [(Stop, crate::core::ErrorCode); 3] = [
        (Tab::clear, crate::core::ErrorCode::Cleared),
        (
            |t, now| t.switched(&Field::Str("bob".into()), now),
            crate::core::ErrorCode::Cleared,
        ),
        (Tab::destroy, crate::core::ErrorCode::Destroyed),
    ];
    for (stop, code) in stops {
        let mut t = tab(none);
        assert!(matches!(t.get(at(0.0)), Access::Wait));
        let sent = drain(&mut t);
        assert!(sent.contains(&Action::Send(1, Reason::Initial)), "{sent:?}");
        t.reply(1, at(10.0), ok(3600.0));
        let first = t.poll().expect("the answer's actions");
        assert_ne!(
            first,
            Action::Settle(Ok(())),
            "a settlement is still queued"
        );
        stop(&mut t, at(11.0));
        let rest = drain(&mut t);
        assert!(
            !rest.contains(&Action::Settle(Ok(()))),
            "{code:?}: {rest:?}"
        );
        assert!(
            rest.iter()
                .any(|a| matches!(a, Action::Settle(Err(e)) if e.code == code)),
            "{code:?}: {rest:?}"
        );
    }
}

// destroy() from a listener mid-drain: what was queued before it and not yet performed
// goes only where it cannot start anything (no event, success, request or lock after).
#[test]
fn destroy_drops_the_queued_events_successes_requests_and_lock_calls_keeps_the_rest() {
    let none = Env {
        channel: false,
        locks: false,
        presence: false,
    };
    let mut t = tab(none);
    assert!(matches!(t.get(at(0.0)), Access::Wait));
    t.destroy(at(1.0));
    let out = drain(&mut t);
    assert!(
        !out.iter().any(|a| matches!(a, Action::Send(..))),
        "{out:?}"
    );

    let mut t = tab(all());
    assert!(matches!(t.get(at(0.0)), Access::Wait));
    t.destroy(at(1.0));
    let out = drain(&mut t);
    assert!(
        !out.iter()
            .any(|a| matches!(a, Action::Lock(_) | Action::CountPeers(_))),
        "{out:?}"
    );

    let mut t = tab(none);
    t.get(at(0.0));
    drain(&mut t);
    t.reply(1, at(10.0), ok(3600.0));
    t.destroy(at(11.0));
    let out = drain(&mut t);
    assert!(
        out.contains(&Action::Persist),
        "the new token is still stored: {out:?}"
    );
    assert!(
        !out.iter()
            .any(|a| matches!(a, Action::Emit(_) | Action::Settle(Ok(())))),
        "{out:?}"
    );
}

fn local() -> Tab {
    let cfg = Config {
        storage: Storage::Local,
        ..Config::default()
    };
    Tab::new(cfg, all(), 3)
}

fn entry(token: &str, issued_at: f64) -> StoredFields {
    StoredFields {
        p: Field::Missing,
        v: Field::Num(STORE_VERSION),
        access_token: Field::Str(token.into()),
        issued_at: Field::Num(issued_at),
        expires_at: Field::Num(issued_at + 60_000.0),
    }
}

// Shared storage can only say yes: an entry that is not newer may be stale because a
// peer's storage threw and it renewed in memory, so the peers are asked.
#[test]
fn a_shared_entry_that_is_absent_or_not_newer_sends_the_attempt_to_the_peers() {
    for stored in [None, Some(entry("old", WALL0 - 59_000.0))] {
        let mut t = local();
        t.get(at(0.0));
        drain(&mut t);
        t.lock_granted(1, at(1.0));
        assert_eq!(drain(&mut t), [Action::ReadShared(1)]);
        t.shared(1, stored, at(2.0));
        let out = drain(&mut t);
        assert_eq!(out.last(), Some(&Action::CountPeers(1)), "{out:?}");
        assert!(
            !out.iter().any(|a| matches!(a, Action::Send(..))),
            "{out:?}"
        );
    }
}

#[test]
fn storage_that_throws_warns_once_and_the_tab_asks_its_peers_instead_of_reading_it() {
    let warn = Action::Log(Level::Warn, STORAGE_UNAVAILABLE);
    // A read that throws reports nothing: the attempt goes on to the peers.
    let mut t = local();
    t.get(at(0.0));
    drain(&mut t);
    t.lock_granted(1, at(1.0));
    assert_eq!(drain(&mut t), [Action::ReadShared(1)]);
    t.storage_failed();
    assert_eq!(drain(&mut t), std::slice::from_ref(&warn));
    assert_eq!(t.storage(), Storage::Memory);
    t.shared(1, None, at(2.0));
    assert_eq!(drain(&mut t), [Action::CountPeers(1)]);
    t.storage_failed();
    assert_eq!(drain(&mut t), []);
    // Failed before the attempt: no read at all.
    let mut t = local();
    assert_eq!(t.storage(), Storage::Local);
    t.storage_failed();
    assert_eq!(drain(&mut t), [warn]);
    t.get(at(0.0));
    drain(&mut t);
    t.lock_granted(1, at(1.0));
    assert_eq!(drain(&mut t), [Action::CountPeers(1)]);
    // In memory from the start: nothing to say.
    let mut t = tab(all());
    t.storage_failed();
    assert_eq!(drain(&mut t), []);
    assert_eq!(t.storage(), Storage::Memory);
}
