//! What the tier-2 tests share: JS objects, scripted brokers, managers, recorded
//! events, bounded polling, and checks that fail a test with a message. A test returns
//! `Err` rather than panicking: a panic here is a real one, it runs the crate's
//! `#[panic_handler]` and traps, and the trap carries no message.

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use js_sys::{Array, Function, Object, Promise, Reflect};
use mdh_token::facade::TokenManager;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// What a test returns: `Err` with a JS `Error` that says where and why it failed.
pub type Outcome = Result<(), JsValue>;

/// Fails the test unless `cond` holds.
macro_rules! ensure {
    ($cond:expr) => {
        ensure!($cond, "{}", stringify!($cond))
    };
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($crate::support::failure(file!(), line!(), alloc::format!($($msg)+)));
        }
    };
}

/// Fails the test unless `left == right`, showing both (and why it matters, if given).
macro_rules! ensure_eq {
    ($left:expr, $right:expr $(,)?) => {
        ensure_eq!($left, $right, "")
    };
    ($left:expr, $right:expr, $($msg:tt)+) => {
        // A `match`, as in `assert_eq!`: temporaries live through the comparison.
        match (&$left, &$right) { (left, right) => {
        if *left != *right {
            return Err($crate::support::failure(
                file!(),
                line!(),
                alloc::format!(
                    "{} == {}{}\n   left: {:?}\n  right: {:?}",
                    stringify!($left),
                    stringify!($right),
                    match alloc::format!($($msg)+) {
                        m if m.is_empty() => m,
                        m => alloc::format!(": {m}"),
                    },
                    left,
                    right
                ),
            ));
        }
        }}
    };
}

/// The `Error` a failed check returns.
pub fn failure(file: &str, line: u32, msg: String) -> JsValue {
    js_sys::Error::new(&format!("{file}:{line}: {msg}")).into()
}

/// A failure without a place (for helpers).
pub fn fail(msg: String) -> JsValue {
    js_sys::Error::new(&msg).into()
}

#[wasm_bindgen(module = "/tests/web/support.js")]
extern "C" {
    fn tick(ms: f64) -> Promise;
    fn deferred() -> Array;
    /// A function that does nothing.
    pub fn noop() -> Function;
    /// Calls `o[name](...args)` in JS; what it threw, or `undefined`.
    pub fn thrown(o: &JsValue, name: &str, args: &Array) -> JsValue;
    /// Resolves with `[held, pending]`: the Web Lock requests whose names start with `prefix`.
    fn locks(prefix: &str) -> Promise;
    /// Whether `e` is a wasm trap (`WebAssembly.RuntimeError`).
    #[wasm_bindgen(js_name = isTrap)]
    pub fn is_trap(e: &JsValue) -> bool;
    /// See the JS above; returns `{ trap, calls, restore() }`.
    #[wasm_bindgen(js_name = breakNextClockRead)]
    pub fn break_next_clock_read(boom: &Function) -> JsValue;
}

pub fn get(o: &JsValue, k: &str) -> JsValue {
    Reflect::get(o, &k.into()).unwrap_or(JsValue::UNDEFINED)
}

pub fn text(o: &JsValue, k: &str) -> Option<String> {
    get(o, k).as_string()
}

pub fn num(o: &JsValue, k: &str) -> Option<f64> {
    get(o, k).as_f64()
}

pub fn obj(pairs: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&o, &(*k).into(), v);
    }
    o.into()
}

/// `o[name](...args)` from Rust, for a manager handed over to JS.
pub fn call(o: &JsValue, name: &str, args: &[JsValue]) -> Result<JsValue, JsValue> {
    let f: Function = get(o, name)
        .dyn_into()
        .map_err(|_| fail(format!("no method {name}")))?;
    f.apply(o, &args.iter().collect::<Array>())
}

/// The value of `p`; `Err` that says `what` when it rejects.
pub async fn resolved(p: Promise, what: &str) -> Result<JsValue, JsValue> {
    JsFuture::from(p)
        .await
        .map_err(|e| fail(format!("{what} rejected: {}", describe(&e))))
}

/// The rejection of `p`; `Err` when it resolves.
pub async fn rejected(p: Promise, what: &str) -> Result<JsValue, JsValue> {
    match JsFuture::from(p).await {
        Ok(v) => Err(fail(format!(
            "{what} resolved ({}), expected a rejection",
            describe(&v)
        ))),
        Err(e) => Ok(e),
    }
}

/// A short text for a value in a failure message (an error's code and message).
pub fn describe(v: &JsValue) -> String {
    match (text(v, "code"), text(v, "message")) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (None, Some(m)) => m,
        _ => js_sys::JSON::stringify(v)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_else(|| String::from("(unprintable)")),
    }
}

/// A `{ access_token, token_type, expires_in }` answer.
pub fn answer(token: &str, secs: f64) -> JsValue {
    obj(&[
        ("access_token", token.into()),
        ("token_type", "Bearer".into()),
        ("expires_in", secs.into()),
    ])
}

