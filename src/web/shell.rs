//! The shell around the core: one `Inner` per manager. Every browser callback (timer,
//! DOM event, channel message, settled promise) comes back through the manager's one
//! mailbox closure, `mailbox(kind, id, value)`, which holds a weak reference, so that
//! dropping the manager frees all. A broker attempt is an explicit little state
//! machine (lock → re-check → send → reply) driven by those callbacks.

use super::handles::{Timeout, Undo};
use super::js::{self, get, set};
use super::store::{Store, StoreKind};
use crate::core::{
    Access, Config, ErrorCode, Event, Field, Lifecycle, Now, Output, Reason, Reply, TokenError,
    Wake, STORE_VERSION,
};
use crate::facade::to_js_error;
use alloc::rc::{Rc, Weak};
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{AbortController, BroadcastChannel};

/// Wake at least this often: timers are throttled or frozen in background tabs and
/// the device may sleep (oidc-client-ts re-checks every 5 s for the same reason).
const MAX_SLEEP_MS: f64 = 30_000.0;
/// A wall-clock move this much larger or smaller than monotonic time is a jump.
const CLOCK_JUMP_MS: f64 = 2_000.0;
/// How long a tab inside the lock waits for peers to answer "who has a token?".
const PEER_WAIT_MS: f64 = 250.0;
/// How much longer than `timeoutMs` a tab waits for the cross-tab lock.
const LOCK_GRACE_MS: f64 = 1_000.0;

// What the mailbox is told. A settled promise reports `kind` when fulfilled and
// `kind + 1` when rejected (`js::pipe`); `id` is the broker attempt's id.
const EV_TIMER: u32 = 0;
const EV_WAKE: u32 = 1;
const EV_MESSAGE: u32 = 2;
const EV_UNSUBSCRIBE: u32 = 3;
const EV_ASKED: u32 = 4;
const EV_DEADLINE: u32 = 5;
const EV_LOCK: u32 = 6;
const EV_LOCK_REFUSED: u32 = 7;
const EV_PEERS: u32 = 8;
const EV_PEERS_UNKNOWN: u32 = 9;
const EV_REPLY: u32 = 10;
const EV_REPLY_FAILED: u32 = 11;
const EV_LOCK_WAIT: u32 = 12;

/// Log levels, from quiet to chatty.
pub const LOG_SILENT: u8 = 0;
/// Errors only.
pub const LOG_ERROR: u8 = 1;
/// Errors and warnings (default).
pub const LOG_WARN: u8 = 2;
/// Plus lifecycle milestones.
pub const LOG_INFO: u8 = 3;
/// Everything.
pub const LOG_DEBUG: u8 = 4;

/// Where tokens come from.
pub enum Broker {
    /// POST to this URL.
    Url(String),
    /// Call this async function with `{ signal, reason }`.
    Func(Function),
}

/// Validated options.
pub struct Options {
    /// The broker.
    pub broker: Broker,
    /// The request `Headers` (Accept and the app's own).
    pub headers: JsValue,
    /// `fetch` credentials mode.
    pub credentials: &'static str,
    /// Requested storage.
    pub storage: StoreKind,
    /// Storage key; also names the channel and the lock.
    pub storage_key: String,
    /// The participant's part of the lock names: empty without `participant`, else `=`
    /// and the id URI-encoded (so it never holds the `:` that ends it).
    pub scope: String,
    /// Per-request timeout.
    pub timeout_ms: f64,
    /// Coordinate with other tabs.
    pub cross_tab: bool,
    /// Core behaviour.
    pub core: Config,
    /// Initial log level.
    pub log_level: u8,
    /// MyDataHelps base URL for the SDK and frame integrations.
    pub base_url: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Token,
    Expiring,
    Expired,
    Error,
    Cleared,
}

impl Kind {
    fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "token" => Kind::Token,
            "expiring" => Kind::Expiring,
            "expired" => Kind::Expired,
            "error" => Kind::Error,
            "cleared" => Kind::Cleared,
            _ => return None,
        })
    }
}

/// A question to the other tabs from attempt `id`: `nonce` matches the answers, `left`
/// counts the peers yet to answer.
struct Ask {
    id: u64,
    nonce: f64,
    left: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Waiting for the cross-tab Web Lock.
    Locking,
    /// Counting the other tabs (their presence locks).
    Counting,
    /// Asking the other tabs whether one of them just renewed.
    Asking,
    /// The broker request is out.
    Sending,
}

/// One broker attempt. Dropping it releases its Web Lock and clears its timer.
struct Attempt {
    id: u64,
    reason: Reason,
    ctrl: AbortController,
    stage: Stage,
    /// The peer wait, then the request deadline.
    timer: Option<Timeout>,
    timed_out: bool,
    /// Releases the Web Lock; dropped last, after the new token was broadcast.
    lock: Option<Undo>,
}

struct Cached {
    generation: u64,
    secs: f64,
    access: JsValue,
    obj: JsValue,
}

