//! Token responses and stored entries: validation and the secret newtype.

use super::error::{ErrorCode, TokenError};
use alloc::string::String;
use core::fmt;

/// RFC 6750 §2.1 allows any length; we cap it so a hostile broker cannot make us hold
/// megabytes (MyDataHelps tokens are far shorter).
pub const MAX_TOKEN_LEN: usize = 16384;
/// The longest broker answer (and stored entry) read, 64 KiB: a token response is far
/// smaller; a larger one is refused before it is parsed (the shell passes this to JS).
pub const MAX_BODY_BYTES: usize = 65_536;
/// A participant token valid for more than 30 days is a broker bug, not a token.
pub const MAX_EXPIRES_IN_SECS: f64 = 30.0 * 24.0 * 3600.0;
/// Version of the stored entry format; other versions are ignored.
pub const STORE_VERSION: f64 = 1.0;
/// A token living less than this is no token (a broker answering `expires_in: 1e-9`
/// would otherwise have an idle page call it hundreds of times a second). Two
/// seconds leaves room for a round trip and for the quarter-lifetime floor.
pub const MIN_EXPIRES_IN_SECS: f64 = 2.0;
/// A stored or broadcast entry may claim to be issued at most this far in the future:
/// the tabs of one device share its wall clock, so anything later is forged or from a
/// clock that jumped, and adopting it would block real tokens.
pub const MAX_FUTURE_ISSUE_MS: f64 = 5_000.0;

/// The access token. `Debug`/`Display` never print it: getting the value is
/// [`AccessToken::secret`], an explicit call.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a value already validated as a b64token.
    fn new(s: String) -> Self {
        AccessToken(s)
    }
    /// The raw token, for the `Authorization` header and the SDK; never for logs.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

/// A JSON field as the shell read it from a parsed object.
#[derive(Clone, Debug, PartialEq)]
pub enum Field {
    /// Absent or `undefined`.
    Missing,
    /// A string.
    Str(String),
    /// A number.
    Num(f64),
    /// Anything else (null, boolean, object, array).
    Other,
}

/// The fields of a broker response object (RFC 6749 §5.1); extra fields are ignored.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseFields {
    /// `access_token`.
    pub access_token: Field,
    /// `token_type`.
    pub token_type: Field,
    /// `expires_in` (seconds).
    pub expires_in: Field,
}

/// The fields of a stored or broadcast entry: `{ v, access_token, issued_at, expires_at, p }`.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredFields {
    /// The participant the token was issued for (absent for a manager without one).
    pub p: Field,
    /// Format version.
    pub v: Field,
    /// The token.
    pub access_token: Field,
    /// When the broker request was sent (epoch ms).
    pub issued_at: Field,
    /// Absolute expiry (epoch ms).
    pub expires_at: Field,
}

impl StoredFields {
    /// What a stored value that is not an object at all reads as: refused, so removed.
    pub const CORRUPT: StoredFields = StoredFields {
        p: Field::Other,
        v: Field::Other,
        access_token: Field::Other,
        issued_at: Field::Other,
        expires_at: Field::Other,
    };
}

/// A validated token with absolute times.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// The secret.
    pub access: AccessToken,
    /// Wall time the broker request was sent (epoch ms).
    pub issued_at: f64,
    /// Wall time it expires (epoch ms) = `issued_at` + `expires_in`.
    pub expires_at: f64,
    /// The same deadline on this page's monotonic clock, so that a wall clock set
    /// backwards cannot stretch the token's life.
    pub expires_mono: f64,
}

impl Token {
    /// The lifetime the broker granted, in ms.
    pub fn lifetime(&self) -> f64 {
        self.expires_at - self.issued_at
    }
    /// Milliseconds left: the smaller of the wall-clock and monotonic views. Wall time
    /// catches device sleep, monotonic time catches a clock set backwards.
    pub fn remaining(&self, wall: f64, mono: f64) -> f64 {
        (self.expires_at - wall).min(self.expires_mono - mono)
    }
}

