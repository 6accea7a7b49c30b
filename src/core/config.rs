//! What the app chooses, with the shipped defaults in one place: the package's
//! `createTokenManager()` starts from [`Config::default`] (docs/getting-started.md's option table
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
    /// Every variant, in the order of its value.
    pub const ALL: [Storage; 3] = [Storage::Memory, Storage::Session, Storage::Local];

    /// The option string.
    pub fn as_str(self) -> &'static str {
        ["memory", "session", "local"][self as usize]
    }
}

/// The `fetch` credentials mode of the broker POST (`credentials`).
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
    /// Every variant, in the order of its value.
    pub const ALL: [Credentials; 3] = [
        Credentials::SameOrigin,
        Credentials::Include,
        Credentials::Omit,
    ];

    /// The option string (also `fetch`'s).
    pub fn as_str(self) -> &'static str {
        ["same-origin", "include", "omit"][self as usize]
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
    /// Every variant, in the order of its value.
    pub const ALL: [Level; 5] = [
        Level::Silent,
        Level::Error,
        Level::Warn,
        Level::Info,
        Level::Debug,
    ];

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

#[cfg(test)]
mod tests {
    use super::*;

    // options.js hands the wasm the index of a named option in its list
    // (src/js/options.js); the facade takes that index as the variant's value.
    #[test]
    fn options_js_lists_the_names_in_variant_order() {
        let js = include_str!("../js/options.js");
        // `["a", "b", …]` starting at "first", as "a b …".
        let listed = |first: &str| {
            let at = js
                .find(&format!("[\"{first}\""))
                .expect("the list in options.js");
            let list = &js[at + 1..at + js[at..].find(']').unwrap()];
            list.split(", ")
                .map(|s| s.trim_matches('"'))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let storage: Vec<&str> = Storage::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(listed("memory"), storage.join(" "));
        for (i, s) in Storage::ALL.into_iter().enumerate() {
            assert_eq!(s as usize, i);
        }
        let levels = listed("silent");
        assert_eq!(levels.split(' ').count(), Level::ALL.len());
        let credentials: Vec<&str> = Credentials::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed("same-origin"), credentials.join(" "));
        for (i, c) in Credentials::ALL.into_iter().enumerate() {
            assert_eq!(c as usize, i);
        }
        for (i, name) in levels.split(' ').enumerate() {
            assert_eq!(Level::parse(name), Some(Level::ALL[i]), "{name}");
            assert_eq!(Level::ALL[i] as usize, i);
        }
    }

    #[test]
    fn option_strings_are_the_documented_ones() {
        // docs/getting-started.md's option table: `storage` and `logLevel`.
        for (s, name) in [
            (Storage::Memory, "memory"),
            (Storage::Session, "session"),
            (Storage::Local, "local"),
        ] {
            assert_eq!(s.as_str(), name);
        }
        for (name, level) in [
            ("silent", Level::Silent),
            ("error", Level::Error),
            ("warn", Level::Warn),
            ("info", Level::Info),
            ("debug", Level::Debug),
        ] {
            assert_eq!(Level::parse(name), Some(level));
        }
        for bad in ["", "Warn", "WARN", "warning", "verbose", " warn", "0"] {
            assert_eq!(Level::parse(bad), None, "{bad:?}");
        }
        assert!(Level::Silent < Level::Error && Level::Info < Level::Debug);
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        // docs/getting-started.md's option table.
        let c = Config::default();
        assert_eq!(c.identity, None);
        assert_eq!(c.renew_before_ms, 120_000.0);
        assert_eq!(
            c.retry,
            RetryPolicy {
                max_attempts: 5,
                base_delay_ms: 500.0,
                max_delay_ms: 30_000.0
            }
        );
        assert!(c.auto_refresh && c.cross_tab);
        assert_eq!(c.timeout_ms, 10_000.0);
        assert_eq!((c.storage, c.log_level), (Storage::Memory, Level::Warn));
    }
}