struct Inner {
    opts: Options,
    core: RefCell<Lifecycle>,
    store: RefCell<Store>,
    channel: Option<BroadcastChannel>,
    locks: bool,
    timer: RefCell<Option<Timeout>>,
    /// Removes the wake-up listeners (visibilitychange, online, pageshow, focus).
    dom: RefCell<Option<Undo>>,
    listeners: RefCell<Vec<(u32, Kind, Function)>>,
    next_listener: Cell<u32>,
    waiters: RefCell<Vec<(Function, Function)>>,
    attempt: RefCell<Option<Attempt>>,
    cached: RefCell<Option<Cached>>,
    /// The question "who has a token?" this tab is waiting on, if any.
    asking: RefCell<Option<Ask>>,
    /// This tab's presence lock (`{storageKey}:tab:{random}`), held for the manager's
    /// life so that peers can count the live tabs with `navigator.locks.query()`.
    presence: Option<(String, Function)>,
    clock: Cell<Now>,
    log_level: Cell<u8>,
    /// Detach functions of the integrations (src/web/integrations.js), run by `destroy()`.
    teardown: RefCell<Vec<Function>>,
    /// The JS entry's hot-path cache: `sink(token, until)` publishes a token object
    /// the entry may hand out by itself until the wall time `until`; `sink(null, 0)`
    /// withdraws it. Crossing into wasm costs more than the whole lookup.
    sink: Option<Function>,
    published: Cell<bool>,
    /// Set when a Rust panic trapped the wasm: every later call fails with `internal`.
    poisoned: Cell<bool>,
    /// `mailbox(kind, id, value)`: the one way back in from JS. `Fn`, not `FnMut`, so a
    /// listener may unsubscribe from inside an event.
    mailbox: Closure<dyn Fn(u32, f64, JsValue)>,
}

/// The live managers, for the panic hook.
struct Live(RefCell<Vec<Weak<Inner>>>);
// SAFETY: this module is built for wasm32 without the atomics feature: one thread.
unsafe impl Sync for Live {}
static LIVE: Live = Live(RefCell::new(Vec::new()));

fn internal() -> TokenError {
    TokenError::new(
        ErrorCode::Internal,
        "internal error (a bug in mdh-token); this manager stopped",
    )
}

/// Installed once: a panic (a bug) must surface as a clear `TokenError` rejection and
/// an `error` event, not as a silent hang. With `panic = "abort"` the hook runs, then
/// the wasm traps; state may be mid-borrow, so the hook only uses `try_borrow`.
#[cfg(feature = "std")]
fn install_panic_hook() {
    extern crate std;
    use std::sync::Once;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|_| poison_current())));
}

/// The manager whose code runs now (its `Inner`'s address; 0 for none): set on every
/// way in (a method, the mailbox) and restored on the way out, so that a panic, which
/// skips the restoring, leaves the culprit here.
struct Current(Cell<usize>);
// SAFETY: as `Live`.
unsafe impl Sync for Current {}
static CURRENT: Current = Current(Cell::new(0));

/// Restores the previous [`CURRENT`] on drop (a listener of one manager may call into
/// another).
pub(crate) struct Entered(usize);

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.0.set(self.0);
    }
}

/// Stops the manager that was running when a panic struck: rejects its waiting callers
/// and tells its `error` listeners. The other managers of the page carry on: their
/// state was not mid-update (issue 11: one manager's bug poisoned them all).
pub fn poison_current() {
    js::log(
        LOG_ERROR,
        "internal error (a bug): the token manager stopped; please report it",
    );
    let current = CURRENT.0.get();
    if let Ok(live) = LIVE.0.try_borrow() {
        for w in live.iter() {
            // Never dropped: no destructor runs on state a panic may have left half
            // updated (and the drop glue would cost 250 B of wasm here).
            if let Some(i) = w.upgrade().map(core::mem::ManuallyDrop::new) {
                if Rc::as_ptr(&i) as usize == current {
                    i.poison();
                }
            }
        }
    }
}

impl Inner {
    fn poison(&self) {
        if self.poisoned.replace(true) {
            return;
        }
        let err = to_js_error(&internal());
        let i = self;
        if let Some(sink) = &i.sink {
            let _ = sink.call2(&JsValue::UNDEFINED, &JsValue::NULL, &JsValue::from_f64(0.0));
        }
        if let Ok(mut w) = i.waiters.try_borrow_mut() {
            for (_, rej) in w.drain(..) {
                let _ = rej.call1(&JsValue::UNDEFINED, &err);
            }
        }
        let fs: Vec<Function> = i
            .listeners
            .try_borrow()
            .map(|l| {
                l.iter()
                    .filter(|l| l.1 == Kind::Error)
                    .map(|l| l.2.clone())
                    .collect()
            })
            .unwrap_or_default();
        for f in fs {
            let _ = f.call1(&JsValue::UNDEFINED, &err);
        }
        if let Ok(mut t) = i.timer.try_borrow_mut() {
            t.take();
        }
        // Let go of what the other tabs wait on: the request under way (aborted) and
        // its refresh lock, the tabs' channel and the presence lock. Released, not
        // dropped (see `poison_current`); from here on nothing comes back in (see
        // `on_event`).
        if let Ok(a) = i.attempt.try_borrow() {
            if let Some(a) = a.as_ref() {
                a.ctrl.abort();
                if let Some(lock) = &a.lock {
                    let _ = lock.0.call0(&JsValue::UNDEFINED);
                }
            }
        }
        i.leave_tabs();
    }
}

/// The browser side of one token manager. Cloning shares it.
#[derive(Clone)]
pub struct Shell {
    inner: Rc<Inner>,
}

