//! What the core's three test harnesses share (`lifecycle_tests`, `tab_tests`,
//! `sim_tests`): the virtual clock's units and origin, and the broker's scripted answers.

use super::{Field, Now, Reply, ResponseFields};

/// One second and one hour, in the core's milliseconds.
pub const S: f64 = 1000.0;
pub const H: f64 = 3600.0 * S;
/// The wall clock at mono 0 (November 2023).
pub const WALL0: f64 = 1_700_000_000_000.0;

/// The clock `ms` after the start.
pub fn at(ms: f64) -> Now {
    Now {
        wall: WALL0 + ms,
        mono: ms,
    }
}

/// A 200 with the RFC 6749 §5.1 fields: `tok`, Bearer, `secs` to live.
pub fn body(tok: &str, secs: f64) -> Reply {
    Reply::Body {
        status: 200,
        fields: Some(ResponseFields {
            access_token: Field::Str(tok.into()),
            token_type: Field::Str("Bearer".into()),
            expires_in: Field::Num(secs),
        }),
    }
}

/// A healthy answer whose token is "tk".
pub fn ok(secs: f64) -> Reply {
    body("tk", secs)
}

/// A bare HTTP status, no `Retry-After`.
pub fn status(s: u16) -> Reply {
    Reply::Status {
        status: s,
        retry_after: None,
    }
}