/// A broker function that counts calls and answers with `<prefix>N` valid for `secs`.
pub fn counting_broker_named(prefix: &'static str, secs: f64, calls: Rc<Cell<u32>>) -> JsValue {
    Closure::<dyn FnMut(JsValue) -> Promise>::new(move |_arg: JsValue| {
        calls.set(calls.get() + 1);
        Promise::resolve(&answer(&format!("{prefix}{}", calls.get()), secs))
    })
    .into_js_value()
}

/// A broker function that counts calls and answers with `token-N` valid for `secs`.
pub fn counting_broker(secs: f64, calls: Rc<Cell<u32>>) -> JsValue {
    counting_broker_named("token-", secs, calls)
}

/// A broker function whose answers the test gives: every call waits on a promise of
/// its own, settled through [`Held::answer`].
#[derive(Clone, Default)]
pub struct Held {
    calls: Rc<RefCell<Vec<(Function, Function)>>>,
}

impl Held {
    pub fn broker(&self) -> JsValue {
        let calls = self.calls.clone();
        Closure::<dyn FnMut(JsValue) -> Promise>::new(move |_arg: JsValue| {
            let d = deferred();
            calls
                .borrow_mut()
                .push((d.get(1).unchecked_into(), d.get(2).unchecked_into()));
            d.get(0).unchecked_into()
        })
        .into_js_value()
    }

    pub fn count(&self) -> usize {
        self.calls.borrow().len()
    }

    /// Answers call `n` (from 0) with `value`.
    pub fn answer(&self, n: usize, value: &JsValue) -> Outcome {
        let res = self.calls.borrow().get(n).map(|c| c.0.clone());
        let res = res.ok_or_else(|| fail(format!("the broker has no call {n}")))?;
        res.call1(&JsValue::UNDEFINED, value).map(|_| ())
    }
}

/// A manager with `crossTab: false` and no logging unless `extra` says otherwise.
pub fn manager(broker: JsValue, extra: &[(&str, JsValue)]) -> Result<TokenManager, JsValue> {
    let mut pairs = alloc::vec![
        ("broker", broker),
        ("crossTab", false.into()),
        ("logLevel", "silent".into()),
    ];
    pairs.extend(extra.iter().cloned());
    TokenManager::create(obj(&pairs), None)
}

/// A storage key no other test uses (it also names the channel and the locks).
pub fn unique_key() -> String {
    format!("test-{}", js_sys::Math::floor(js_sys::Math::random() * 1e9))
}

pub fn storage(local: bool) -> Result<web_sys::Storage, JsValue> {
    let s = get(
        &js_sys::global(),
        if local {
            "localStorage"
        } else {
            "sessionStorage"
        },
    );
    s.dyn_into()
        .map_err(|_| fail(String::from("no Web Storage")))
}

/// What a listener heard, in order.
#[derive(Clone, Default)]
pub struct Heard(Rc<RefCell<Vec<JsValue>>>);

impl Heard {
    pub fn listener(&self) -> Function {
        let seen = self.0.clone();
        Closure::<dyn FnMut(JsValue)>::new(move |v: JsValue| seen.borrow_mut().push(v))
            .into_js_value()
            .unchecked_into()
    }

    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    pub fn get(&self, n: usize) -> JsValue {
        self.0
            .borrow()
            .get(n)
            .cloned()
            .unwrap_or(JsValue::UNDEFINED)
    }
}

/// `m.on(name, …)` recording what it hears.
pub fn hear(m: &TokenManager, name: &str) -> Result<Heard, JsValue> {
    let heard = Heard::default();
    m.on(name.into(), heard.listener().into())?;
    Ok(heard)
}

/// Bounded polling: `Ok` as soon as `cond()` holds, `Err` naming `what` after 10 s.
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) -> Outcome {
    let end = js_sys::Date::now() + 10_000.0;
    loop {
        if cond() {
            return Ok(());
        }
        if js_sys::Date::now() > end {
            return Err(fail(format!("timed out waiting for {what}")));
        }
        let _ = JsFuture::from(tick(10.0)).await;
    }
}

/// Bounded polling on something asynchronous: `cond()` resolves with whether it holds.
pub async fn until_async<F, Fut>(what: &str, mut cond: F) -> Outcome
where
    F: FnMut() -> Fut,
    Fut: core::future::Future<Output = Result<bool, JsValue>>,
{
    let end = js_sys::Date::now() + 10_000.0;
    loop {
        if cond().await? {
            return Ok(());
        }
        if js_sys::Date::now() > end {
            return Err(fail(format!("timed out waiting for {what}")));
        }
        let _ = JsFuture::from(tick(10.0)).await;
    }
}

/// `(held, pending)`: requests for the Web Locks whose names start with `prefix`.
pub async fn lock_requests(prefix: &str) -> Result<(u32, u32), JsValue> {
    let a = Array::from(&resolved(locks(prefix), "navigator.locks.query()").await?);
    let n = |i| a.get(i).as_f64().unwrap_or(0.0) as u32;
    Ok((n(0), n(1)))
}

/// The `access_token` of `peek()`, if any.
pub fn peeked(m: &TokenManager) -> Option<String> {
    text(&m.peek(), "access_token")
}