impl Shell {
    /// Starts a manager: opens storage (restoring a stored token), joins the tab
    /// channel and arms the timer.
    pub fn new(opts: Options, sink: Option<Function>) -> Shell {
        let now = js::now();
        let seed = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
        let (store, store_failed) = match Store::open(opts.storage) {
            Ok(s) => (s, false),
            Err(_) => (Store::memory(), true),
        };
        let locks = opts.cross_tab && js::has_locks();
        let inner = Rc::new_cyclic(|weak: &Weak<Inner>| {
            let weak = weak.clone();
            let mailbox = Closure::<dyn Fn(u32, f64, JsValue)>::new(move |kind, id, v| {
                if let Some(i) = weak.upgrade() {
                    i.on_event(kind, id, v);
                }
            });
            let mb: &Function = mailbox.as_ref().unchecked_ref();
            let channel = opts
                .cross_tab
                .then(|| js::channel(&opts.storage_key, mb, EV_MESSAGE).ok())
                .flatten();
            let dom = Undo(js::wakeups(mb, EV_WAKE));
            let presence = (locks && channel.is_some()).then(|| {
                let mut name = presence_prefix(&opts);
                // Number → string on the JS side: Rust's float formatting costs ~10 kB of wasm.
                let id = js_sys::Number::from(crate::core::floor(js_sys::Math::random() * 1e15))
                    .to_string_with_radix(36);
                name.push_str(&id.map(String::from).unwrap_or_default());
                let release = js::hold(&name);
                (name, release)
            });
            Inner {
                core: RefCell::new(Lifecycle::new(opts.core.clone(), seed)),
                log_level: Cell::new(opts.log_level),
                opts,
                store: RefCell::new(store),
                channel,
                locks,
                timer: RefCell::new(None),
                dom: RefCell::new(Some(dom)),
                listeners: RefCell::new(Vec::new()),
                next_listener: Cell::new(0),
                waiters: RefCell::new(Vec::new()),
                attempt: RefCell::new(None),
                cached: RefCell::new(None),
                asking: RefCell::new(None),
                presence,
                clock: Cell::new(now),
                teardown: RefCell::new(Vec::new()),
                sink,
                published: Cell::new(false),
                poisoned: Cell::new(false),
                mailbox,
            }
        });
        // Without std, the crate's #[panic_handler] calls poison_current() instead.
        #[cfg(feature = "std")]
        install_panic_hook();
        {
            let mut l = LIVE.0.borrow_mut();
            l.retain(|w| w.strong_count() > 0);
            l.push(Rc::downgrade(&inner));
        }
        let _entered = inner.enter();
        if store_failed {
            inner.warn_storage();
        }
        inner.restore(now);
        inner.switch_here();
        inner.process();
        inner.arm();
        Shell { inner }
    }

    /// What a panic while this manager runs does before the trap (for the shell tests).
    #[doc(hidden)]
    pub fn poison_for_tests(&self) {
        let _entered = self.inner.enter();
        poison_current();
    }

    /// Whether a panic stopped this manager (then every call fails with `internal`).
    pub fn poisoned(&self) -> Option<TokenError> {
        self.inner.poisoned.get().then(internal)
    }

    /// `getToken()`.
    pub fn get_token(&self) -> Promise {
        self.request(Lifecycle::get)
    }

    /// `getToken()` or `refresh()`: asks the core, answers the caller, performs the work.
    fn request(&self, ask: fn(&mut Lifecycle, Now) -> Access) -> Promise {
        let i = &self.inner;
        let _entered = i.enter();
        if let Some(e) = self.poisoned() {
            return Promise::reject(&to_js_error(&e));
        }
        let now = js::now();
        let access = ask(&mut i.core.borrow_mut(), now);
        let p = i.answer(access, now);
        i.process();
        p
    }

    /// `peek()`: the usable token or `null`; never starts a request.
    pub fn peek(&self) -> JsValue {
        let _entered = self.inner.enter();
        if self.inner.poisoned.get() {
            return JsValue::NULL;
        }
        let now = js::now();
        if self.inner.core.borrow().usable(now).is_none() {
            return JsValue::NULL;
        }
        let v = self.inner.token_value(now).unwrap_or(JsValue::NULL);
        self.inner.publish(now, &v);
        v
    }

    /// `refresh()`.
    pub fn refresh(&self) -> Promise {
        self.request(Lifecycle::refresh)
    }

    /// `clear()`. After `destroy()` it still removes the stored entry and tells the
    /// other tabs: a logout must never leave a token behind.
    pub fn clear(&self) {
        let i = &self.inner;
        let _entered = i.enter();
        if i.poisoned.get() {
            return;
        }
        if i.core.borrow().is_destroyed() {
            i.forget();
            js::tell(
                &i.opts.storage_key,
                &i.message("clear", None, &JsValue::UNDEFINED),
            );
            return;
        }
        i.core.borrow_mut().clear(js::now(), true);
        i.process();
    }

    /// `on(name, fn)`: returns the unsubscribe function.
    pub fn on(&self, name: &str, f: Function) -> Result<Function, TokenError> {
        let _entered = self.inner.enter();
        let kind = Kind::parse(name).ok_or(TokenError::new(
            ErrorCode::InvalidOptions,
            "unknown event: use token, expiring, expired, error or cleared",
        ))?;
        if let Some(e) = self.poisoned() {
            return Err(e);
        }
        if self.inner.core.borrow().is_destroyed() {
            return Err(TokenError::new(
                ErrorCode::Destroyed,
                "the token manager was destroyed",
            ));
        }
        let id = self.inner.next_listener.get() + 1;
        self.inner.next_listener.set(id);
        self.inner.listeners.borrow_mut().push((id, kind, f));
        // Calling it twice is harmless.
        Ok(js::unsubscriber(self.inner.mb(), EV_UNSUBSCRIBE, id as f64))
    }

