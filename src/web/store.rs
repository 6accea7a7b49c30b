//! Where the token is kept: only in this page (memory), or in session/local storage
//! under `storageKey`. Storage that throws (sandboxed frames, Safari private mode,
//! quota) degrades to memory for good ([`Store::fail`]); the shell tells the core
//! (`Tab::storage_failed`), which decides what follows.

use crate::core::Storage;
use wasm_bindgen::JsValue;

/// A Web Storage area, or none (memory).
pub struct Store {
    key: JsValue,
    area: Option<super::bindings::Area>,
}

/// Storage threw.
pub struct StoreFailed;

impl Store {
    /// Opens the area for `kind`; memory and `false` when the browser refuses it.
    pub fn open(kind: Storage, key: &JsValue) -> (Store, bool) {
        let area = match kind {
            Storage::Memory => Ok(None),
            _ => super::bindings::storage(kind == Storage::Local).map(Some),
        };
        let ok = area.is_ok();
        let area = area.ok().flatten();
        let key = key.clone();
        (Store { key, area }, ok)
    }

    /// Reads the entry, parsed on the JS side (its text never enters wasm memory):
    /// `undefined` when absent (or memory), `null` when corrupt, else the value.
    pub fn read(&self) -> Result<JsValue, StoreFailed> {
        match &self.area {
            None => Ok(JsValue::UNDEFINED),
            Some(a) => super::bindings::load_entry(a, &self.key).map_err(|_| StoreFailed),
        }
    }

    /// Writes the entry (as JSON).
    pub fn write(&self, entry: &JsValue) -> Result<(), StoreFailed> {
        match &self.area {
            None => Ok(()),
            Some(a) => super::bindings::save(a, &self.key, entry).map_err(|_| StoreFailed),
        }
    }

    /// Removes the entry.
    pub fn remove(&self) -> Result<(), StoreFailed> {
        match &self.area {
            None => Ok(()),
            Some(a) => a.remove_item(&self.key).map_err(|_| StoreFailed),
        }
    }

    /// Removes the entry unless `ours` says it belongs to another participant (whose
    /// tab may have written it since); an entry that is no object goes too.
    pub fn forget(&self, ours: impl FnOnce(&JsValue) -> bool) -> Result<(), StoreFailed> {
        let gone = match self.read() {
            Ok(v) => !v.is_undefined() && (!v.is_object() || ours(&v)),
            Err(_) => true,
        };
        if gone {
            self.remove()?;
        }
        Ok(())
    }

    /// Storage threw: memory from now on (the entry is removed if it still can be).
    pub fn fail(&mut self) {
        let _ = self.remove();
        self.area = None;
    }
}
