//! Shell tier: the web shell and facade in headless Chromium (wasm-bindgen-test),
//! with broker functions scripted from Rust, real storage, timers and channels.
#![cfg(target_arch = "wasm32")]

use js_sys::{Function, Object, Promise, Reflect};
use mdh_token::facade::TokenManager;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn get(o: &JsValue, k: &str) -> JsValue {
    Reflect::get(o, &k.into()).unwrap()
}

fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        Reflect::set(&o, &(*k).into(), v).unwrap();
    }
    o.into()
}

/// A broker function that counts calls and answers with `token-N` valid for `secs`.
fn counting_broker(secs: f64, calls: Rc<Cell<u32>>) -> JsValue {
    Closure::<dyn FnMut(JsValue) -> Promise>::new(move |_arg: JsValue| {
        calls.set(calls.get() + 1);
        let mut tok = String::from("token-");
        tok.push(char::from(b'0' + (calls.get() % 10) as u8));
        Promise::resolve(&obj(&[
            ("access_token", tok.into()),
            ("token_type", "Bearer".into()),
            ("expires_in", secs.into()),
        ]))
    })
    .into_js_value()
}

fn manager(broker: JsValue, extra: &[(&str, JsValue)]) -> TokenManager {
    let mut pairs = vec![
        ("broker", broker),
        ("crossTab", false.into()),
        ("logLevel", "silent".into()),
    ];
    pairs.extend(extra.iter().cloned());
    TokenManager::create(obj(&pairs), None).unwrap()
}

fn unique_key() -> String {
    let mut s = String::from("test-");
    s.push_str(&(js_sys::Math::random() * 1e9).floor().to_string());
    s
}

#[wasm_bindgen_test]
async fn get_token_calls_the_broker_once_for_concurrent_callers() {
    let calls = Rc::new(Cell::new(0));
    let m = manager(counting_broker(3600.0, calls.clone()), &[]);
    let ps: Vec<Promise> = (0..100).map(|_| m.get_token()).collect();
    let all = JsFuture::from(Promise::all(&ps.into_iter().collect::<js_sys::Array>()))
        .await
        .unwrap();
    assert_eq!(calls.get(), 1);
    let first = js_sys::Array::from(&all).get(0);
    assert_eq!(get(&first, "access_token").as_string().unwrap(), "token-1");
    assert_eq!(get(&first, "token_type").as_string().unwrap(), "Bearer");
    let exp_in = get(&first, "expires_in").as_f64().unwrap();
    assert!((3598.0..=3600.0).contains(&exp_in), "{exp_in}");
    assert!(Object::is_frozen(first.unchecked_ref::<Object>()));
    // Served from memory now; peek agrees.
    let again = JsFuture::from(m.get_token()).await.unwrap();
    assert_eq!(calls.get(), 1);
    assert_eq!(get(&m.peek(), "access_token"), get(&again, "access_token"));
    m.destroy();
}

#[wasm_bindgen_test]
async fn refresh_forces_a_new_broker_call() {
    let calls = Rc::new(Cell::new(0));
    let m = manager(counting_broker(3600.0, calls.clone()), &[]);
    JsFuture::from(m.get_token()).await.unwrap();
    let t = JsFuture::from(m.refresh()).await.unwrap();
    assert_eq!(calls.get(), 2);
    assert_eq!(get(&t, "access_token").as_string().unwrap(), "token-2");
    assert_eq!(get(&m.status(), "brokerCalls").as_f64(), Some(2.0));
    m.destroy();
}

#[wasm_bindgen_test]
async fn errors_are_token_errors_with_code_and_status() {
    let broker = Closure::<dyn FnMut(JsValue) -> Promise>::new(|_a: JsValue| {
        Promise::reject(&obj(&[("status", 401.into())]))
    })
    .into_js_value();
    let m = manager(broker, &[]);
    let err = JsFuture::from(m.get_token()).await.unwrap_err();
    assert_eq!(get(&err, "name").as_string().unwrap(), "TokenError");
    assert_eq!(get(&err, "code").as_string().unwrap(), "broker_rejected");
    assert_eq!(get(&err, "status").as_f64().unwrap(), 401.0);
    assert!(err.is_instance_of::<js_sys::Error>());
    // The manager keeps working: the next call asks again.
    let err2 = JsFuture::from(m.get_token()).await.unwrap_err();
    assert_eq!(get(&err2, "code").as_string().unwrap(), "broker_rejected");
    m.destroy();
    let err3 = JsFuture::from(m.get_token()).await.unwrap_err();
    assert_eq!(get(&err3, "code").as_string().unwrap(), "destroyed");
}