    /// `status()`: a plain object without the token.
    pub fn status(&self) -> JsValue {
        let i = &self.inner;
        let _entered = i.enter();
        if i.poisoned.get() {
            let o = Object::new();
            set(&o, "state", &"destroyed".into());
            set(&o, "lastError", &"internal".into());
            return o.into();
        }
        let now = js::now();
        let st = i.core.borrow().status(now);
        let o = Object::new();
        let num = |v: Option<f64>| v.map_or(JsValue::NULL, JsValue::from_f64);
        set(&o, "state", &st.state.as_str().into());
        set(&o, "expiresIn", &num(st.expires_in));
        set(&o, "expiresAt", &num(st.expires_at));
        set(&o, "renewAt", &num(st.renew_at));
        set(&o, "nextAttemptAt", &num(st.next_attempt_at));
        set(
            &o,
            "brokerCalls",
            &JsValue::from_f64(st.broker_calls as f64),
        );
        set(
            &o,
            "lastError",
            &st.last_error.map_or(JsValue::NULL, |c| c.as_str().into()),
        );
        set(&o, "storage", &i.store.borrow().kind().as_str().into());
        let ct = Object::new();
        set(&ct, "broadcastChannel", &i.channel.is_some().into());
        set(&ct, "webLocks", &i.locks.into());
        set(&o, "crossTab", &ct);
        set(&o, "token", &st.masked.map_or(JsValue::NULL, |m| m.into()));
        o.into()
    }

    /// Sets the log level.
    pub fn set_log_level(&self, level: u8) {
        self.inner.log_level.set(level);
    }

    /// Logs a fixed message at `level` (never pass token material).
    pub fn log(&self, level: u8, msg: &str) {
        self.inner.log(level, msg);
    }

    /// The configured MyDataHelps base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.opts.base_url
    }

    /// A hint that the token may be about to expire (the SDK's `tokenWillExpire`):
    /// starts a renewal only if the current token really is inside its renewal
    /// window or unusable, exactly as `getToken()` would, without a promise.
    pub fn nudge(&self) {
        let _entered = self.inner.enter();
        let now = js::now();
        let access = self.inner.core.borrow_mut().get(now);
        if access == Access::Wait {
            // Nobody waits on this call; the renewal's outcome reaches listeners.
            self.inner
                .log(LOG_DEBUG, "renewing on the SDK's tokenWillExpire");
        }
        self.inner.process();
        self.inner.arm();
    }

    /// Registers an integration's detach function, called on `destroy()`.
    pub fn on_destroy(&self, detach: &Function) {
        self.inner.teardown.borrow_mut().push(detach.clone());
    }

    /// `destroy()`: stops every timer, listener, channel and request.
    pub fn destroy(&self) {
        let i = &self.inner;
        let _entered = i.enter();
        if i.poisoned.get() {
            return;
        }
        i.core.borrow_mut().destroy();
        i.process();
        i.withdraw();
        let bridges = core::mem::take(&mut *i.teardown.borrow_mut());
        for f in bridges {
            let _ = f.call0(&JsValue::UNDEFINED);
        }
        i.timer.borrow_mut().take();
        i.dom.borrow_mut().take();
        i.listeners.borrow_mut().clear();
        i.asking.borrow_mut().take();
        i.attempt.borrow_mut().take();
        i.leave_tabs();
    }
}

impl Drop for Inner {
    /// A manager dropped without `destroy()` (its JS object was collected) lets go of
    /// the tabs too; the handles in its fields clean up the rest.
    fn drop(&mut self) {
        self.leave_tabs();
    }
}

impl Inner {
    /// Marks this manager as the one running (see [`CURRENT`]) until the guard drops.
    fn enter(self: &Rc<Self>) -> Entered {
        Entered(CURRENT.0.replace(Rc::as_ptr(self) as usize))
    }

    /// A manager with a participant announces itself: the origin's tabs (and this
    /// page's other managers) of another participant under the same key let go of
    /// their tokens. A shared computer changes hands this way; one participant per
    /// key and origin at a time.
    fn switch_here(self: &Rc<Self>) {
        let Some(id) = self.core.borrow().identity().map(String::from) else {
            return;
        };
        self.post("hello", None, &JsValue::UNDEFINED);
        // Managers of this page without a channel (crossTab: false) hear it here. One
        // at a time, with LIVE not borrowed while each lets go (it may run listeners).
        let me = Field::Str(id);
        let mut k = 0;
        while let Some(w) = LIVE.0.borrow().get(k).cloned() {
            k += 1;
            match w.upgrade() {
                Some(o) if o.channel.is_none() && o.opts.storage_key == self.opts.storage_key => {
                    let _entered = o.enter();
                    o.switched(&me);
                }
                _ => {}
            }
        }
    }

    /// Another participant (`p`) announced itself under our key: unless it is ours,
    /// drop our token here (its storage entry too, if it still is ours).
    fn switched(self: &Rc<Self>, p: &Field) {
        if self.core.borrow().is_ours(p) {
            return;
        }
        self.log(
            LOG_INFO,
            "another participant signed in here; letting go of the token",
        );
        self.core.borrow_mut().clear(js::now(), false);
        self.process();
        self.arm();
    }

    /// Removes the stored entry unless it belongs to another participant (whose tab
    /// may have written it since).
    fn forget(&self) {
        let key = &self.opts.storage_key;
        let store = self.store.borrow();
        let ours = match store.read(key) {
            Ok(v) if v.is_undefined() => return,
            Ok(v) => !v.is_object() || self.core.borrow().is_ours(&js::party(&v)),
            Err(_) => true,
        };
        if ours && store.remove(key).is_err() {
            drop(store);
            self.storage_failed();
        }
    }

    /// Closes the tabs' channel and gives back the presence lock (both may run twice).
    fn leave_tabs(&self) {
        if let Some(c) = &self.channel {
            c.close();
        }
        if let Some((_, release)) = &self.presence {
            let _ = release.call0(&JsValue::UNDEFINED);
        }
    }

    fn log(&self, level: u8, msg: &str) {
        if level > self.log_level.get() {
            return;
        }
        js::log(level, msg);
    }

