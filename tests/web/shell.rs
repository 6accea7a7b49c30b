//! One manager at a time (`crossTab: false`): the facade's API over the shell.

use crate::support::*;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::Cell;
use js_sys::{Array, Function, Object, Promise};
use mdh_token::facade::TokenManager;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

pub async fn get_token_calls_the_broker_once_for_concurrent_callers() -> Outcome {
    let calls = Rc::new(Cell::new(0));
    let m = manager(counting_broker(3600.0, calls.clone()), &[])?;
    let ps: Vec<Promise> = (0..100).map(|_| m.get_token()).collect();
    let all = resolved(
        Promise::all(&ps.into_iter().collect::<Array>()),
        "getToken()",
    )
    .await?;
    ensure_eq!(calls.get(), 1);
    let all = Array::from(&all);
    let first = all.get(0);
    ensure_eq!(text(&first, "access_token").as_deref(), Some("token-1"));
    ensure_eq!(text(&first, "token_type").as_deref(), Some("Bearer"));
    let exp_in = num(&first, "expires_in").unwrap_or(-1.0);
    ensure!((3598.0..=3600.0).contains(&exp_in), "expires_in {exp_in}");
    ensure!(Object::is_frozen(first.unchecked_ref::<Object>()));
    // Served from memory now; peek agrees.
    let again = resolved(m.get_token(), "getToken()").await?;
    ensure_eq!(calls.get(), 1);
    ensure_eq!(peeked(&m), text(&again, "access_token"));
    m.destroy();
    Ok(())
}

pub async fn refresh_forces_a_new_broker_call() -> Outcome {
    let calls = Rc::new(Cell::new(0));
    let m = manager(counting_broker(3600.0, calls.clone()), &[])?;
    resolved(m.get_token(), "getToken()").await?;
    let t = resolved(m.refresh(), "refresh()").await?;
    ensure_eq!(calls.get(), 2);
    ensure_eq!(text(&t, "access_token").as_deref(), Some("token-2"));
    ensure_eq!(num(&m.status(), "brokerCalls"), Some(2.0));
    m.destroy();
    Ok(())
}

pub async fn errors_are_token_errors_with_code_and_status() -> Outcome {
    let broker = Closure::<dyn FnMut(JsValue) -> Promise>::new(|_a: JsValue| {
        Promise::reject(&obj(&[("status", 401.into())]))
    })
    .into_js_value();
    let m = manager(broker, &[])?;
    let err = rejected(m.get_token(), "getToken()").await?;
    ensure_eq!(text(&err, "name").as_deref(), Some("TokenError"));
    ensure_eq!(text(&err, "code").as_deref(), Some("broker_rejected"));
    ensure_eq!(num(&err, "status"), Some(401.0));
    ensure!(err.is_instance_of::<js_sys::Error>());
    // The manager keeps working: the next call asks again.
    let err2 = rejected(m.get_token(), "getToken()").await?;
    ensure_eq!(text(&err2, "code").as_deref(), Some("broker_rejected"));
    m.destroy();
    let err3 = rejected(m.get_token(), "getToken() after destroy()").await?;
    ensure_eq!(text(&err3, "code").as_deref(), Some("destroyed"));
    Ok(())
}

pub async fn garbage_from_the_broker_is_invalid_response() -> Outcome {
    for garbage in [
        JsValue::NULL,
        "text".into(),
        obj(&[
            ("access_token", "a b".into()),
            ("token_type", "Bearer".into()),
            ("expires_in", 60.into()),
        ]),
    ] {
        let g = garbage.clone();
        let broker =
            Closure::<dyn FnMut(JsValue) -> Promise>::new(move |_a: JsValue| Promise::resolve(&g))
                .into_js_value();
        let m = manager(broker, &[])?;
        let err = rejected(m.get_token(), "getToken()").await?;
        ensure_eq!(text(&err, "code").as_deref(), Some("invalid_response"));
        let msg = text(&err, "message").unwrap_or_default();
        ensure!(!msg.contains("a b"), "{msg}");
        m.destroy();
    }
    Ok(())
}

