//! The one module of `#[wasm_bindgen]` exports: option parsing, the `TokenManager`
//! class, and the conversion of core errors into JS `TokenError`s.

use crate::core::{Config, ErrorCode, RetryPolicy, TokenError};
use crate::web::js::{get, set};
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

fn opt_str(o: &JsValue, key: &str, detail: &'static str) -> Result<Option<String>, JsValue> {
    let v = get(o, key);
    if v.is_undefined() {
        return Ok(None);
    }
    v.as_string().map(Some).ok_or_else(|| bad(detail))
}

fn opt_bool(o: &JsValue, key: &str, default: bool, detail: &'static str) -> Result<bool, JsValue> {
    let v = get(o, key);
    if v.is_undefined() {
        return Ok(default);
    }
    v.as_bool().ok_or_else(|| bad(detail))
}

fn opt_num(
    o: &JsValue,
    key: &str,
    default: f64,
    min: f64,
    max: f64,
    detail: &'static str,
) -> Result<f64, JsValue> {
    let v = get(o, key);
    if v.is_undefined() {
        return Ok(default);
    }
    match v.as_f64() {
        Some(n) if n.is_finite() && n >= min && n <= max => Ok(n),
        _ => Err(bad(detail)),
    }
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

/// `baseUrl`: an absolute http(s) URL.
fn parse_base_url(v: Option<String>) -> Result<Option<String>, JsValue> {
    const DETAIL: &str = "baseUrl must be an absolute http(s) URL";
    let Some(s) = v else { return Ok(None) };
    let url = web_sys::Url::new(&s).map_err(|_| bad(DETAIL))?;
    match url.protocol().as_str() {
        "https:" | "http:" => Ok(Some(s)),
        _ => Err(bad(DETAIL)),
    }
}

fn parse_options(o: &JsValue) -> Result<(Options, Option<String>), JsValue> {
    if !(o.is_undefined() || crate::web::js::is_record(o)) {
        return Err(bad("options must be an object"));
    }
    let b = get(o, "broker");
    let broker = if let Some(url) = b.as_string().filter(|s| !s.is_empty()) {
        Broker::Url(url)
    } else if b.is_function() {
        Broker::Func(b.unchecked_into())
    } else {
        return Err(bad("broker must be a URL string or an async function"));
    };
    let h = get(o, "headers");
    if !(h.is_undefined() || crate::web::js::is_record(&h)) {
        return Err(bad("headers must be an object of strings"));
    }
    let headers =
        crate::web::js::headers(&h).map_err(|_| bad("headers hold an invalid name or value"))?;
    if headers.is_null() {
        return Err(bad("headers must be an object of strings"));
    }
    let credentials = match opt_str(
        o,
        "credentials",
        "credentials must be same-origin, include or omit",
    )?
    .as_deref()
    {
        None | Some("same-origin") => "same-origin",
        Some("include") => "include",
        Some("omit") => "omit",
        _ => return Err(bad("credentials must be same-origin, include or omit")),
    };
    let storage =
        match opt_str(o, "storage", "storage must be memory, session or local")?.as_deref() {
            None | Some("memory") => StoreKind::Memory,
            Some("session") => StoreKind::Session,
            Some("local") => StoreKind::Local,
            _ => return Err(bad("storage must be memory, session or local")),
        };
    let storage_key = opt_str(o, "storageKey", "storageKey must be a non-empty string")?
        .unwrap_or_else(|| "mdh-token".into());
    if storage_key.is_empty() {
        return Err(bad("storageKey must be a non-empty string"));
    }
    let renew_before = opt_num(
        o,
        "renewBeforeSeconds",
        120.0,
        0.0,
        86_400.0,
        "renewBeforeSeconds must be a number from 0 to 86400",
    )?;
    let timeout_ms = opt_num(
        o,
        "timeoutMs",
        10_000.0,
        1.0,
        600_000.0,
        "timeoutMs must be a number from 1 to 600000",
    )?;
    let r = get(o, "retry");
    if !(r.is_undefined() || crate::web::js::is_record(&r)) {
        return Err(bad("retry must be an object"));
    }
    let d = RetryPolicy::default();
    let max_attempts = opt_num(
        &r,
        "maxAttempts",
        d.max_attempts as f64,
        1.0,
        100.0,
        "retry.maxAttempts must be an integer from 1 to 100",
    )?;
    if crate::core::floor(max_attempts) != max_attempts {
        return Err(bad("retry.maxAttempts must be an integer from 1 to 100"));
    }
    let base_delay_ms = opt_num(
        &r,
        "baseDelayMs",
        d.base_delay_ms,
        0.0,
        3_600_000.0,
        "retry.baseDelayMs must be a number from 0 to 3600000",
    )?;
    let max_delay_ms = opt_num(
        &r,
        "maxDelayMs",
        d.max_delay_ms.max(base_delay_ms),
        base_delay_ms,
        3_600_000.0,
        "retry.maxDelayMs must be a number from baseDelayMs to 3600000",
    )?;
    let log = opt_str(
        o,
        "logLevel",
        "logLevel must be silent, error, warn, info or debug",
    )?;
    let log_level = match log.as_deref() {
        None => LOG_WARN,
        Some(s) => log_level(s)
            .ok_or_else(|| bad("logLevel must be silent, error, warn, info or debug"))?,
    };
    let base_url = parse_base_url(opt_str(
        o,
        "baseUrl",
        "baseUrl must be an absolute http(s) URL",
    )?)?
    .unwrap_or_else(|| "https://mydatahelps.org/".into());
    let d = get(o, "devtools");
    let devtools = match (d.as_bool(), d.as_string()) {
        _ if d.is_undefined() => None,
        (Some(true), _) => Some("mdhToken".into()),
        (Some(false), _) => None,
        (_, Some(name)) if !name.is_empty() => Some(name),
        _ => return Err(bad("devtools must be a boolean or a global name")),
    };
    let opts = Options {
        broker,
        headers,
        credentials,
        storage,
        storage_key,
        timeout_ms,
        cross_tab: opt_bool(o, "crossTab", true, "crossTab must be a boolean")?,
        core: Config {
            renew_before_ms: renew_before * 1000.0,
            retry: RetryPolicy {
                max_attempts: max_attempts as u32,
                base_delay_ms,
                max_delay_ms,
            },
            auto_refresh: opt_bool(o, "autoRefresh", true, "autoRefresh must be a boolean")?,
        },
        log_level,
        base_url,
    };
    Ok((opts, devtools))
}

/// Keeps one participant access token alive. Create it with `createTokenManager`.
#[wasm_bindgen]
pub struct TokenManager {
    shell: Shell,
    devtools: Option<String>,
}

impl TokenManager {
    /// Stops this manager as a panic would (for tests; not exported to JavaScript).
    #[doc(hidden)]
    pub fn poison_for_tests(&self) {
        self.shell.poison();
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

    /// The integrations, for index.js to put on the prototype: `[methods, devtools]`.
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
