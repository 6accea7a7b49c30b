//! The one module of `#[wasm_bindgen]` exports: the options, checked by options.js and
//! decoded here once into the shell's [`Options`] and the core's [`Config`] (the shipped
//! defaults are [`Config::default`]'s), and the `TokenManager` class.

use crate::core::{Config, Credentials, ErrorCode, Level, RetryPolicy, Storage, TokenError};
use crate::web::convert::to_js_error;
use crate::web::listeners::Name;
use crate::web::{Broker, Options, Shell};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

fn bad(detail: &'static str) -> JsValue {
    to_js_error(&TokenError::new(ErrorCode::InvalidOptions, detail))
}

// The options are checked in JS (each check is a JS type test); options.js returns them
// in an array, in the order of `Opt`, `undefined` where absent, each of its type, read
// by two index getters (one getter per option cost 200 B of gzip, mostly glue):
// `number` reads an absent one as NaN (never a value options.js lets through); the
// variant indices and the booleans are read as numbers too (a boolean as 1 or 0),
// smaller than `Option<u32>` and `Option<bool>`, each a conversion of its own; a string
// comes as a `JsValue`, kept as one where only JS reads it (names, URLs: no copy into
// wasm memory and back) and read with `as_string` where the core needs it.
#[wasm_bindgen(module = "/src/js/options.js")]
extern "C" {
    /// options.js's answer: the options in the order of [`Opt`].
    type Checked;
    #[wasm_bindgen(catch)]
    fn options(o: &JsValue) -> Result<Checked, JsValue>;
    #[wasm_bindgen(method, indexing_getter)]
    fn value_at(this: &Checked, i: u32) -> JsValue;
    #[wasm_bindgen(method, indexing_getter)]
    fn number_at(this: &Checked, i: u32) -> f64;
    /// setLogLevel()'s argument as a `Level` index; else throws `invalid_options`.
    #[wasm_bindgen(catch)]
    fn level(v: &JsValue) -> Result<u32, JsValue>;
}

/// The options in the order options.js answers them: its `ORDER`, which
/// tests/js/contracts.test.js holds this list to.
#[derive(Clone, Copy)]
enum Opt {
    Broker,
    Headers,
    StorageKey,
    BaseDelayMs,
    Participant,
    Credentials,
    Storage,
    LogLevel,
    RenewBeforeSeconds,
    TimeoutMs,
    MaxAttempts,
    MaxDelayMs,
    CrossTab,
    AutoRefresh,
    BaseUrl,
    Devtools,
    Scope,
}

impl Checked {
    fn value(&self, o: Opt) -> JsValue {
        self.value_at(o as u32)
    }
    fn number(&self, o: Opt) -> f64 {
        self.number_at(o as u32)
    }
    /// A boolean read as a number (1 or 0; NaN when absent).
    fn flag(&self, o: Opt, d: bool) -> bool {
        let x = self.number(o);
        if x.is_nan() {
            d
        } else {
            x != 0.0
        }
    }
}

/// Decodes what options.js checked: the shell's options, the core's and the devtools
/// global name.
fn decode(o: &JsValue) -> Result<(Options, Config, JsValue), JsValue> {
    let c = options(o)?;
    let d = Config::default();
    let num = |x: f64, d: f64| if x.is_nan() { d } else { x };
    // options.js gives the named options as the index of their variant.
    let index = |x: f64, d: usize| if x.is_nan() { d } else { x as usize };
    let storage = Storage::ALL[index(c.number(Opt::Storage), d.storage as usize)];
    let credentials =
        Credentials::ALL[index(c.number(Opt::Credentials), Credentials::SameOrigin as usize)];
    let log_level = Level::ALL[index(c.number(Opt::LogLevel), d.log_level as usize)];
    let base_delay_ms = num(c.number(Opt::BaseDelayMs), d.retry.base_delay_ms);
    let max_delay_ms = num(
        c.number(Opt::MaxDelayMs),
        d.retry.max_delay_ms.max(base_delay_ms),
    );
    if max_delay_ms < base_delay_ms {
        return Err(bad(
            "retry.maxDelayMs must be a number from baseDelayMs to 3600000",
        ));
    }
    // A function or, options.js made sure, a URL string.
    let broker = match c.value(Opt::Broker).dyn_into() {
        Ok(f) => Broker::Func(f),
        Err(url) => Broker::Url(url),
    };
    let participant = c.value(Opt::Participant);
    let identity = participant.as_string();
    let opts = Options {
        broker,
        headers: c.value(Opt::Headers),
        credentials,
        storage_key: c.value(Opt::StorageKey),
        scope: c.value(Opt::Scope),
        participant,
        base_url: c.value(Opt::BaseUrl),
    };
    let cfg = Config {
        identity,
        renew_before_ms: num(
            c.number(Opt::RenewBeforeSeconds) * 1000.0,
            d.renew_before_ms,
        ),
        retry: RetryPolicy {
            max_attempts: num(c.number(Opt::MaxAttempts), d.retry.max_attempts as f64) as u32,
            base_delay_ms,
            max_delay_ms,
        },
        auto_refresh: c.flag(Opt::AutoRefresh, d.auto_refresh),
        timeout_ms: num(c.number(Opt::TimeoutMs), d.timeout_ms),
        cross_tab: c.flag(Opt::CrossTab, d.cross_tab),
        storage,
        log_level,
    };
    Ok((opts, cfg, c.value(Opt::Devtools)))
}