pub async fn invalid_options_throw_typed_errors() -> Outcome {
    for opts in [
        obj(&[]),
        obj(&[("broker", 5.into())]),
        obj(&[("broker", "/b".into()), ("storage", "disk".into())]),
        obj(&[("broker", "/b".into()), ("timeoutMs", (-1).into())]),
        obj(&[
            ("broker", "/b".into()),
            ("retry", obj(&[("maxAttempts", 0.5.into())])),
        ]),
        obj(&[
            ("broker", "/b".into()),
            ("headers", obj(&[("bad header", "x".into())])),
        ]),
        obj(&[("broker", "/b".into()), ("logLevel", "loud".into())]),
    ] {
        let shown = describe(&opts);
        let Err(err) = TokenManager::create(opts, None) else {
            return Err(fail(alloc::format!("{shown} was accepted")));
        };
        ensure_eq!(text(&err, "code").as_deref(), Some("invalid_options"));
    }
    Ok(())
}

pub async fn session_storage_holds_the_entry_and_memory_mode_writes_nothing() -> Outcome {
    let store = storage(false)?;
    let key = unique_key();
    let calls = Rc::new(Cell::new(0));
    let session = [
        ("storage", "session".into()),
        ("storageKey", key.clone().into()),
    ];
    let m = manager(counting_broker(3600.0, calls.clone()), &session)?;
    resolved(m.get_token(), "getToken()").await?;
    let raw = store.get_item(&key)?;
    let Some(raw) = raw else {
        return Err(fail(alloc::format!("nothing stored under {key}")));
    };
    let entry = js_sys::JSON::parse(&raw)?;
    ensure_eq!(num(&entry, "v"), Some(1.0));
    ensure_eq!(text(&entry, "access_token").as_deref(), Some("token-1"));
    m.destroy();
    // A new manager restores it without calling the broker.
    let m2 = manager(counting_broker(3600.0, calls.clone()), &session)?;
    let t = resolved(m2.get_token(), "getToken()").await?;
    ensure_eq!(calls.get(), 1);
    ensure_eq!(text(&t, "access_token").as_deref(), Some("token-1"));
    m2.clear();
    ensure!(store.get_item(&key)?.is_none(), "clear() removes the entry");
    m2.destroy();

    let key2 = unique_key();
    let m3 = manager(
        counting_broker(3600.0, calls.clone()),
        &[("storageKey", key2.clone().into())],
    )?;
    resolved(m3.get_token(), "getToken()").await?;
    ensure!(store.get_item(&key2)?.is_none());
    ensure!(storage(true)?.get_item(&key2)?.is_none());
    m3.destroy();
    Ok(())
}

pub async fn corrupt_foreign_and_expired_entries_are_removed() -> Outcome {
    let store = storage(true)?;
    let now = js_sys::Date::now();
    let expired = alloc::format!(
        "{{\"v\":1,\"access_token\":\"old\",\"issued_at\":{},\"expires_at\":{}}}",
        now - 7_200_000.0,
        now - 3_600_000.0
    );
    for bad in ["not json", "{\"foo\":1}", "[1,2]", expired.as_str()] {
        let key = unique_key();
        store.set_item(&key, bad)?;
        let m = manager(
            counting_broker(60.0, Rc::new(Cell::new(0))),
            &[
                ("storage", "local".into()),
                ("storageKey", key.clone().into()),
            ],
        )?;
        ensure!(store.get_item(&key)?.is_none(), "{bad} removed");
        ensure!(m.peek().is_null());
        m.destroy();
    }
    // A future format version is left for the newer code that wrote it.
    let key = unique_key();
    store.set_item(&key, "{\"v\":2,\"x\":1}")?;
    let m = manager(
        counting_broker(60.0, Rc::new(Cell::new(0))),
        &[
            ("storage", "local".into()),
            ("storageKey", key.clone().into()),
        ],
    )?;
    ensure!(store.get_item(&key)?.is_some());
    m.destroy();
    store.remove_item(&key)?;
    Ok(())
}