#[wasm_bindgen_test]
async fn garbage_from_the_broker_is_invalid_response() {
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
        let m = manager(broker, &[]);
        let err = JsFuture::from(m.get_token()).await.unwrap_err();
        assert_eq!(get(&err, "code").as_string().unwrap(), "invalid_response");
        let msg = get(&err, "message").as_string().unwrap();
        assert!(!msg.contains("a b"), "{msg}");
        m.destroy();
    }
}

#[wasm_bindgen_test]
async fn invalid_options_throw_typed_errors() {
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
        let err = TokenManager::create(opts, None).err().expect("rejected");
        assert_eq!(get(&err, "code").as_string().unwrap(), "invalid_options");
    }
}

#[wasm_bindgen_test]
async fn session_storage_holds_the_entry_and_memory_mode_writes_nothing() {
    let store = web_sys::window()
        .unwrap()
        .session_storage()
        .unwrap()
        .unwrap();
    let key = unique_key();
    let calls = Rc::new(Cell::new(0));
    let m = manager(
        counting_broker(3600.0, calls.clone()),
        &[
            ("storage", "session".into()),
            ("storageKey", key.clone().into()),
        ],
    );
    JsFuture::from(m.get_token()).await.unwrap();
    let raw = store.get_item(&key).unwrap().expect("stored");
    let entry = js_sys::JSON::parse(&raw).unwrap();
    assert_eq!(get(&entry, "v").as_f64(), Some(1.0));
    assert_eq!(get(&entry, "access_token").as_string().unwrap(), "token-1");
    m.destroy();
    // A new manager restores it without calling the broker.
    let m2 = manager(
        counting_broker(3600.0, calls.clone()),
        &[
            ("storage", "session".into()),
            ("storageKey", key.clone().into()),
        ],
    );
    let t = JsFuture::from(m2.get_token()).await.unwrap();
    assert_eq!(calls.get(), 1);
    assert_eq!(get(&t, "access_token").as_string().unwrap(), "token-1");
    m2.clear();
    assert!(
        store.get_item(&key).unwrap().is_none(),
        "clear() removes the entry"
    );
    m2.destroy();

    let key2 = unique_key();
    let m3 = manager(
        counting_broker(3600.0, calls.clone()),
        &[("storageKey", key2.clone().into())],
    );
    JsFuture::from(m3.get_token()).await.unwrap();
    assert!(store.get_item(&key2).unwrap().is_none());
    let local = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    assert!(local.get_item(&key2).unwrap().is_none());
    m3.destroy();
}

#[wasm_bindgen_test]
async fn corrupt_foreign_and_expired_entries_are_removed() {
    let store = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    let now = js_sys::Date::now();
    let mut expired = String::from("{\"v\":1,\"access_token\":\"old\",\"issued_at\":");
    expired.push_str(&(now - 7_200_000.0).to_string());
    expired.push_str(",\"expires_at\":");
    expired.push_str(&(now - 3_600_000.0).to_string());
    expired.push('}');
    for bad in ["not json", "{\"foo\":1}", "[1,2]", expired.as_str()] {
        let key = unique_key();
        store.set_item(&key, bad).unwrap();
        let calls = Rc::new(Cell::new(0));
        let m = manager(
            counting_broker(60.0, calls.clone()),
            &[
                ("storage", "local".into()),
                ("storageKey", key.clone().into()),
            ],
        );
        assert!(store.get_item(&key).unwrap().is_none(), "{bad} removed");
        assert!(m.peek().is_null());
        m.destroy();
    }
    // A future format version is left for the newer code that wrote it.
    let key = unique_key();
    store.set_item(&key, "{\"v\":2,\"x\":1}").unwrap();
    let m = manager(
        counting_broker(60.0, Rc::new(Cell::new(0))),
        &[
            ("storage", "local".into()),
            ("storageKey", key.clone().into()),
        ],
    );
    assert!(store.get_item(&key).unwrap().is_some());
    m.destroy();
    store.remove_item(&key).unwrap();
}

