//! mdh-token keeps a MyDataHelps participant access token alive inside a web page.
//!
//! [`core`] is pure (no browser APIs, time passed in, IO returned as actions) and is
//! tested natively; [`web`] is the thin browser shell and [`facade`] the one place that
//! exports `#[wasm_bindgen]` items.
#![deny(missing_docs)]

pub mod core;
#[cfg(target_arch = "wasm32")]
pub mod facade;
#[cfg(target_arch = "wasm32")]
pub mod web;