    fn warn_storage(&self) {
        self.log(
            LOG_WARN,
            "storage is not available here (sandboxed frame, private mode or quota); keeping the token in memory",
        );
    }

    /// Storage threw: fall back to memory for good, with one warning.
    fn storage_failed(&self) {
        let old = core::mem::replace(&mut *self.store.borrow_mut(), Store::memory());
        let _ = old.remove(&self.opts.storage_key);
        self.warn_storage();
    }

    fn restore(&self, now: Now) {
        let key = &self.opts.storage_key;
        // Read first: a borrow held by the `match` scrutinee would still be alive in
        // `storage_failed()`, whose `borrow_mut()` would panic (a wasm trap).
        let read = self.store.borrow().read(key);
        let value = match read {
            Ok(v) => v,
            Err(_) => return self.storage_failed(),
        };
        if value.is_undefined() {
            return;
        }
        let fields = js::stored_fields(&value);
        let future =
            matches!(&fields, Some(f) if matches!(f.v, Field::Num(v) if v > STORE_VERSION));
        let token = fields.and_then(|f| self.core.borrow().entry(f, now));
        let adopted = match token {
            Some(t) => self.core.borrow_mut().restore(now, t),
            None => false,
        };
        if adopted {
            self.log(LOG_INFO, "restored a token from storage");
        } else if future {
            // A newer version of this library owns it (another tab): leave it be.
            self.log(LOG_INFO, "ignoring a stored entry of a newer format");
        } else {
            // Another participant's entry goes too: this tab now belongs to ours.
            self.log(
                LOG_INFO,
                "removed a corrupt, foreign or expired stored entry",
            );
            if self.store.borrow().remove(key).is_err() {
                self.storage_failed();
            }
        }
    }

    fn mb(&self) -> &Function {
        self.mailbox.as_ref().unchecked_ref()
    }

    /// Everything that comes back from JS.
    fn on_event(self: &Rc<Self>, kind: u32, id: f64, v: JsValue) {
        // A stopped manager does nothing more: no reply, timer or message reaches it.
        if self.poisoned.get() {
            return;
        }
        let _entered = self.enter();
        let id = id as u64;
        match kind {
            EV_TIMER => self.on_timer(),
            EV_WAKE => self.on_wake(),
            EV_MESSAGE => self.on_peer(v),
            EV_UNSUBSCRIBE => {
                if let Ok(mut l) = self.listeners.try_borrow_mut() {
                    l.retain(|l| u64::from(l.0) != id);
                }
            }
            _ => self.step(kind, id, v),
        }
    }

    fn on_wake(self: &Rc<Self>) {
        let now = js::now();
        self.clock.set(now);
        self.core.borrow_mut().wake(now, Wake::Recheck);
        self.process();
        self.arm();
    }

    fn on_timer(self: &Rc<Self>) {
        let now = js::now();
        let prev = self.clock.replace(now);
        let drift = (now.wall - prev.wall) - (now.mono - prev.mono);
        if drift.abs() > CLOCK_JUMP_MS {
            self.log(LOG_INFO, "the wall clock jumped; re-checking the token");
            self.core.borrow_mut().wake(now, Wake::Recheck);
        } else {
            self.core.borrow_mut().tick(now);
        }
        self.process();
        self.arm();
    }

    fn on_peer(self: &Rc<Self>, data: JsValue) {
        let now = js::now();
        let t = get(&data, "t").as_string();
        let p = js::party(&data);
        if t.as_deref() == Some("hello") {
            return self.switched(&p);
        }
        // Every message names its participant: another participant's tabs (or, for
        // a manager with a participant, tabs without one) are neither heard nor answered.
        if !self.core.borrow().is_ours(&p) {
            return self.log(LOG_DEBUG, "ignored a message of another participant");
        }
        match t.as_deref() {
            Some("token") => {
                let fields = js::stored_fields(&get(&data, "e"));
                let token = fields.and_then(|f| self.core.borrow().entry(f, now));
                if let Some(t) = token {
                    if self.core.borrow_mut().external(now, t) {
                        self.log(LOG_INFO, "adopted a token from another tab");
                        self.finish_ask();
                    }
                }
                self.answered(&data);
            }
            Some("none") => self.answered(&data),
            Some("clear") => {
                self.log(LOG_INFO, "another tab cleared the token");
                self.core.borrow_mut().clear(now, false);
            }
            Some("ask") => {
                let entry = {
                    let core = self.core.borrow();
                    core.usable(now).map(|t| js::entry(t, core.identity()))
                };
                let n = get(&data, "n");
                match entry {
                    Some(e) => self.post("token", Some(&e), &n),
                    None => self.post("none", None, &n),
                }
            }
            _ => self.log(LOG_DEBUG, "ignored an unknown message on the channel"),
        }
        self.process();
        self.arm();
    }

    /// Ends the pending question, if any: its attempt goes on (in a microtask).
    fn finish_ask(&self) {
        let done = self.asking.borrow_mut().take();
        if let Some(a) = done {
            js::soon(self.mb(), EV_ASKED, a.id as f64);
        }
    }

    /// Counts a peer's answer to our question; all known peers answered: done.
    fn answered(&self, data: &JsValue) {
        let n = get(data, "n");
        let all = match self.asking.borrow_mut().as_mut() {
            Some(a) if n.as_f64() == Some(a.nonce) => {
                a.left = a.left.saturating_sub(1);
                a.left == 0
            }
            _ => false,
        };
        if all {
            self.finish_ask();
        }
    }

