//! The pure core: token validation, the lifecycle state machine and the retry policy.
//! Nothing here touches a browser API or reads a clock; every input carries `now`.

/// `f64::floor`, which `core` lacks (the shipped wasm is `no_std`). The same code runs
/// natively, so the core tests cover it.
pub fn floor(x: f64) -> f64 {
    // From 2^52 up every f64 is an integer already; NaN and ±inf pass through too.
    if !(x < 4_503_599_627_370_496.0 && x > -4_503_599_627_370_496.0) {
        return x;
    }
    let t = x as i64 as f64;
    if t == x {
        x // keeps -0.0
    } else if t > x {
        t - 1.0
    } else {
        t
    }
}

/// `f64::ceil` (see [`floor`]).
pub fn ceil(x: f64) -> f64 {
    -floor(-x)
}

#[cfg(test)]
mod float_tests {
    #[test]
    fn floor_and_ceil_match_std() {
        let xs = [
            0.0,
            -0.0,
            0.3,
            -0.3,
            0.5,
            -0.5,
            1.0,
            -1.0,
            1.5,
            -1.5,
            2.999,
            -2.999,
            1e15 + 0.5,
            -1e15 - 0.5,
            4_503_599_627_370_495.5,
            9e15,
            -9e15,
            1e300,
            -1e300,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            3599.999,
            30_000.0,
        ];
        for x in xs {
            assert_eq!(super::floor(x).to_bits(), x.floor().to_bits(), "floor {x}");
            assert_eq!(super::ceil(x).to_bits(), x.ceil().to_bits(), "ceil {x}");
        }
        assert!(super::floor(f64::NAN).is_nan() && super::ceil(f64::NAN).is_nan());
    }
}

mod backoff;
mod config;
mod error;
mod machine;
mod tab;
mod token;

pub use backoff::{parse_retry_after, RetryPolicy, Rng};
pub use config::{Config, Level, Storage};
pub use error::{ErrorCode, TokenError};
pub use machine::{Access, Event, Lifecycle, Now, Output, Reason, Reply, State, Status};
pub use tab::{Action, Env, Incoming, Kind, Msg, Restored, Tab, MAX_SLEEP_MS};
pub use token::{
    parse_response, parse_stored, AccessToken, Field, ResponseFields, StoredFields, Token,
    MAX_EXPIRES_IN_SECS, MAX_TOKEN_LEN, STORE_VERSION,
};

#[cfg(test)]
mod sim_tests;