#[wasm_bindgen_test]
async fn listeners_get_events_and_a_throwing_listener_breaks_nothing() {
    let calls = Rc::new(Cell::new(0));
    let m = manager(counting_broker(3600.0, calls.clone()), &[]);
    let seen = Rc::new(Cell::new(0));
    let s = seen.clone();
    let thrower: Function =
        Closure::<dyn FnMut(JsValue)>::new(|_v: JsValue| wasm_bindgen::throw_str("listener bug"))
            .into_js_value()
            .unchecked_into();
    let counter: Function = Closure::<dyn FnMut(JsValue)>::new(move |v: JsValue| {
        assert!(get(&v, "access_token").is_string());
        s.set(s.get() + 1);
    })
    .into_js_value()
    .unchecked_into();
    m.on("token".into(), thrower.into()).unwrap();
    let off = m.on("token".into(), counter.into()).unwrap();
    JsFuture::from(m.get_token()).await.unwrap();
    assert_eq!(seen.get(), 1);
    off.call0(&JsValue::UNDEFINED).unwrap();
    JsFuture::from(m.refresh()).await.unwrap();
    assert_eq!(seen.get(), 1, "unsubscribed");
    assert!(m
        .on("nope".into(), Function::new_no_args("").into())
        .is_err());
    assert!(m.on("token".into(), "not a function".into()).is_err());
    assert!(m.on(5.into(), Function::new_no_args("").into()).is_err());
    m.destroy();
}

#[wasm_bindgen_test]
async fn status_shows_the_token_only_masked() {
    let m = manager(counting_broker(3600.0, Rc::new(Cell::new(0))), &[]);
    JsFuture::from(m.get_token()).await.unwrap();
    let st = m.status();
    assert_eq!(get(&st, "state").as_string().unwrap(), "valid");
    assert_eq!(get(&st, "token").as_string().unwrap(), "token-…(7)");
    let text = js_sys::JSON::stringify(&st).unwrap().as_string().unwrap();
    assert!(!text.contains("token-1"), "{text}");
    m.destroy();
    assert_eq!(get(&m.status(), "state").as_string().unwrap(), "destroyed");
}

#[wasm_bindgen_test]
async fn a_hanging_broker_times_out() {
    let broker =
        Closure::<dyn FnMut(JsValue) -> Promise>::new(|_a: JsValue| Promise::new(&mut |_, _| {}))
            .into_js_value();
    let m = manager(
        broker,
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
    );
    let err = JsFuture::from(m.get_token()).await.unwrap_err();
    assert_eq!(get(&err, "code").as_string().unwrap(), "broker_timeout");
    assert_eq!(get(&m.status(), "brokerCalls").as_f64(), Some(2.0));
    m.destroy();
}

#[wasm_bindgen_test]
async fn a_panic_rejects_waiters_with_internal_and_stops_that_manager_only() {
    // A real panic traps the wasm and would end this test run; what runs before the
    // trap — `poison_current()`, from the std hook here and from the `#[panic_handler]`
    // of the shipped no_std build — is called directly instead, as if inside `m`.
    let hang =
        Closure::<dyn FnMut(JsValue) -> Promise>::new(|_a: JsValue| Promise::new(&mut |_, _| {}))
            .into_js_value();
    let m = manager(hang, &[]);
    let seen = Rc::new(Cell::new(0));
    let s = seen.clone();
    let on_error: Function = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        assert_eq!(get(&e, "code").as_string().unwrap(), "internal");
        s.set(s.get() + 1);
    })
    .into_js_value()
    .unchecked_into();
    m.on("error".into(), on_error.into()).unwrap();
    let other = manager(counting_broker(3600.0, Rc::new(Cell::new(0))), &[]);
    let waiting = m.get_token();
    m.poison_for_tests();
    let err = JsFuture::from(waiting).await.unwrap_err();
    assert_eq!(get(&err, "name").as_string().unwrap(), "TokenError");
    assert_eq!(get(&err, "code").as_string().unwrap(), "internal");
    assert_eq!(seen.get(), 1);
    // Only the manager that was running stops: another one on the page carries on
    // (issue 11: one manager's panic poisoned every manager).
    let t = JsFuture::from(other.get_token()).await.unwrap();
    assert_eq!(get(&t, "token_type").as_string().unwrap(), "Bearer");
    other.destroy();
    let later = JsFuture::from(m.refresh()).await.unwrap_err();
    assert_eq!(get(&later, "code").as_string().unwrap(), "internal");
    assert!(m.peek().is_null());
    assert_eq!(
        get(&m.status(), "lastError").as_string().unwrap(),
        "internal"
    );
    assert!(m
        .on("token".into(), Function::new_no_args("").into())
        .is_err());
    m.destroy();
}