    /// The channel message `{ t, e?, n?, p? }`; `p` names our participant.
    fn message(&self, t: &str, e: Option<&Object>, n: &JsValue) -> Object {
        let m = Object::new();
        set(&m, "t", &t.into());
        if let Some(e) = e {
            set(&m, "e", e);
        }
        if !n.is_undefined() {
            set(&m, "n", n);
        }
        if let Some(p) = self.core.borrow().identity() {
            set(&m, "p", &p.into());
        }
        m
    }

    /// Posts a message to the other tabs.
    fn post(&self, t: &str, e: Option<&Object>, n: &JsValue) {
        if let Some(ch) = &self.channel {
            let _ = ch.post_message(&self.message(t, e, n));
        }
    }

    /// Performs the core's outputs until there are none.
    fn process(self: &Rc<Self>) {
        loop {
            let next = self.core.borrow_mut().poll();
            let Some(out) = next else { break };
            // Any output may change what getToken() should answer.
            self.withdraw();
            match out {
                Output::CallBroker { id, reason } => self.start(id, reason),
                Output::Persist => self.persist(),
                Output::BroadcastToken => {
                    let e = {
                        let core = self.core.borrow();
                        core.token(js::now()).map(|t| js::entry(t, core.identity()))
                    };
                    if let Some(e) = e {
                        self.post("token", Some(&e), &JsValue::UNDEFINED);
                    }
                }
                Output::BroadcastClear => self.post("clear", None, &JsValue::UNDEFINED),
                Output::Emit(ev) => self.emit(ev),
                Output::Settle(r) => self.settle(r),
                Output::Abort => {
                    // Dropped after the borrow ends: that releases the lock.
                    let a = self.attempt.borrow_mut().take();
                    if let Some(a) = &a {
                        a.ctrl.abort();
                        self.asking.borrow_mut().take();
                    }
                }
            }
        }
    }

    /// Re-arms the one timer for the core's next deadline, capped at [`MAX_SLEEP_MS`].
    fn arm(self: &Rc<Self>) {
        let now = js::now();
        let next = {
            let core = self.core.borrow();
            if core.is_destroyed() {
                None
            } else {
                Some(
                    core.poll_timeout(now)
                        .unwrap_or(MAX_SLEEP_MS)
                        .min(MAX_SLEEP_MS),
                )
            }
        };
        // +1: never wake a hair before the deadline and spin.
        let timer =
            next.map(|ms| Timeout::new(crate::core::ceil(ms) + 1.0, self.mb(), EV_TIMER, 0.0));
        *self.timer.borrow_mut() = timer;
    }

    fn persist(&self) {
        let now = js::now();
        let key = &self.opts.storage_key;
        if self.store.borrow().kind() == StoreKind::Memory {
            return;
        }
        let text = {
            let core = self.core.borrow();
            core.token(now).map(|t| {
                js_sys::JSON::stringify(&js::entry(t, core.identity()))
                    .ok()
                    .and_then(|s| s.as_string())
            })
        };
        match text {
            Some(Some(s)) => {
                if self.store.borrow().write(key, &s).is_err() {
                    self.storage_failed();
                }
            }
            _ => self.forget(),
        }
    }

    /// The frozen token object `{ access_token, token_type, expires_in, expires_at }`,
    /// rebuilt only when the token or its whole seconds left change.
    fn token_value(&self, now: Now) -> Option<JsValue> {
        let core = self.core.borrow();
        let t = core.token(now)?;
        let secs = crate::core::floor(t.remaining(now.wall, now.mono) / 1000.0);
        let mut cache = self.cached.borrow_mut();
        let generation = core.generation();
        let same_token = matches!(&*cache, Some(c) if c.generation == generation);
        if let Some(c) = cache.as_ref().filter(|c| same_token && c.secs == secs) {
            return Some(c.obj.clone());
        }
        let access = match cache.take() {
            Some(c) if same_token => c.access,
            _ => JsValue::from_str(t.access.secret()),
        };
        let o = Object::new();
        set(&o, "access_token", &access);
        set(&o, "token_type", &"Bearer".into());
        set(&o, "expires_in", &JsValue::from_f64(secs));
        set(&o, "expires_at", &JsValue::from_f64(t.expires_at));
        let obj: JsValue = js::freeze(&o).into();
        *cache = Some(Cached {
            generation,
            secs,
            access,
            obj: obj.clone(),
        });
        Some(obj)
    }

    /// Offers the token object to the JS entry's cache while the core says reusing it
    /// is exactly what `getToken()` would do.
    fn publish(&self, now: Now, v: &JsValue) {
        let Some(sink) = &self.sink else { return };
        let Some(until) = self.core.borrow().reuse_until(now) else {
            return;
        };
        self.published.set(true);
        let _ = sink.call2(&JsValue::UNDEFINED, v, &JsValue::from_f64(until));
    }

    fn withdraw(&self) {
        if let (true, Some(sink)) = (self.published.replace(false), &self.sink) {
            let _ = sink.call2(&JsValue::UNDEFINED, &JsValue::NULL, &JsValue::from_f64(0.0));
        }
    }

    fn answer(&self, access: Access, now: Now) -> Promise {
        match access {
            Access::Ready => {
                let v = self.token_value(now).unwrap_or(JsValue::NULL);
                self.publish(now, &v);
                Promise::resolve(&v)
            }
            Access::Fail(e) => Promise::reject(&to_js_error(&e)),
            Access::Wait => {
                let d = js::deferred();
                self.waiters
                    .borrow_mut()
                    .push((d.get(1).unchecked_into(), d.get(2).unchecked_into()));
                d.get(0).unchecked_into()
            }
        }
    }

