//! The pure core: token validation, the lifecycle state machine and the retry policy.
//! Nothing here touches a browser API or reads a clock; every input carries `now`.

mod backoff;
mod error;
mod machine;
mod token;

pub use backoff::{parse_retry_after, RetryPolicy, Rng};
pub use error::{ErrorCode, TokenError};
pub use machine::{
    Access, Config, Event, Lifecycle, Now, Output, Reason, Reply, State, Status, Wake,
};
pub use token::{
    parse_response, parse_stored, AccessToken, Field, ResponseFields, StoredFields, Token,
    MAX_EXPIRES_IN_SECS, MAX_TOKEN_LEN, STORE_VERSION,
};
