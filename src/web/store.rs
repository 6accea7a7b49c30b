//! Where the token is kept: only in this page (memory), or in session/local storage
//! under `storageKey`. Storage that throws (sandboxed frames, Safari private mode,
//! quota) degrades to memory for good ([`Store::fail`]; the shell warns once).

use super::convert;
use super::shell::Inner;
use crate::core::{Level, Now, Restored, Storage};
use wasm_bindgen::JsValue;

/// The one warning.
pub const UNAVAILABLE: &str =
    "storage is not available here (sandboxed frame, private mode or quota); keeping the token in memory";

/// A Web Storage area, or none (memory).
pub struct Store {
    kind: Storage,
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
        let kind = if ok { kind } else { Storage::Memory };
        let key = key.clone();
        (Store { kind, key, area }, ok)
    }

    /// The storage in use.
    pub fn kind(&self) -> Storage {
        self.kind
    }

    /// Reads the entry, parsed on the JS side (its text never enters wasm memory):
    /// `undefined` when absent (or memory), `null` when corrupt, else the value.
    pub fn read(&self) -> Result<JsValue, StoreFailed> {
        match &self.area {
            None => Ok(JsValue::UNDEFINED),
            Some(a) => super::bindings::load(a, &self.key).map_err(|_| StoreFailed),
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
        self.kind = Storage::Memory;
        self.area = None;
    }
}

/// The shell's use of the store.
impl Inner {
    /// Adopts the stored entry at start-up if the tab wants it, else removes it.
    pub(super) fn restore(&self, now: Now) {
        let Some(v) = self.stored(Store::read) else {
            return;
        };
        let fields = convert::stored_fields(&v);
        if self.tab.borrow_mut().restore(fields, now) == Restored::Remove {
            self.stored(Store::remove);
        }
    }

    /// Writes the current token, or removes the entry when there is none.
    pub(super) fn persist(&self, now: Now) {
        let entry = {
            let tab = self.tab.borrow();
            let life = tab.life();
            life.token(now)
                .map(|t| convert::entry(t, &self.opts.participant))
        };
        match entry {
            Some(e) => self.stored(|s| s.write(&e)),
            None => self.forget(),
        };
    }

    /// Removes the stored entry unless it belongs to another participant.
    pub(super) fn forget(&self) -> Option<()> {
        let tab = &self.tab;
        self.stored(|s| s.forget(|v| tab.borrow().life().is_ours(&convert::party(v))))
    }

    /// Runs `op` on the store; when storage throws, falls back to memory for good, with
    /// one warning.
    fn stored<T>(&self, op: impl FnOnce(&Store) -> Result<T, StoreFailed>) -> Option<T> {
        let r = op(&self.store.borrow());
        if r.is_err() {
            // Not while a call that is still running holds the store (a page's wrapper
            // around storage called in): that call's own failure switches it.
            if let Ok(mut s) = self.store.try_borrow_mut() {
                s.fail();
            }
            self.warn_storage();
        }
        r.ok()
    }

    /// The one warning.
    pub(super) fn warn_storage(&self) {
        self.log(Level::Warn as u8, UNAVAILABLE, None);
    }
}
