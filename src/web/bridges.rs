//! Integrations on top of the shell: the MyDataHelps.js SDK, embedded MyDataHelps
//! frames, an authenticated `fetch`, and the devtools console helper.

use super::js::{self, cast, get, set};
use super::shell::{Shell, LOG_DEBUG, LOG_WARN};
use crate::core::{ErrorCode, TokenError};
use js_sys::{Function, Object, Promise};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};

fn invalid(detail: &'static str) -> TokenError {
    TokenError::new(ErrorCode::InvalidOptions, detail)
}

/// The SDK's token object: `{ access_token, token_type, expires_in }` with the whole
/// seconds left now, so a token restored from storage is not stretched.
fn sdk_token(t: &JsValue) -> Object {
    let o = Object::new();
    set(&o, "access_token", &get(t, "access_token"));
    set(&o, "token_type", &get(t, "token_type"));
    set(&o, "expires_in", &get(t, "expires_in"));
    o
}

/// A detach function that runs `f` at most once (a second call is a no-op).
fn once_fn(f: impl FnOnce() + 'static) -> Function {
    let mut f = Some(f);
    cast(
        Closure::<dyn FnMut()>::new(move || {
            if let Some(f) = f.take() {
                f()
            }
        })
        .into_js_value(),
    )
}

/// Marks a promise as handled (so nobody gets an `unhandledrejection` for a promise
/// they never looked at) and returns it unchanged for those who do.
fn quiet(p: Promise) -> Promise {
    js::quiet(&p)
}

/// `attachSdk(sdk, { baseUrl })`: pushes each new token into MyDataHelps.js once and
/// turns its `tokenWillExpire` into a renewal when the token really is due.
pub fn attach_sdk(
    shell: &Shell,
    sdk: JsValue,
    base_url: Option<String>,
) -> Result<Function, TokenError> {
    let set_token = get(&sdk, "setParticipantAccessToken");
    let (on, off) = (get(&sdk, "on"), get(&sdk, "off"));
    if !set_token.is_function() || !on.is_function() || !off.is_function() {
        return Err(invalid(
            "attachSdk expects MyDataHelps (setParticipantAccessToken, on, off)",
        ));
    }
    let (set_token, on, off): (Function, Function, Function) =
        (cast(set_token), cast(on), cast(off));
    let base_url = JsValue::from_str(base_url.as_deref().unwrap_or(shell.base_url()));
    // The last token pushed, so each token reaches the SDK exactly once (every push
    // stacks another never-cleared timer inside MyDataHelps.js 5.7).
    let last: Rc<RefCell<JsValue>> = Rc::new(RefCell::new(JsValue::UNDEFINED));
    let push = {
        let (sdk, shell) = (sdk.clone(), shell.clone());
        Rc::new(move |t: &JsValue| {
            let access = get(t, "access_token");
            if !access.is_string() || *last.borrow() == access {
                return;
            }
            *last.borrow_mut() = access;
            if set_token.call2(&sdk, &sdk_token(t), &base_url).is_err() {
                shell.log(LOG_WARN, "MyDataHelps.setParticipantAccessToken threw");
            }
        })
    };
    let on_token: Function = {
        let push = push.clone();
        cast(Closure::<dyn FnMut(JsValue)>::new(move |t: JsValue| push(&t)).into_js_value())
    };
    let unsubscribe = shell.on("token", on_token)?;
    let will_expire: Function = {
        let shell = shell.clone();
        cast(Closure::<dyn FnMut(JsValue)>::new(move |_ev: JsValue| shell.nudge()).into_js_value())
    };
    let event = JsValue::from_str("tokenWillExpire");
    let _ = on.call2(&sdk, &event, &will_expire);
    let current = shell.peek();
    let ready = if current.is_null() {
        let (shell, push) = (shell.clone(), push.clone());
        future_to_promise(async move {
            let t = JsFuture::from(shell.get_token()).await?;
            push(&t);
            Ok(JsValue::TRUE)
        })
    } else {
        push(&current);
        Promise::resolve(&JsValue::TRUE)
    };
    let detach = once_fn(move || {
        let _ = unsubscribe.call0(&JsValue::UNDEFINED);
        let _ = off.call2(&sdk, &event, &will_expire);
    });
    set(&detach, "ready", &quiet(ready));
    shell.on_destroy(&detach);
    Ok(detach)
}

/// Normalises an origin the way `MessageEvent.origin` spells it; `None` for anything
/// that is not exactly `scheme://host[:port]`.
fn exact_origin(s: &str) -> Option<String> {
    let url = web_sys::Url::new(s).ok()?;
    let origin = url.origin();
    let bare = s.strip_suffix('/').unwrap_or(s);
    (origin != "null" && origin == bare).then_some(origin)
}

