//! JS values ↔ core types, each way once: response and entry fields, channel messages,
//! broker replies, the status object and errors. Only own properties are read (never a
//! polluted prototype); nothing here decides anything.

use super::bindings::{self, get, own};
use crate::core::{
    Env, ErrorCode, Field, Incoming, Kind, Msg, Reply, ResponseFields, State, Status, Storage,
    StoredFields, Token, TokenError, STORE_VERSION,
};
use alloc::string::String;
use alloc::vec::Vec;
use js_sys::Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A JS `Error` with `name = "TokenError"`, a stable `code`, `status` and, for failed
/// renewals that will be retried, `retryAt` (src/js/errors.js). Its text is fixed:
/// never response data.
pub fn to_js_error(e: &TokenError) -> JsValue {
    bindings::token_error(e.code.as_str(), e.detail, e.status, e.retry_at)
}

fn field(v: JsValue) -> Field {
    if let Some(s) = v.as_string() {
        Field::Str(s)
    } else if let Some(n) = v.as_f64() {
        Field::Num(n)
    } else if v.is_undefined() {
        Field::Missing
    } else {
        Field::Other
    }
}

/// The RFC 6749 §5.1 fields of a response object.
pub fn response_fields(v: &JsValue) -> Option<ResponseFields> {
    let a = own(v, "access_token token_type expires_in")?;
    Some(ResponseFields {
        access_token: field(a.get(0)),
        token_type: field(a.get(1)),
        expires_in: field(a.get(2)),
    })
}

/// The fields of a stored or broadcast entry: `None` when there is none (`undefined`);
/// a value that is not a plain object has every field `Other` (a corrupt entry).
pub fn stored_fields(v: &JsValue) -> Option<StoredFields> {
    if v.is_undefined() {
        return None;
    }
    let Some(a) = own(v, "v p access_token issued_at expires_at") else {
        return Some(StoredFields::CORRUPT);
    };
    Some(StoredFields {
        v: field(a.get(0)),
        p: field(a.get(1)),
        access_token: field(a.get(2)),
        issued_at: field(a.get(3)),
        expires_at: field(a.get(4)),
    })
}

/// The participant field `p` of an entry or message.
pub fn party(v: &JsValue) -> Field {
    field(get(v, "p"))
}

/// A stored/broadcast entry `{ v, access_token, issued_at, expires_at, p? }`.
pub fn entry(t: &Token, identity: &JsValue) -> JsValue {
    bindings::entry(
        STORE_VERSION,
        t.access.secret(),
        t.issued_at,
        t.expires_at,
        identity,
    )
}

/// The channel message `{ t, e?, n?, p?, s? }`: `e` the token entry, `n` the
/// question, `p` our participant, `s` this tab's presence id.
pub fn message(m: Msg, e: Option<JsValue>, identity: &JsValue, id: &JsValue) -> JsValue {
    bindings::message(m.kind.as_str(), e, m.nonce, identity, id)
}

/// A message from another tab (anything at all: other scripts may post on the channel).
pub fn incoming(data: &JsValue) -> Incoming {
    let a = own(data, "t p e n s");
    let at = |i| a.as_ref().map_or(JsValue::UNDEFINED, |a| a.get(i));
    let kind = at(0).as_string().map_or(Kind::Unknown, |t| Kind::parse(&t));
    Incoming {
        kind,
        p: field(at(1)),
        entry: (kind == Kind::Token)
            .then(|| stored_fields(&at(2)))
            .flatten(),
        nonce: at(3).as_f64(),
        from: at(4).as_string(),
    }
}

/// The ids of the other live tabs (see `presence` in bindings.rs); `None` when they
/// could not be listed.
pub fn peers(v: &JsValue) -> Option<Vec<String>> {
    let a: &Array = v.dyn_ref()?;
    let mut ids = Vec::new();
    for i in 0..a.length() {
        if let Some(id) = a.get(i).as_string() {
            ids.push(id);
        }
    }
    Some(ids)
}

/// What the broker did: `v` is what the request settled with (`ok`) or threw.
pub fn reply(url: bool, ok: bool, v: &JsValue) -> Reply {
    match (url, ok) {
        (true, true) => url_reply(v),
        (false, true) => Reply::Body {
            status: 0,
            fields: response_fields(v),
        },
        // A rejected fetch (or body read) is a network error: never a status to trust.
        (true, false) => Reply::Network,
        (false, false) => thrown(v),
    }
}

/// The broker URL's answer, `[status, Retry-After]`, `[status, null, body]` or `[0]`
/// (see `post` in bindings.rs; the body arrives parsed, `null` when it was not JSON or
/// too large).
fn url_reply(v: &JsValue) -> Reply {
    let a: &Array = v.unchecked_ref();
    let status = a.get(0).as_f64().unwrap_or(0.0) as u16;
    match a.length() {
        _ if status == 0 => Reply::Redirect,
        3 => Reply::Body {
            status,
            fields: response_fields(&a.get(2)),
        },
        _ => Reply::Status {
            status,
            retry_after: a.get(1).as_string(),
        },
    }
}

/// A broker function may throw `{ status }` to report an HTTP-like outcome (so that a
/// 401 from the app's own fetch stays final); anything else is "unreachable".
fn thrown(e: &JsValue) -> Reply {
    match get(e, "status").as_f64() {
        Some(s) if (100.0..600.0).contains(&s) => Reply::Status {
            status: s as u16,
            retry_after: None,
        },
        _ => Reply::Network,
    }
}

/// `status()`: a plain object without the token (`token` is masked in JS).
pub fn status(st: Status, token: Option<&Token>, storage: Storage, env: Env) -> JsValue {
    let num = |v: Option<f64>| v.unwrap_or(f64::NAN);
    bindings::status(
        st.state.as_str(),
        num(st.expires_in),
        num(st.expires_at),
        num(st.renew_at),
        num(st.next_attempt_at),
        st.broker_calls as f64,
        st.last_error.map(|c| c.as_str()),
        storage.as_str(),
        env.channel,
        env.locks,
        token.map(|t| t.access.secret()),
    )
}

/// `status()` of a manager a panic stopped.
pub fn poisoned_status() -> JsValue {
    bindings::stopped(State::Destroyed.as_str(), ErrorCode::Internal.as_str())
}
