//! JS values ↔ core types, each way once: response and entry fields, channel messages,
//! broker replies, the status object and errors. Only own properties are read (never a
//! polluted prototype); nothing here decides anything.

use super::bindings::{self, get, own, set};
use crate::core::{
    Env, Field, Incoming, Kind, Msg, Reply, ResponseFields, Status, Storage, StoredFields, Token,
    TokenError, STORE_VERSION,
};
use js_sys::{Array, Object};
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
        return Some(StoredFields {
            v: Field::Other,
            p: Field::Other,
            access_token: Field::Other,
            issued_at: Field::Other,
            expires_at: Field::Other,
        });
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
pub fn entry(t: &Token, identity: Option<&str>) -> Object {
    let o = Object::new();
    set(&o, "v", &JsValue::from_f64(STORE_VERSION));
    set(&o, "access_token", &JsValue::from_str(t.access.secret()));
    set(&o, "issued_at", &JsValue::from_f64(t.issued_at));
    set(&o, "expires_at", &JsValue::from_f64(t.expires_at));
    if let Some(p) = identity {
        set(&o, "p", &JsValue::from_str(p));
    }
    o
}

/// The frozen token object `{ access_token, token_type, expires_in, expires_at }`.
pub fn token_object(access: &JsValue, secs: f64, expires_at: f64) -> JsValue {
    let o = Object::new();
    set(&o, "access_token", access);
    set(&o, "token_type", &"Bearer".into());
    set(&o, "expires_in", &JsValue::from_f64(secs));
    set(&o, "expires_at", &JsValue::from_f64(expires_at));
    bindings::freeze(&o).into()
}

/// The channel message `{ t, e?, n?, p? }`: `e` the token entry, `n` the question,
/// `p` our participant.
pub fn message(m: Msg, e: Option<&Object>, identity: Option<&str>) -> Object {
    let o = Object::new();
    set(&o, "t", &m.kind.as_str().into());
    if let Some(e) = e {
        set(&o, "e", e);
    }
    if let Some(n) = m.nonce {
        set(&o, "n", &JsValue::from_f64(n));
    }
    if let Some(p) = identity {
        set(&o, "p", &p.into());
    }
    o
}

/// A message from another tab (anything at all: other scripts may post on the channel).
pub fn incoming(data: &JsValue) -> Incoming {
    let a = own(data, "t p e n");
    let at = |i| a.as_ref().map_or(JsValue::UNDEFINED, |a| a.get(i));
    let kind = at(0).as_string().map_or(Kind::Unknown, |t| Kind::parse(&t));
    Incoming {
        kind,
        p: field(at(1)),
        entry: (kind == Kind::Token)
            .then(|| stored_fields(&at(2)))
            .flatten(),
        nonce: at(3).as_f64(),
    }
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

/// `status()`: a plain object without the token.
pub fn status(st: Status, storage: Storage, env: Env) -> JsValue {
    let o = Object::new();
    let num = |v: Option<f64>| v.map_or(JsValue::NULL, JsValue::from_f64);
    set(&o, "state", &st.state.as_str().into());
    set(&o, "expiresIn", &num(st.expires_in));
    set(&o, "expiresAt", &num(st.expires_at));
    set(&o, "renewAt", &num(st.renew_at));
    set(&o, "nextAttemptAt", &num(st.next_attempt_at));
    set(
        &o,
        "brokerCalls",
        &JsValue::from_f64(st.broker_calls as f64),
    );
    set(
        &o,
        "lastError",
        &st.last_error.map_or(JsValue::NULL, |c| c.as_str().into()),
    );
    set(&o, "storage", &storage.as_str().into());
    let ct = Object::new();
    set(&ct, "broadcastChannel", &env.channel.into());
    set(&ct, "webLocks", &env.locks.into());
    set(&o, "crossTab", &ct);
    set(&o, "token", &st.masked.map_or(JsValue::NULL, |m| m.into()));
    o.into()
}

/// `status()` of a manager a panic stopped.
pub fn poisoned_status() -> JsValue {
    let o = Object::new();
    set(&o, "state", &"destroyed".into());
    set(&o, "lastError", &"internal".into());
    o.into()
}