    fn settle(&self, r: Result<(), TokenError>) {
        let waiters = core::mem::take(&mut *self.waiters.borrow_mut());
        if waiters.is_empty() {
            return;
        }
        let value = match r {
            Ok(()) => self.token_value(js::now()).ok_or_else(|| {
                TokenError::new(
                    ErrorCode::InvalidResponse,
                    "the broker's token expired on arrival",
                )
            }),
            Err(e) => Err(e),
        };
        let (ok, v) = match value {
            Ok(v) => (true, v),
            Err(e) => (false, to_js_error(&e)),
        };
        for (res, rej) in waiters {
            let _ = if ok {
                res.call1(&JsValue::UNDEFINED, &v)
            } else {
                rej.call1(&JsValue::UNDEFINED, &v)
            };
        }
    }

    fn emit(&self, ev: Event) {
        let now = js::now();
        let (kind, payload) = match ev {
            Event::Token => {
                self.log(LOG_INFO, "new token adopted");
                (
                    Kind::Token,
                    self.token_value(now).unwrap_or(JsValue::UNDEFINED),
                )
            }
            Event::Expiring => (
                Kind::Expiring,
                self.token_value(now).unwrap_or(JsValue::UNDEFINED),
            ),
            Event::Expired => {
                self.log(LOG_WARN, "the token expired before it could be renewed");
                (Kind::Expired, JsValue::UNDEFINED)
            }
            Event::Error(e) => {
                let mut msg = String::from("renewal failed: ");
                msg.push_str(e.code.as_str());
                self.log(LOG_WARN, &msg);
                (Kind::Error, to_js_error(&e))
            }
            Event::Cleared => (Kind::Cleared, JsValue::UNDEFINED),
        };
        let fs: Vec<Function> = self
            .listeners
            .borrow()
            .iter()
            .filter(|l| l.1 == kind)
            .map(|l| l.2.clone())
            .collect();
        for f in fs {
            if js::call1(&f, &payload).is_err() {
                self.log(LOG_ERROR, "an event listener threw; the manager carries on");
            }
        }
    }

    /// Starts broker attempt `id` (it replaces any older one): take the cross-tab lock
    /// if there is one; the rest follows in [`Inner::step`].
    fn start(&self, id: u64, reason: Reason) {
        let Ok(ctrl) = AbortController::new() else {
            return;
        };
        let signal = ctrl.signal();
        let old = self.attempt.borrow_mut().replace(Attempt {
            id,
            reason,
            ctrl,
            stage: Stage::Locking,
            timer: None,
            timed_out: false,
            lock: None,
        });
        if let Some(old) = old {
            old.ctrl.abort();
        }
        if self.locks {
            let mut name = self.opts.storage_key.clone();
            name.push_str(":refresh");
            name.push_str(&self.opts.scope);
            js::pipe(&js::lock(&name, &signal), self.mb(), EV_LOCK, id as f64);
            // A holder renews within timeoutMs (plus its peer wait); a script that
            // holds the lock for good must not wedge us: then we go on without it.
            let wait = Timeout::new(
                self.opts.timeout_ms + LOCK_GRACE_MS,
                self.mb(),
                EV_LOCK_WAIT,
                id as f64,
            );
            self.set_stage(Stage::Locking, Some(wait));
        } else {
            // As if granted, in a microtask: never re-enter `process()`.
            js::soon(self.mb(), EV_LOCK, id as f64);
        }
    }

    /// The stage of attempt `id`, when it is the current one.
    fn stage(&self, id: u64) -> Option<Stage> {
        self.attempt
            .borrow()
            .as_ref()
            .filter(|a| a.id == id)
            .map(|a| a.stage)
    }

    fn set_stage(&self, stage: Stage, timer: Option<Timeout>) {
        if let Some(a) = self.attempt.borrow_mut().as_mut() {
            a.stage = stage;
            a.timer = timer;
        }
    }

    /// The next step of attempt `id`. Callbacks of an attempt that was aborted or
    /// replaced find another id (or none) and only let go of what they hold.
    fn step(self: &Rc<Self>, kind: u32, id: u64, v: JsValue) {
        let stage = self.stage(id);
        match (kind, stage) {
            (EV_LOCK, Some(Stage::Locking)) => {
                if let (Some(a), Ok(f)) =
                    (self.attempt.borrow_mut().as_mut(), v.dyn_into::<Function>())
                {
                    a.lock = Some(Undo(f));
                }
                self.locked(id);
            }
            (EV_LOCK, _) => {
                // Granted after the attempt ended: give it back at once.
                if let Ok(f) = v.dyn_into::<Function>() {
                    drop(Undo(f));
                }
            }
            (EV_LOCK_WAIT, Some(Stage::Locking)) => {
                self.log(
                    LOG_WARN,
                    "the cross-tab lock is held too long (another script?); renewing without it",
                );
                self.locked(id);
            }
            (EV_LOCK_REFUSED, Some(Stage::Locking)) => {
                // Refused (an opaque-origin sandboxed frame has `navigator.locks` but
                // may not use it): carry on without the cross-tab lock, never wedge.
                self.log(
                    LOG_DEBUG,
                    "Web Locks refused here; renewing without the cross-tab lock",
                );
                self.locked(id);
            }
            (EV_PEERS | EV_PEERS_UNKNOWN, Some(Stage::Counting)) => {
                let peers = v.as_f64().filter(|n| *n >= 0.0).map(|n| n as u32);
                if peers == Some(0) || !self.core.borrow().pending(id) {
                    self.send(id);
                } else {
                    self.ask(id, peers);
                }
            }
            (EV_ASKED, Some(Stage::Asking)) => {
                self.asking.borrow_mut().take();
                self.send(id);
            }
            (EV_DEADLINE, Some(Stage::Sending)) => {
                if let Some(a) = self.attempt.borrow_mut().as_mut() {
                    a.timed_out = true;
                    a.ctrl.abort();
                }
            }
            (EV_REPLY | EV_REPLY_FAILED, Some(Stage::Sending)) => {
                let a = self.attempt.borrow_mut().take();
                let timed_out = a.as_ref().is_some_and(|a| a.timed_out);
                let reply = match (&self.opts.broker, kind == EV_REPLY) {
                    (Broker::Url(_), true) => url_reply(&v),
                    (Broker::Func(_), true) => Reply::Body {
                        status: 0,
                        fields: js::response_fields(&v),
                    },
                    _ if timed_out => Reply::Timeout,
                    // A rejected fetch (or body read) is a network error: never a
                    // status to trust.
                    (Broker::Url(_), false) => Reply::Network,
                    (Broker::Func(_), false) => thrown(&v),
                };
                self.core.borrow_mut().reply(id, js::now(), reply);
                self.process();
                self.arm();
                // `a` drops here: the lock is released after the new token was broadcast.
                drop(a);
            }
            _ => {}
        }
    }

