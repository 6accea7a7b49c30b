//! The pure core: token validation, the lifecycle state machine, the cross-tab attempt
//! and the retry policy. Nothing here touches a browser API or reads a clock; every
//! input carries `now`.

mod backoff;
mod config;
mod error;
mod float;
mod lifecycle;
mod tab;
mod token;

pub use backoff::{parse_retry_after, RetryPolicy, Rng};
pub use config::{Config, Credentials, Level, Storage};
pub use error::{ErrorCode, TokenError};
pub use float::{ceil, floor};
pub use lifecycle::{Access, Event, Lifecycle, Now, Output, Reason, Reply, State, Status};
pub use tab::{Action, Env, Incoming, Kind, Msg, Restored, Tab, MAX_SLEEP_MS};
pub use token::{
    parse_response, parse_stored, AccessToken, Field, ResponseFields, StoredFields, Token,
    MAX_BODY_BYTES, MAX_EXPIRES_IN_SECS, MAX_TOKEN_LEN, STORE_VERSION,
};

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod sim_tests;
