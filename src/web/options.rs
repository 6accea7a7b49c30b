//! The options a manager runs with, typed: what the facade decoded from
//! `createTokenManager()`'s argument (checked by options.js, read by name once).

use crate::core::Config;
use alloc::string::String;
use js_sys::Function;
use wasm_bindgen::JsValue;

/// The `storageKey` when none is given.
pub const DEFAULT_STORAGE_KEY: &str = "mdh-token";
/// The `baseUrl` when none is given.
pub const DEFAULT_BASE_URL: &str = "https://mydatahelps.org/";
/// The global the `devtools: true` option names.
pub const DEFAULT_DEVTOOLS: &str = "mdhToken";

/// Where tokens come from.
pub enum Broker {
    /// POST to this URL.
    Url(String),
    /// Call this async function with `{ signal, reason }`.
    Func(Function),
}

/// The `fetch` credentials mode of the broker POST.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Credentials {
    /// The default.
    SameOrigin = 0,
    /// Cookies also cross-origin.
    Include = 1,
    /// No cookies.
    Omit = 2,
}

impl Credentials {
    /// The option string (also `fetch`'s).
    pub fn as_str(self) -> &'static str {
        ["same-origin", "include", "omit"][self as usize]
    }

    /// Parses the option string.
    pub fn parse(s: &str) -> Option<Credentials> {
        [
            Credentials::SameOrigin,
            Credentials::Include,
            Credentials::Omit,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// Validated options.
pub struct Options {
    /// The broker.
    pub broker: Broker,
    /// The request `Headers` (Accept and the app's own).
    pub headers: JsValue,
    /// `fetch` credentials mode.
    pub credentials: Credentials,
    /// Storage key; also names the channel and the locks.
    pub storage_key: String,
    /// The participant's part of the lock names: empty without `participant`, else `=`
    /// and the id URI-encoded (so it never holds the `:` that ends it).
    pub scope: String,
    /// MyDataHelps base URL for the SDK and frame integrations.
    pub base_url: String,
    /// What the core needs (storage, timeouts, retry, log level, crossTab...).
    pub core: Config,
}