    /// Inside the lock, before calling the broker: did another tab renew meanwhile?
    fn locked(self: &Rc<Self>, id: u64) {
        if !self.core.borrow().pending(id) {
            return self.send(id);
        }
        let now = js::now();
        let kind = self.store.borrow().kind();
        if kind == StoreKind::Local {
            let value = self.store.borrow().read(&self.opts.storage_key);
            let t = value
                .ok()
                .and_then(|v| js::stored_fields(&v))
                .and_then(|f| self.core.borrow().entry(f, now));
            if let Some(t) = t {
                self.core.borrow_mut().external(now, t);
            }
            self.process();
            return self.send(id);
        }
        if self.channel.is_none() {
            return self.send(id);
        }
        // Memory and session storage are per tab: ask the peers. A peer that just
        // renewed answers with the new token. Peers are counted by their presence
        // locks, so a lone tab does not wait and a crowd answers in one round trip;
        // without Web Locks the wait ends after PEER_WAIT_MS.
        match &self.presence {
            Some((own, _)) => {
                let prefix = presence_prefix(&self.opts);
                self.set_stage(Stage::Counting, None);
                js::pipe(
                    &js::count_locks(&prefix, own),
                    self.mb(),
                    EV_PEERS,
                    id as f64,
                );
            }
            None => self.ask(id, None),
        }
    }

    fn ask(&self, id: u64, peers: Option<u32>) {
        let nonce = js_sys::Math::random();
        *self.asking.borrow_mut() = Some(Ask {
            id,
            nonce,
            left: peers.unwrap_or(u32::MAX),
        });
        let wait = Timeout::new(PEER_WAIT_MS, self.mb(), EV_ASKED, id as f64);
        self.set_stage(Stage::Asking, Some(wait));
        self.post("ask", None, &JsValue::from_f64(nonce));
    }

    /// Asks the core for the go, then sends the request with its deadline.
    fn send(self: &Rc<Self>, id: u64) {
        if self.stage(id).is_none() {
            return;
        }
        if !self.core.borrow_mut().begin_send(id, js::now()) {
            let a = self.attempt.borrow_mut().take();
            self.process();
            self.arm();
            drop(a);
            return;
        }
        self.log(LOG_DEBUG, "calling the broker");
        let deadline = Timeout::new(self.opts.timeout_ms, self.mb(), EV_DEADLINE, id as f64);
        self.set_stage(Stage::Sending, Some(deadline));
        let Some((signal, reason)) = self
            .attempt
            .borrow()
            .as_ref()
            .map(|a| (a.ctrl.signal(), a.reason))
        else {
            return;
        };
        let p = match &self.opts.broker {
            Broker::Url(url) => js::post(
                url,
                &self.opts.headers,
                self.opts.credentials,
                &signal,
                reason.as_str(),
                self.core.borrow().identity().map(String::from),
            ),
            Broker::Func(f) => {
                let arg = Object::new();
                set(&arg, "signal", &signal);
                set(&arg, "reason", &reason.as_str().into());
                match js::call1(f, &arg) {
                    Ok(v) => js::abortable(&v, &signal),
                    Err(e) => Promise::reject(&e),
                }
            }
        };
        js::pipe(&p, self.mb(), EV_REPLY, id as f64);
    }
}

/// The broker URL's answer, `[status, Retry-After]`, `[status, null, body]` or `[0]`
/// (see `post` in js.rs; the body arrives parsed, `null` when it was not JSON or too
/// large).
fn url_reply(v: &JsValue) -> Reply {
    let a: &js_sys::Array = v.unchecked_ref();
    let status = a.get(0).as_f64().unwrap_or(0.0) as u16;
    match a.length() {
        _ if status == 0 => Reply::Redirect,
        3 => Reply::Body {
            status,
            fields: js::response_fields(&a.get(2)),
        },
        _ => Reply::Status {
            status,
            retry_after: a.get(1).as_string(),
        },
    }
}

/// `{storageKey}:tab{scope}:`, the names of the presence locks of this participant's tabs.
fn presence_prefix(opts: &Options) -> String {
    let mut name = opts.storage_key.clone();
    name.push_str(":tab");
    name.push_str(&opts.scope);
    name.push(':');
    name
}

/// A broker function may throw `{ status }` to report an HTTP-like outcome (so that a
/// 401 from the app's own fetch stays final); anything else is "unreachable".
fn thrown(e: &JsValue) -> Reply {
    match get(e, "status").as_f64() {
        Some(s) if (100.0..600.0).contains(&s) => Reply::Status {
            status: s as u16,
            retry_after: None,
        },
        _ => Reply::Network,
    }
}
