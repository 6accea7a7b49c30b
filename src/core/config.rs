//! What the app chooses, with the shipped defaults in one place: the package's
//! `createTokenManager()` starts from [`Config::default`] (the README's option table
//! lists the same values).

use super::backoff::RetryPolicy;
use alloc::string::String;

/// Where the token is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Storage {
    /// Only in this page.
    Memory = 0,
    /// `sessionStorage`: survives reloads of this tab.
    Session = 1,
    /// `localStorage`: shared by the origin's tabs, survives restarts.
    Local = 2,
}

impl Storage {
    /// The option string.
    pub fn as_str(self) -> &'static str {
        ["memory", "session", "local"][self as usize]
    }
}

/// Console log levels, from quiet to chatty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Nothing.
    Silent = 0,
    /// Errors only.
    Error = 1,
    /// Errors and warnings.
    Warn = 2,
    /// Plus lifecycle milestones.
    Info = 3,
    /// Everything.
    Debug = 4,
}

impl Level {
    /// The option string.
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s {
            "silent" => Level::Silent,
            "error" => Level::Error,
            "warn" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            _ => return None,
        })
    }
}

/// Behaviour chosen by the app (validated by the facade).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The participant this manager's tokens belong to (an opaque id from the host's
    /// session). Entries and messages of another participant are never adopted.
    pub identity: Option<String>,
    /// Renew this long before expiry (capped at half the token's lifetime).
    pub renew_before_ms: f64,
    /// Retry policy per renewal.
    pub retry: RetryPolicy,
    /// Renew proactively on timers, not only when `getToken()` is called.
    pub auto_refresh: bool,
    /// Per broker request.
    pub timeout_ms: f64,
    /// Coordinate with the origin's other tabs.
    pub cross_tab: bool,
    /// Where the token is kept.
    pub storage: Storage,
    /// The console log level.
    pub log_level: Level,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            identity: None,
            renew_before_ms: 120_000.0,
            retry: RetryPolicy::default(),
            auto_refresh: true,
            timeout_ms: 10_000.0,
            cross_tab: true,
            storage: Storage::Memory,
            log_level: Level::Warn,
        }
    }
}