pub async fn listeners_get_events_and_a_throwing_listener_breaks_nothing() -> Outcome {
    let calls = Rc::new(Cell::new(0));
    let m = manager(counting_broker(3600.0, calls.clone()), &[])?;
    let thrower: Function =
        Closure::<dyn FnMut(JsValue)>::new(|_v: JsValue| wasm_bindgen::throw_str("listener bug"))
            .into_js_value()
            .unchecked_into();
    let heard = Heard::default();
    m.on("token".into(), thrower.into())?;
    let off = m.on("token".into(), heard.listener().into())?;
    resolved(m.get_token(), "getToken()").await?;
    ensure_eq!(heard.len(), 1);
    ensure!(text(&heard.get(0), "access_token").is_some());
    off.call0(&JsValue::UNDEFINED)?;
    resolved(m.refresh(), "refresh()").await?;
    ensure_eq!(heard.len(), 1, "unsubscribed");
    ensure!(m.on("nope".into(), noop().into()).is_err());
    ensure!(m.on("token".into(), "not a function".into()).is_err());
    ensure!(m.on(5.into(), noop().into()).is_err());
    m.destroy();
    Ok(())
}

pub async fn status_shows_the_token_only_masked() -> Outcome {
    let m = manager(counting_broker(3600.0, Rc::new(Cell::new(0))), &[])?;
    resolved(m.get_token(), "getToken()").await?;
    let st = m.status();
    ensure_eq!(text(&st, "state").as_deref(), Some("valid"));
    ensure_eq!(text(&st, "token").as_deref(), Some("token-…(7)"));
    let shown = describe(&st);
    ensure!(!shown.contains("token-1"), "{shown}");
    m.destroy();
    ensure_eq!(text(&m.status(), "state").as_deref(), Some("destroyed"));
    // Shorter than the prefix shown, and as long as a token may be: every byte counted.
    let long: &'static str = "b".repeat(16383).leak();
    for (prefix, shown) in [("a", "a1…(2)"), (long, "bbbbbb…(16384)")] {
        let m = manager(
            counting_broker_named(prefix, 3600.0, Rc::new(Cell::new(0))),
            &[],
        )?;
        resolved(m.get_token(), "getToken()").await?;
        ensure_eq!(text(&m.status(), "token").as_deref(), Some(shown));
        m.destroy();
    }
    Ok(())
}

pub async fn a_hanging_broker_times_out() -> Outcome {
    let m = manager(
        Held::default().broker(),
        &[
            ("timeoutMs", 50.into()),
            (
                "retry",
                obj(&[
                    ("maxAttempts", 2.into()),
                    ("baseDelayMs", 10.into()),
                    ("maxDelayMs", 20.into()),
                ]),
            ),
        ],
    )?;
    let err = rejected(m.get_token(), "getToken()").await?;
    ensure_eq!(text(&err, "code").as_deref(), Some("broker_timeout"));
    ensure_eq!(num(&m.status(), "brokerCalls"), Some(2.0));
    m.destroy();
    Ok(())
}

/// What the panic handler runs before the trap, called directly (the panic tests in
/// panic.rs make a real panic).
pub async fn poison_rejects_waiters_with_internal_and_stops_that_manager_only() -> Outcome {
    let m = manager(Held::default().broker(), &[])?;
    let errors = hear(&m, "error")?;
    let other = manager(counting_broker(3600.0, Rc::new(Cell::new(0))), &[])?;
    let waiting = m.get_token();
    m.poison_for_tests();
    let err = rejected(waiting, "getToken()").await?;
    ensure_eq!(text(&err, "name").as_deref(), Some("TokenError"));
    ensure_eq!(text(&err, "code").as_deref(), Some("internal"));
    ensure_eq!(errors.len(), 1);
    ensure_eq!(text(&errors.get(0), "code").as_deref(), Some("internal"));
    // Only the manager that was running stops: another one on the page carries on.
    let t = resolved(other.get_token(), "the other manager's getToken()").await?;
    ensure_eq!(text(&t, "token_type").as_deref(), Some("Bearer"));
    other.destroy();
    let later = rejected(m.refresh(), "refresh()").await?;
    ensure_eq!(text(&later, "code").as_deref(), Some("internal"));
    ensure!(m.peek().is_null());
    ensure_eq!(text(&m.status(), "lastError").as_deref(), Some("internal"));
    ensure!(m.on("token".into(), noop().into()).is_err());
    m.destroy();
    Ok(())
}
