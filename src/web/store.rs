//! Where the token is kept: only in this page (memory), or in session/local storage.
//! Storage that throws (sandboxed frames, Safari private mode, quota) degrades to
//! memory with one warning.

/// The storage the app asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// The token lives only in this page.
    Memory,
    /// `sessionStorage`: survives reloads of this tab.
    Session,
    /// `localStorage`: shared by the origin's tabs, survives restarts.
    Local,
}

impl StoreKind {
    /// The option string.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Memory => "memory",
            StoreKind::Session => "session",
            StoreKind::Local => "local",
        }
    }
}

/// A Web Storage area, or none (memory).
pub struct Store {
    kind: StoreKind,
    area: Option<web_sys::Storage>,
}

/// What went wrong with storage, for the one warning.
pub struct StoreFailed;

impl Store {
    /// Opens the area for `kind`; `Err` when the browser refuses it.
    pub fn open(kind: StoreKind) -> Result<Store, StoreFailed> {
        let area = match kind {
            StoreKind::Memory => None,
            _ => Some(super::js::storage(kind == StoreKind::Local).map_err(|_| StoreFailed)?),
        };
        Ok(Store { kind, area })
    }

    /// Memory only.
    pub fn memory() -> Store {
        Store {
            kind: StoreKind::Memory,
            area: None,
        }
    }

    /// The storage in use.
    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// Reads the entry, parsed on the JS side (its text never enters wasm memory):
    /// `undefined` when absent (or memory), `null` when corrupt, else the value.
    pub fn read(&self, key: &str) -> Result<wasm_bindgen::JsValue, StoreFailed> {
        match &self.area {
            None => Ok(wasm_bindgen::JsValue::UNDEFINED),
            Some(a) => super::js::load(a, key).map_err(|_| StoreFailed),
        }
    }

    /// Writes the entry.
    pub fn write(&self, key: &str, value: &str) -> Result<(), StoreFailed> {
        match &self.area {
            None => Ok(()),
            Some(a) => a.set_item(key, value).map_err(|_| StoreFailed),
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
