//! The one error type of the core. The facade turns it into a JS `Error` named
//! `TokenError` with a stable `code` and `status`; nothing in it can hold the token.

/// What went wrong, as a stable machine-readable code.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The broker could not be reached (network error, CORS, a thrown broker function).
    BrokerUnreachable,
    /// The broker did not answer within `timeoutMs`.
    BrokerTimeout,
    /// The broker refused with 401 or 403: the participant's session is over.
    BrokerRejected,
    /// The broker answered with another non-success status.
    BrokerFailed,
    /// The broker answered 2xx with something that is not a valid token response.
    InvalidResponse,
    /// The manager was destroyed.
    Destroyed,
    /// The token was cleared (`clear()` here or in another tab) while a caller waited.
    Cleared,
    /// The options passed to `createTokenManager` are invalid.
    InvalidOptions,
    /// A bug inside mdh-token (a Rust panic): the manager stopped.
    Internal,
}

impl ErrorCode {
    /// The stable string code exposed to JavaScript.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BrokerUnreachable => "broker_unreachable",
            ErrorCode::BrokerTimeout => "broker_timeout",
            ErrorCode::BrokerRejected => "broker_rejected",
            ErrorCode::BrokerFailed => "broker_failed",
            ErrorCode::InvalidResponse => "invalid_response",
            ErrorCode::Destroyed => "destroyed",
            ErrorCode::Cleared => "cleared",
            ErrorCode::InvalidOptions => "invalid_options",
            ErrorCode::Internal => "internal",
        }
    }

    /// Whether a renewal attempt that failed this way is worth repeating.
    pub fn is_retryable(self, status: u16) -> bool {
        match self {
            ErrorCode::BrokerUnreachable | ErrorCode::BrokerTimeout => true,
            ErrorCode::BrokerFailed => status == 429 || (500..600).contains(&status),
            _ => false,
        }
    }
}

/// A failure with its HTTP status (0 when there was none) and a fixed description.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenError {
    /// The stable code.
    pub code: ErrorCode,
    /// The HTTP status of the broker's answer, or 0.
    pub status: u16,
    /// A fixed, human-readable description; never built from response data.
    pub detail: &'static str,
    /// When set: the wall-clock time (epoch ms) of the next automatic attempt.
    pub retry_at: Option<f64>,
}

impl TokenError {
    /// An error with no status.
    pub fn new(code: ErrorCode, detail: &'static str) -> Self {
        TokenError {
            code,
            status: 0,
            detail,
            retry_at: None,
        }
    }

    /// An error carrying the broker's HTTP status.
    pub fn with_status(code: ErrorCode, status: u16, detail: &'static str) -> Self {
        TokenError {
            code,
            status,
            detail,
            retry_at: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_strings() {
        // docs/getting-started.md's table of error codes (the ones the core raises).
        let all = [
            (ErrorCode::BrokerUnreachable, "broker_unreachable"),
            (ErrorCode::BrokerTimeout, "broker_timeout"),
            (ErrorCode::BrokerRejected, "broker_rejected"),
            (ErrorCode::BrokerFailed, "broker_failed"),
            (ErrorCode::InvalidResponse, "invalid_response"),
            (ErrorCode::Destroyed, "destroyed"),
            (ErrorCode::Cleared, "cleared"),
            (ErrorCode::InvalidOptions, "invalid_options"),
            (ErrorCode::Internal, "internal"),
        ];
        for (code, s) in all {
            assert_eq!(code.as_str(), s);
        }
    }

    #[test]
    fn only_transport_failures_429_and_5xx_are_retried() {
        for status in [0, 200, 429, 500, 503, 599] {
            assert!(ErrorCode::BrokerUnreachable.is_retryable(status));
            assert!(ErrorCode::BrokerTimeout.is_retryable(status));
        }
        for (status, retry) in [
            (429, true),
            (500, true),
            (502, true),
            (599, true),
            (0, false),
            (400, false),
            (404, false),
            (428, false),
            (430, false),
            (499, false),
            (600, false),
        ] {
            assert_eq!(
                ErrorCode::BrokerFailed.is_retryable(status),
                retry,
                "{status}"
            );
        }
        for code in [
            ErrorCode::BrokerRejected,
            ErrorCode::InvalidResponse,
            ErrorCode::Destroyed,
            ErrorCode::Cleared,
            ErrorCode::InvalidOptions,
            ErrorCode::Internal,
        ] {
            for status in [0, 401, 429, 503] {
                assert!(!code.is_retryable(status), "{code:?} {status}");
            }
        }
    }

    #[test]
    fn constructors_carry_status_and_no_retry_time() {
        let e = TokenError::new(ErrorCode::Cleared, "the token was cleared");
        assert_eq!(
            (e.code, e.status, e.retry_at),
            (ErrorCode::Cleared, 0, None)
        );
        assert_eq!(e.detail, "the token was cleared");
        let e = TokenError::with_status(ErrorCode::BrokerFailed, 503, "x");
        assert_eq!(
            (e.code, e.status, e.retry_at),
            (ErrorCode::BrokerFailed, 503, None)
        );
    }
}
