//! Where the token is kept: only in this page (memory), or in session/local storage.
//! Storage that throws (sandboxed frames, Safari private mode, quota) degrades to
//! memory with one warning.

use crate::core::Storage;
use wasm_bindgen::JsValue;

/// A Web Storage area, or none (memory).
pub struct Store {
    kind: Storage,
    area: Option<web_sys::Storage>,
}

/// Storage threw (the one warning says so).
pub struct StoreFailed;

impl Store {
    /// Opens the area for `kind`; `Err` when the browser refuses it.
    pub fn open(kind: Storage) -> Result<Store, StoreFailed> {
        let area = match kind {
            Storage::Memory => None,
            _ => Some(super::bindings::storage(kind == Storage::Local).map_err(|_| StoreFailed)?),
        };
        Ok(Store { kind, area })
    }

    /// Memory only.
    pub fn memory() -> Store {
        Store {
            kind: Storage::Memory,
            area: None,
        }
    }

    /// The storage in use.
    pub fn kind(&self) -> Storage {
        self.kind
    }

    /// Reads the entry, parsed on the JS side (its text never enters wasm memory):
    /// `undefined` when absent (or memory), `null` when corrupt, else the value.
    pub fn read(&self, key: &str) -> Result<JsValue, StoreFailed> {
        match &self.area {
            None => Ok(JsValue::UNDEFINED),
            Some(a) => super::bindings::load(a, key).map_err(|_| StoreFailed),
        }
    }

    /// Writes the entry (as JSON).
    pub fn write(&self, key: &str, entry: &JsValue) -> Result<(), StoreFailed> {
        match &self.area {
            None => Ok(()),
            Some(a) => super::bindings::save(a, key, entry).map_err(|_| StoreFailed),
        }
    }

    /// Removes the entry.
    pub fn remove(&self, key: &str) -> Result<(), StoreFailed> {
        match &self.area {
            None => Ok(()),
            Some(a) => a.remove_item(key).map_err(|_| StoreFailed),
        }
    }
}