/// Keeps one participant access token alive. Create it with `createTokenManager`.
#[wasm_bindgen]
pub struct TokenManager {
    shell: Shell,
    /// The global name, or `undefined`.
    devtools: JsValue,
}

impl TokenManager {
    /// Runs what a panic inside this manager runs before the trap, `panicked()`
    /// (for the shell tests, which cannot survive a real trap; not exported to JS).
    #[doc(hidden)]
    pub fn poison_for_tests(&self) {
        self.shell.poison_for_tests();
    }

    /// `Err(internal)` once a panic stopped this manager.
    fn alive(&self) -> Result<(), JsValue> {
        match self.shell.poisoned() {
            Some(e) => Err(to_js_error(&e)),
            None => Ok(()),
        }
    }
}

#[wasm_bindgen]
impl TokenManager {
    /// Validates `options` and starts the manager (restores a stored token, joins
    /// the other tabs). Throws a `TokenError` with code `invalid_options`.
    ///
    /// `sink(token, until)`, when given, receives token objects that may be handed out
    /// again until the wall time `until` (the JS entry's hot-path cache), and
    /// `sink(null, 0)` when that no longer holds.
    pub fn create(options: JsValue, sink: Option<Function>) -> Result<TokenManager, JsValue> {
        let (opts, cfg, devtools) = decode(&options)?;
        let shell = Shell::new(opts, cfg, sink);
        Ok(TokenManager { shell, devtools })
    }

    /// A usable token `{ access_token, token_type, expires_in, expires_at }`, from
    /// memory when there is one, else from the broker (one request for all callers).
    #[wasm_bindgen(js_name = getToken)]
    pub fn get_token(&self) -> Promise {
        self.shell.get_token()
    }

    /// The usable token or `null`, synchronously; never starts a request.
    pub fn peek(&self) -> JsValue {
        self.shell.peek()
    }

    /// A token from a broker request made now (joins one already under way).
    pub fn refresh(&self) -> Promise {
        self.shell.refresh()
    }

    /// Forgets the token here, in storage and in the other tabs.
    pub fn clear(&self) {
        self.shell.clear()
    }

    /// Listens to `token`, `expiring`, `expired`, `error` or `cleared`; returns the
    /// function that stops listening.
    pub fn on(&self, name: JsValue, listener: JsValue) -> Result<Function, JsValue> {
        // Checked here: wasm-bindgen would take any value for a `Function` parameter.
        let (Some(name), true) = (name.as_string(), listener.is_function()) else {
            return Err(bad("on(name, listener) takes an event name and a function"));
        };
        let name = Name::parse(&name)
            .ok_or_else(|| bad("unknown event: use token, expiring, expired, error or cleared"))?;
        self.shell
            .on(name, listener.unchecked_into())
            .map_err(|e| to_js_error(&e))
    }

    /// A snapshot for humans; the token appears only masked.
    pub fn status(&self) -> JsValue {
        self.shell.status()
    }

    /// Sets the console log level: silent, error, warn, info or debug.
    #[wasm_bindgen(js_name = setLogLevel)]
    pub fn set_log_level(&self, l: JsValue) -> Result<(), JsValue> {
        self.shell.set_log_level(Level::ALL[level(&l)? as usize]);
        Ok(())
    }

    /// The configured `baseUrl`; throws `internal` once a panic stopped this manager.
    #[wasm_bindgen(js_name = __base)]
    pub fn base(&self) -> Result<JsValue, JsValue> {
        self.alive()?;
        Ok(self.shell.base_url().clone())
    }

    /// The `devtools` global name asked for at creation, if any.
    #[wasm_bindgen(js_name = __devtools)]
    pub fn devtools(&self) -> JsValue {
        self.devtools.clone()
    }

    /// The SDK's `tokenWillExpire`: renews only if the token really is due.
    #[wasm_bindgen(js_name = __nudge)]
    pub fn nudge(&self) {
        self.shell.nudge()
    }

    /// Logs through the manager's log level (for the integrations).
    #[wasm_bindgen(js_name = __log)]
    pub fn log(&self, level: u8, msg: JsValue) {
        self.shell.log(level, &msg)
    }

    /// Registers an integration's detach function, called by `destroy()`.
    #[wasm_bindgen(js_name = __onDestroy)]
    pub fn on_destroy(&self, detach: &Function) {
        self.shell.on_destroy(detach)
    }

    /// Stops every timer, listener, channel and request; later calls fail with
    /// `destroyed`.
    pub fn destroy(&self) {
        self.shell.destroy()
    }
}