fn invalid(detail: &'static str) -> TokenError {
    TokenError::new(ErrorCode::InvalidResponse, detail)
}

/// RFC 6750 §2.1 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
pub fn is_b64token(s: &str) -> bool {
    let b = s.as_bytes();
    let body = b.iter().take_while(|&&c| c != b'=').count();
    body > 0
        && b[..body].iter().all(|&c| {
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
        && b[body..].iter().all(|&c| c == b'=')
}

fn validate_secret(f: Field) -> Result<AccessToken, TokenError> {
    match f {
        Field::Str(s) if s.is_empty() => Err(invalid("access_token is empty")),
        Field::Str(s) if s.len() > MAX_TOKEN_LEN => Err(invalid("access_token is too long")),
        Field::Str(s) if is_b64token(&s) => Ok(AccessToken::new(s)),
        Field::Str(_) => Err(invalid("access_token is not an RFC 6750 b64token")),
        _ => Err(invalid("access_token is missing or not a string")),
    }
}

fn expires_in_secs(f: &Field) -> Option<f64> {
    let secs = match f {
        Field::Num(n) => *n,
        // Digits only (no sign, exponent or fraction), folded by hand: float parsing
        // would cost kilobytes of wasm.
        Field::Str(s)
            if !s.is_empty() && s.len() <= 10 && s.bytes().all(|c| c.is_ascii_digit()) =>
        {
            s.bytes().fold(0.0, |a, c| a * 10.0 + (c - b'0') as f64)
        }
        _ => return None,
    };
    (secs.is_finite() && secs > 0.0 && secs <= MAX_EXPIRES_IN_SECS).then_some(secs)
}

/// Whether an entry's `p` names `identity` (both absent counts as a match).
pub fn same_identity(p: &Field, identity: Option<&str>) -> bool {
    match (p, identity) {
        (Field::Missing, None) => true,
        (Field::Str(s), Some(id)) => s == id,
        _ => false,
    }
}

/// Validates a broker response (RFC 6749 §5.1) against the request's send time.
/// `expires_at` = time the request was sent + `expires_in`, so slow answers err short.
pub fn parse_response(
    fields: ResponseFields,
    sent_wall: f64,
    sent_mono: f64,
) -> Result<Token, TokenError> {
    match &fields.token_type {
        Field::Str(t) if t.eq_ignore_ascii_case("bearer") => {}
        _ => return Err(invalid("token_type is not Bearer")),
    }
    let secs = expires_in_secs(&fields.expires_in)
        .ok_or_else(|| invalid("expires_in is not a positive number of seconds up to 30 days"))?;
    if secs < MIN_EXPIRES_IN_SECS {
        return Err(invalid("expires_in is under 2 seconds: not a usable token"));
    }
    let access = validate_secret(fields.access_token)?;
    let ms = secs * 1000.0;
    Ok(Token {
        access,
        issued_at: sent_wall,
        expires_at: sent_wall + ms,
        expires_mono: sent_mono + ms,
    })
}

/// Validates a stored or broadcast entry for the participant `identity`. `None` means:
/// another participant's (or, without `identity`, any participant's), corrupt, from
/// another format version, or its times make no sense: issued in the future, living
/// longer than a broker may grant, or ending more than that from now.
pub fn parse_stored(
    fields: StoredFields,
    wall: f64,
    mono: f64,
    identity: Option<&str>,
) -> Option<Token> {
    if fields.v != Field::Num(STORE_VERSION) || !same_identity(&fields.p, identity) {
        return None;
    }
    let (Field::Num(issued_at), Field::Num(expires_at)) = (&fields.issued_at, &fields.expires_at)
    else {
        return None;
    };
    let (issued_at, expires_at) = (*issued_at, *expires_at);
    let lifetime = expires_at - issued_at;
    let max = MAX_EXPIRES_IN_SECS * 1000.0;
    if !(issued_at.is_finite() && expires_at.is_finite())
        || lifetime <= 0.0
        || lifetime > max
        || issued_at > wall + MAX_FUTURE_ISSUE_MS
        || expires_at - wall > max
    {
        return None;
    }
    let access = validate_secret(fields.access_token).ok()?;
    Some(Token {
        access,
        issued_at,
        expires_at,
        expires_mono: mono + (expires_at - wall),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Field {
        Field::Str(v.into())
    }
    fn resp(tok: Field, ty: Field, exp: Field) -> ResponseFields {
        ResponseFields {
            access_token: tok,
            token_type: ty,
            expires_in: exp,
        }
    }

    #[test]
    fn accepts_valid_responses() {
        let cases = [
            (s("abc.DEF-_~+/=="), s("Bearer"), Field::Num(3600.0)),
            (s("x"), s("bearer"), s("90")),
            (s("x"), s("BEARER"), Field::Num(MIN_EXPIRES_IN_SECS)),
            (
                s(&"a".repeat(MAX_TOKEN_LEN)),
                s("Bearer"),
                Field::Num(MAX_EXPIRES_IN_SECS),
            ),
        ];
        for (t, ty, e) in cases {
            let tok = parse_response(resp(t, ty, e), 1000.0, 5.0).expect("valid");
            assert!(tok.expires_at > 1000.0);
            assert_eq!(tok.expires_at - 1000.0, tok.expires_mono - 5.0);
        }
    }

    #[test]
    fn expires_at_counts_from_send_time() {
        let t =
            parse_response(resp(s("tok"), s("Bearer"), Field::Num(90.0)), 1_000.0, 0.0).unwrap();
        assert_eq!(t.expires_at, 91_000.0);
        assert_eq!(t.lifetime(), 90_000.0);
    }

    #[test]
    fn rejects_invalid_responses() {
        let bad = [
            resp(Field::Missing, s("Bearer"), Field::Num(60.0)),
            resp(s(""), s("Bearer"), Field::Num(60.0)),
            resp(Field::Num(1.0), s("Bearer"), Field::Num(60.0)),
            resp(
                s(&"a".repeat(MAX_TOKEN_LEN + 1)),
                s("Bearer"),
                Field::Num(60.0),
            ),
            resp(s("a b"), s("Bearer"), Field::Num(60.0)),
            resp(s("tökén"), s("Bearer"), Field::Num(60.0)),
            resp(s("=abc"), s("Bearer"), Field::Num(60.0)),
            resp(s("ab=c"), s("Bearer"), Field::Num(60.0)),
            resp(s("abc\n"), s("Bearer"), Field::Num(60.0)),
            resp(s("abc"), s("mac"), Field::Num(60.0)),
            resp(s("abc"), Field::Missing, Field::Num(60.0)),
            resp(s("abc"), s("Bearer"), Field::Num(0.0)),
            resp(s("abc"), s("Bearer"), Field::Num(1e-9)),
            resp(s("abc"), s("Bearer"), Field::Num(0.01)),
            resp(s("abc"), s("Bearer"), Field::Num(1.999)),
            resp(s("abc"), s("Bearer"), s("1")),
            resp(s("abc"), s("Bearer"), Field::Num(-1.0)),
            resp(s("abc"), s("Bearer"), Field::Num(f64::NAN)),
            resp(s("abc"), s("Bearer"), Field::Num(f64::INFINITY)),
            resp(s("abc"), s("Bearer"), Field::Num(1e12)),
            resp(s("abc"), s("Bearer"), s("abc")),
            resp(s("abc"), s("Bearer"), s("NaN")),
            resp(s("abc"), s("Bearer"), s("1e3")),
            resp(s("abc"), s("Bearer"), s("-5")),
            resp(s("abc"), s("Bearer"), s("")),
            resp(s("abc"), s("Bearer"), s("0")),
            resp(s("abc"), s("Bearer"), Field::Other),
            resp(s("abc"), s("Bearer"), Field::Missing),
        ];
        for (i, r) in bad.into_iter().enumerate() {
            let e = parse_response(r, 0.0, 0.0).expect_err(&i.to_string());
            assert_eq!(e.code, ErrorCode::InvalidResponse, "case {i}");
        }
    }

    #[test]
    fn debug_never_shows_the_token() {
        let secret = "SECRETSECRETSECRETSECRET";
        let t = parse_response(resp(s(secret), s("Bearer"), Field::Num(60.0)), 0.0, 0.0).unwrap();
        let dbg = format!("{t:?}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
    }

    #[test]
    fn stored_entries() {
        let ok = StoredFields {
            v: Field::Num(1.0),
            p: Field::Missing,
            access_token: s("tok"),
            issued_at: Field::Num(1000.0),
            expires_at: Field::Num(61_000.0),
        };
        let t = parse_stored(ok.clone(), 11_000.0, 500.0, None).unwrap();
        assert_eq!(t.expires_mono, 500.0 + 50_000.0);
        for bad in [
            StoredFields {
                v: Field::Num(2.0),
                ..ok.clone()
            },
            StoredFields {
                v: Field::Missing,
                ..ok.clone()
            },
            StoredFields {
                access_token: s("a b"),
                ..ok.clone()
            },
            StoredFields {
                expires_at: Field::Num(500.0),
                ..ok.clone()
            },
            StoredFields {
                expires_at: s("61000"),
                ..ok.clone()
            },
            StoredFields {
                issued_at: Field::Num(f64::NAN),
                ..ok.clone()
            },
            // Issued in the future (beyond the skew), or ending too far ahead.
            StoredFields {
                issued_at: Field::Num(11_000.0 + MAX_FUTURE_ISSUE_MS + 1.0),
                expires_at: Field::Num(11_000.0 + 3_600_000.0),
                ..ok.clone()
            },
            StoredFields {
                issued_at: Field::Num(1_000.0),
                expires_at: Field::Num(3e12),
                ..ok.clone()
            },
            StoredFields {
                issued_at: Field::Num(11_000.0),
                expires_at: Field::Num(11_000.0 + MAX_EXPIRES_IN_SECS * 1000.0 + 1.0),
                ..ok.clone()
            },
        ] {
            assert_eq!(parse_stored(bad, 11_000.0, 0.0, None), None);
        }
        // Issued a little ahead (clock skew within the bound) is fine.
        let skewed = StoredFields {
            issued_at: Field::Num(11_000.0 + MAX_FUTURE_ISSUE_MS),
            expires_at: Field::Num(11_000.0 + 60_000.0),
            ..ok.clone()
        };
        assert!(parse_stored(skewed, 11_000.0, 0.0, None).is_some());
    }

    #[test]
    fn stored_entries_belong_to_one_participant() {
        let entry = |p: Field| StoredFields {
            v: Field::Num(1.0),
            p,
            access_token: s("tok"),
            issued_at: Field::Num(1000.0),
            expires_at: Field::Num(61_000.0),
        };
        let cases: [(Field, Option<&str>, bool); 7] = [
            (s("ada"), Some("ada"), true),
            (Field::Missing, None, true),
            (s("ada"), Some("ben"), false),
            (s("ada"), None, false),
            (Field::Missing, Some("ada"), false),
            (Field::Num(1.0), Some("1"), false),
            (s("Ada"), Some("ada"), false),
        ];
        for (p, id, ok) in cases {
            let got = parse_stored(entry(p.clone()), 11_000.0, 0.0, id).is_some();
            assert_eq!(got, ok, "{p:?} for {id:?}");
        }
    }

    #[test]
    fn debug_is_a_fixed_redaction() {
        let t =
            parse_response(resp(s("abcdefgh"), s("Bearer"), Field::Num(60.0)), 0.0, 0.0).unwrap();
        assert_eq!(format!("{:?}", t.access), "AccessToken([redacted])");
        assert_eq!(t.access.secret(), "abcdefgh");
    }

    #[test]
    fn remaining_is_the_smaller_of_the_wall_and_monotonic_views() {
        let t = Token {
            access: AccessToken::new("x".into()),
            issued_at: 1_000.0,
            expires_at: 61_000.0,
            expires_mono: 60_000.0,
        };
        assert_eq!(t.remaining(11_000.0, 10_000.0), 50_000.0);
        // The wall clock ran ahead (the device slept): wall time decides.
        assert_eq!(t.remaining(41_000.0, 10_000.0), 20_000.0);
        // The wall clock was set back: monotonic time decides.
        assert_eq!(t.remaining(1_000.0, 30_000.0), 30_000.0);
        assert_eq!(t.lifetime(), 60_000.0);
    }

    #[test]
    fn an_empty_access_token_is_called_empty() {
        let e = parse_response(resp(s(""), s("Bearer"), Field::Num(60.0)), 0.0, 0.0).unwrap_err();
        assert_eq!(e.detail, "access_token is empty");
        let e = parse_response(resp(Field::Other, s("Bearer"), Field::Num(60.0)), 0.0, 0.0)
            .unwrap_err();
        assert_eq!(e.detail, "access_token is missing or not a string");
    }

    #[test]
    fn a_token_of_only_padding_is_no_b64token() {
        for bad in ["=", "==", "=a="] {
            assert!(!is_b64token(bad), "{bad}");
            let e =
                parse_response(resp(s(bad), s("Bearer"), Field::Num(60.0)), 0.0, 0.0).unwrap_err();
            assert_eq!(e.detail, "access_token is not an RFC 6750 b64token");
        }
        assert!(is_b64token("a=") && is_b64token("a") && is_b64token("0~"));
    }

    #[test]
    fn expires_in_errors_say_which_rule_failed() {
        let detail = |e: Field| {
            parse_response(resp(s("abc"), s("Bearer"), e), 0.0, 0.0)
                .unwrap_err()
                .detail
        };
        let range = "expires_in is not a positive number of seconds up to 30 days";
        let short = "expires_in is under 2 seconds: not a usable token";
        for e in [Field::Num(0.0), Field::Num(-0.0), s("0"), Field::Num(-5.0)] {
            assert_eq!(detail(e.clone()), range, "{e:?}");
        }
        for e in [Field::Num(1e-9), Field::Num(1.5), s("1")] {
            assert_eq!(detail(e.clone()), short, "{e:?}");
        }
        // Digit strings of up to 10 characters, leading zeros included.
        let secs = |e: &str| {
            parse_response(resp(s("abc"), s("Bearer"), s(e)), 0.0, 0.0)
                .map(|t| t.lifetime() / 1000.0)
                .ok()
        };
        assert_eq!(secs("0000000090"), Some(90.0));
        assert_eq!(secs("2592000"), Some(MAX_EXPIRES_IN_SECS));
        assert_eq!(secs("2592001"), None);
        assert_eq!(secs("00000000090"), None);
    }

    #[test]
    fn stored_entries_at_the_bounds_of_their_times() {
        let wall = 1_000_000.0;
        let max = MAX_EXPIRES_IN_SECS * 1000.0;
        let entry = |issued: f64, expires: f64| StoredFields {
            v: Field::Num(1.0),
            p: Field::Missing,
            access_token: s("tok"),
            issued_at: Field::Num(issued),
            expires_at: Field::Num(expires),
        };
        // A lifetime of zero is none; thirty days issued now is the most there is.
        assert_eq!(parse_stored(entry(wall, wall), wall, 0.0, None), None);
        let longest = parse_stored(entry(wall, wall + max), wall, 0.0, None).unwrap();
        assert_eq!(longest.expires_mono, max);
        assert_eq!(
            parse_stored(entry(wall, wall + max + 1.0), wall, 0.0, None),
            None
        );
        // Issued at the skew bound, ending thirty days after that: it would end more than
        // thirty days from now.
        let ahead = wall + MAX_FUTURE_ISSUE_MS;
        assert_eq!(
            parse_stored(entry(ahead, ahead + max), wall, 0.0, None),
            None
        );
        // Infinite times are refused.
        assert_eq!(
            parse_stored(entry(wall, f64::INFINITY), wall, 0.0, None),
            None
        );
        assert_eq!(
            parse_stored(entry(f64::NEG_INFINITY, wall + 1.0), wall, 0.0, None),
            None
        );
    }
}
