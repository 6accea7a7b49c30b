//! The browser shell: performs the core's actions with browser APIs (timers, storage,
//! fetch, BroadcastChannel, Web Locks) and turns what the browser reports into the
//! core's inputs. One job per file:
//!
//! - `shell`: one manager, feeding its [`crate::core::Tab`] and performing its actions;
//! - `bindings`: the JS functions we declare ourselves; `convert`: JS values ↔ core
//!   types; `mailbox`: the one closure every callback comes back through;
//! - `handles`: timers, listeners, the channel and locks that clean up on drop;
//! - `crosstab`: the channel, the cross-tab and presence locks of one manager;
//! - `page`: this page's managers (for the panic hook and a sign-in's `hello`);
//! - `answers`: token objects, the hot-path cache and waiting callers; `listeners`:
//!   the app's event listeners; `store`: Web Storage; `options`: the typed options;
//! - `poison`: what a panic does.
//!
//! Only `shell` knows the manager's state: the others are handed what they need, and
//! callbacks come back through the mailbox's function, the page's [`page::Member`].

pub(crate) mod answers;
pub(crate) mod bindings;
pub(crate) mod convert;
pub(crate) mod crosstab;
pub(crate) mod handles;
pub(crate) mod listeners;
pub(crate) mod mailbox;
pub(crate) mod options;
pub(crate) mod page;
pub(crate) mod poison;
pub(crate) mod shell;
pub(crate) mod store;

pub use options::{Broker, Options};
pub use shell::Shell;
