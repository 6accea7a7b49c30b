//! The one module of `#[wasm_bindgen]` exports: option parsing, the `TokenManager`
//! class, and the conversion of core errors into JS `TokenError`s.

use crate::core::{Config, ErrorCode, RetryPolicy, TokenError};
use crate::web::js::set;
use crate::web::shell::{LOG_DEBUG, LOG_ERROR, LOG_INFO, LOG_SILENT, LOG_WARN};
use crate::web::{Broker, Options, Shell, StoreKind};
use alloc::string::String;
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A JS `Error` with `name = "TokenError"`, a stable `code`, `status` and, for failed
/// renewals that will be retried, `retryAt`. Its text is fixed: never response data.
pub(crate) fn to_js_error(e: &TokenError) -> JsValue {
    let mut msg = String::from("mdh-token: ");
    msg.push_str(e.detail);
    let err = js_sys::Error::new(&msg);
    err.set_name("TokenError");
    set(&err, "code", &e.code.as_str().into());
    set(&err, "status", &JsValue::from_f64(e.status as f64));
    if let Some(at) = e.retry_at {
        set(&err, "retryAt", &JsValue::from_f64(at));
    }
    err.into()
}

fn bad(detail: &'static str) -> JsValue {
    to_js_error(&TokenError::new(ErrorCode::InvalidOptions, detail))
}

/// Parses a log level name.
pub(crate) fn log_level(s: &str) -> Option<u8> {
    Some(match s {
        "silent" => LOG_SILENT,
        "error" => LOG_ERROR,
        "warn" => LOG_WARN,
        "info" => LOG_INFO,
        "debug" => LOG_DEBUG,
        _ => return None,
    })
}

// The options are checked in JS (each check is a JS type test); see options.js for
// the shape of what it returns.
#[wasm_bindgen(module = "/src/web/options.js")]
extern "C" {
    #[wasm_bindgen(catch)]
    fn options(o: &JsValue) -> Result<js_sys::Array, JsValue>;
}

fn parse_options(o: &JsValue) -> Result<(Options, Option<String>), JsValue> {
    let a = options(o)?;
    let num = |i: u32| a.get(i).as_f64().unwrap_or(0.0);
    let flag = |i: u32| a.get(i).as_bool().unwrap_or(true);
    let text = |i: u32| a.get(i).as_string();
    let b = a.get(0);
    let broker = match b.as_string() {
        Some(url) => Broker::Url(url),
        None => Broker::Func(b.unchecked_into()),
    };
    let opts = Options {
        broker,
        headers: a.get(1),
        credentials: ["same-origin", "include", "omit"][num(2) as usize % 3],
        storage: [StoreKind::Memory, StoreKind::Session, StoreKind::Local][num(3) as usize % 3],
        storage_key: text(4).unwrap_or_default(),
        scope: text(16).unwrap_or_default(),
        timeout_ms: num(5),
        cross_tab: flag(6),
        core: Config {
            identity: text(15),
            renew_before_ms: num(7),
            retry: RetryPolicy {
                max_attempts: num(8) as u32,
                base_delay_ms: num(9),
                max_delay_ms: num(10),
            },
            auto_refresh: flag(11),
        },
        log_level: num(12) as u8,
        base_url: text(13).unwrap_or_default(),
    };
    Ok((opts, text(14)))
}

/// Keeps one participant access token alive. Create it with `createTokenManager`.
#[wasm_bindgen]
pub struct TokenManager {
    shell: Shell,
    devtools: Option<String>,
}

impl TokenManager {
    /// Runs what a panic inside this manager runs before the trap, `poison_current()`
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
        let (opts, devtools) = parse_options(&options)?;
        let shell = Shell::new(opts, sink);
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
        self.shell
            .on(&name, listener.unchecked_into())
            .map_err(|e| to_js_error(&e))
    }

    /// A snapshot for humans; the token appears only masked.
    pub fn status(&self) -> JsValue {
        self.shell.status()
    }

    /// Sets the console log level: silent, error, warn, info or debug.
    #[wasm_bindgen(js_name = setLogLevel)]
    pub fn set_log_level(&self, level: JsValue) -> Result<(), JsValue> {
        let l = level
            .as_string()
            .as_deref()
            .and_then(log_level)
            .ok_or_else(|| bad("logLevel must be silent, error, warn, info or debug"))?;
        self.shell.set_log_level(l);
        Ok(())
    }

    /// The integrations, for the JS entry to put on the prototype: `[methods, devtools]`.
    #[wasm_bindgen(js_name = __integrations)]
    pub fn integrations() -> JsValue {
        crate::web::js::integrations()
    }

    /// The configured `baseUrl`; throws `internal` once a panic stopped this manager.
    #[wasm_bindgen(js_name = __base)]
    pub fn base(&self) -> Result<String, JsValue> {
        self.alive()?;
        Ok(self.shell.base_url().into())
    }

    /// The `devtools` global name asked for at creation, if any.
    #[wasm_bindgen(js_name = __devtools)]
    pub fn devtools(&self) -> Option<String> {
        self.devtools.clone()
    }

    /// The SDK's `tokenWillExpire`: renews only if the token really is due.
    #[wasm_bindgen(js_name = __nudge)]
    pub fn nudge(&self) {
        self.shell.nudge()
    }

    /// Logs through the manager's log level (for the integrations).
    #[wasm_bindgen(js_name = __log)]
    pub fn log(&self, level: u8, msg: &str) {
        self.shell.log(level, msg)
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
