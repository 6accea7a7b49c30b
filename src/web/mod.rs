//! The browser shell: turns timers, storage, fetch, BroadcastChannel and Web Locks
//! into core inputs, and core outputs into browser calls. Kept thin on purpose.

pub(crate) mod handles;
pub(crate) mod js;
pub(crate) mod shell;
pub(crate) mod store;

pub use shell::{Broker, Options, Shell};
pub use store::StoreKind;