/// `serveFrames({ origins, baseUrl, participantId })`: answers
/// `GetDelegatedAccessToken` from frames of the listed origins only, posting to that
/// exact origin (MyDataHelps.js posts to `"*"`; we never do).
pub fn serve_frames(
    shell: &Shell,
    origins: Vec<String>,
    base_url: Option<String>,
    participant_id: Option<String>,
) -> Result<Function, TokenError> {
    if origins.is_empty() {
        return Err(invalid(
            "serveFrames needs origins: a list like [\"https://mydatahelps.org\"]",
        ));
    }
    let origins: Vec<String> = origins
        .iter()
        .map(|o| exact_origin(o))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            invalid("serveFrames origins must be exact origins (scheme://host[:port]), never \"*\"")
        })?;
    let win = web_sys::window().ok_or_else(|| invalid("serveFrames needs a window"))?;
    let base_url = base_url.unwrap_or_else(|| shell.base_url().to_owned());
    let listener = {
        let shell = shell.clone();
        super::handles::Listener::new(&win, "message", move |ev: web_sys::Event| {
            let ev: web_sys::MessageEvent = cast(ev.into());
            let origin = ev.origin();
            if !origins.contains(&origin) {
                shell.log(
                    LOG_DEBUG,
                    "ignored a message from an origin not in serveFrames' list",
                );
                return;
            }
            if get(&ev.data(), "name").as_string().as_deref() != Some("GetDelegatedAccessToken") {
                return;
            }
            let Some(source) = ev.source() else { return };
            let (shell, base_url, participant_id) =
                (shell.clone(), base_url.clone(), participant_id.clone());
            spawn_local(async move {
                let Ok(t) = JsFuture::from(shell.get_token()).await else {
                    shell.log(LOG_WARN, "could not answer a frame: no token");
                    return;
                };
                let msg = Object::new();
                set(&msg, "name", &"DelegatedAccessTokenResponse".into());
                set(&msg, "accessToken", &sdk_token(&t));
                set(&msg, "baseUrl", &base_url.as_str().into());
                if let Some(p) = &participant_id {
                    set(&msg, "participantID", &p.as_str().into());
                }
                let post = get(&source, "postMessage");
                if post.is_function() {
                    let post: Function = cast(post);
                    let _ = post.call2(&source, &msg, &origin.as_str().into());
                }
            });
        })
    };
    let holder = RefCell::new(Some(listener));
    let stop = once_fn(move || drop(holder.borrow_mut().take()));
    shell.on_destroy(&stop);
    Ok(stop)
}

/// `tokens.fetch(input, init)`: the request with `Authorization: Bearer …`; on a 401 it
/// renews once and retries once when the body can be replayed. The token only goes to
/// the origin of `baseUrl`.
pub fn auth_fetch(shell: &Shell, input: JsValue, init: JsValue) -> Promise {
    let Some(allowed) = web_sys::Url::new(shell.base_url()).ok().map(|u| u.origin()) else {
        return Promise::reject(&crate::facade::to_js_error(&invalid(
            "baseUrl is not a URL",
        )));
    };
    let (g, r) = (shell.clone(), shell.clone());
    let get_token: Function =
        cast(Closure::<dyn FnMut() -> Promise>::new(move || g.get_token()).into_js_value());
    let refresh: Function =
        cast(Closure::<dyn FnMut() -> Promise>::new(move || r.refresh()).into_js_value());
    let refused = crate::facade::to_js_error(&invalid(
        "fetch() sends the token only to the origin of baseUrl",
    ));
    js::auth_fetch(&get_token, &refresh, &allowed, &refused, &input, &init)
}

const HELP: &str = "mdh-token devtools:
  mdhToken.status()      state, time left, renewal point, broker calls (token masked)
  mdhToken.refresh()     force a renewal; resolves with status()
  mdhToken.clear()       forget the token here and in other tabs
  mdhToken.logLevel(l)   silent | error | warn | info | debug
  mdhToken.help()        this text";

/// Exposes `globalThis[name]` with status/refresh/clear/logLevel/help. Nothing it
/// prints or returns contains the token.
pub fn devtools(shell: &Shell, name: &str) {
    let o = Object::new();
    let s = shell.clone();
    let status = Closure::<dyn FnMut() -> JsValue>::new(move || {
        let st = s.status();
        web_sys::console::table_1(&st);
        st
    })
    .into_js_value();
    let s = shell.clone();
    let st_fn: Function = cast(status.clone());
    let refresh = Closure::<dyn FnMut() -> Promise>::new(move || {
        let (s, st_fn) = (s.clone(), st_fn.clone());
        quiet(future_to_promise(async move {
            let r = JsFuture::from(s.refresh()).await;
            let st = st_fn.call0(&JsValue::UNDEFINED)?;
            r.map(|_| st)
        }))
    })
    .into_js_value();
    let s = shell.clone();
    let clear = Closure::<dyn FnMut()>::new(move || s.clear()).into_js_value();
    let s = shell.clone();
    let level = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |l: JsValue| {
        match l.as_string().as_deref().and_then(crate::facade::log_level) {
            Some(v) => {
                s.set_log_level(v);
                JsValue::TRUE
            }
            None => {
                web_sys::console::warn_1(
                    &"mdh-token: logLevel takes silent, error, warn, info or debug".into(),
                );
                JsValue::FALSE
            }
        }
    })
    .into_js_value();
    let help =
        Closure::<dyn FnMut()>::new(|| web_sys::console::info_1(&HELP.into())).into_js_value();
    set(&o, "status", &status);
    set(&o, "refresh", &refresh);
    set(&o, "clear", &clear);
    set(&o, "logLevel", &level);
    set(&o, "help", &help);
    let global = js_sys::global();
    let key = JsValue::from_str(name);
    let _ = js_sys::Reflect::set(&global, &key, &o);
    let ours: JsValue = o.into();
    let remove = once_fn(move || {
        let g = js_sys::global();
        if js_sys::Reflect::get(&g, &key).ok().as_ref() == Some(&ours) {
            let _ = js_sys::Reflect::delete_property(&g, &key);
        }
    });
    shell.on_destroy(&remove);
}
