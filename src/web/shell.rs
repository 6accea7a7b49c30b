//! The browser side of one token manager. It feeds the core's [`Tab`] what the browser
//! says (an app's call, the timer, a wake-up, a channel message, a settled promise),
//! each with `now`, performs the [`Action`]s the tab drains, in order, and arms the one
//! timer for [`Tab::poll_timeout`]. Every decision is the tab's; what is left here is
//! which browser API each action calls.

use super::answers::Answers;
use super::bindings;
use super::convert::{self, to_js_error};
use super::handles::{Timeout, Undo};
use super::listeners::{Listeners, Name};
use super::mailbox::{Ev, Mailbox};
use super::options::{Broker, Options};
use super::poison::{self, internal};
use super::store::Store;
use super::tabs::{self, Tabs};
use crate::core::{
    Access, Action, ErrorCode, Event, Field, Kind, Level, Msg, Now, Reason, Restored, Storage, Tab,
    TokenError,
};
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// One manager's state, shared by its [`Shell`] and (weakly) its mailbox.
pub struct Inner {
    pub(super) opts: Options,
    pub(super) tab: RefCell<Tab>,
    store: RefCell<Store>,
    /// The channel and the locks; `None` once destroyed.
    tabs: RefCell<Option<Tabs>>,
    pub(super) timer: RefCell<Option<Timeout>>,
    /// Removes the wake-up listeners (visibilitychange, online, pageshow, focus).
    wakeups: RefCell<Option<Undo>>,
    pub(super) listeners: Listeners,
    pub(super) answers: Answers,
    log_level: Cell<Level>,
    /// Detach functions of the integrations (src/web/integrations.js), run by `destroy()`.
    teardown: RefCell<Vec<Function>>,
    /// Set when a Rust panic trapped the wasm: every later call fails with `internal`.
    pub(super) poisoned: Cell<bool>,
    mailbox: Mailbox,
}

/// The browser side of one token manager.
pub struct Shell {
    inner: Rc<Inner>,
}

impl Shell {
    /// Starts a manager: opens storage (restoring a stored token), joins the tabs and
    /// arms the timer.
    pub fn new(opts: Options, sink: Option<Function>) -> Shell {
        let now = bindings::now();
        let seed = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
        let (store, store_failed) = match Store::open(opts.core.storage) {
            Ok(s) => (s, false),
            Err(_) => (Store::memory(), true),
        };
        let inner = Rc::new_cyclic(|weak| {
            let mailbox = Mailbox::new(weak.clone());
            let tabs = Tabs::join(&opts, &mailbox);
            let wakeups = Undo(bindings::wakeups(mailbox.function(), Ev::Wake as u32));
            let mut cfg = opts.core.clone();
            cfg.storage = store.kind();
            Inner {
                tab: RefCell::new(Tab::new(cfg, tabs.env(), seed)),
                log_level: Cell::new(opts.core.log_level),
                opts,
                store: RefCell::new(store),
                tabs: RefCell::new(Some(tabs)),
                timer: RefCell::new(None),
                wakeups: RefCell::new(Some(wakeups)),
                listeners: Listeners::default(),
                answers: Answers::new(sink),
                teardown: RefCell::new(Vec::new()),
                poisoned: Cell::new(false),
                mailbox,
            }
        });
        poison::register(&inner);
        let _entered = poison::enter(&inner);
        if store_failed {
            inner.warn_storage();
        }
        inner.restore(now);
        inner.feed(|t, now| t.start(now));
        // This page's managers without a channel hear a participant's `hello` here.
        if let Some(p) = inner.opts.core.identity.clone() {
            tabs::tell_page(&inner.opts.storage_key, &Field::Str(p));
        }
        Shell { inner }
    }

    /// What a panic while this manager runs does before the trap (for the shell tests).
    #[doc(hidden)]
    pub fn poison_for_tests(&self) {
        poison::poison_for_tests(&self.inner);
    }

    /// Whether a panic stopped this manager (then every call fails with `internal`).
    pub fn poisoned(&self) -> Option<TokenError> {
        self.inner.poisoned.get().then(internal)
    }

    /// `getToken()`.
    pub fn get_token(&self) -> Promise {
        self.request(Tab::get)
    }

    /// `refresh()`.
    pub fn refresh(&self) -> Promise {
        self.request(Tab::refresh)
    }

    /// `getToken()` or `refresh()`: asks the tab, answers the caller, performs the work.
    fn request(&self, ask: fn(&mut Tab, Now) -> Access) -> Promise {
        let i = &self.inner;
        let _entered = poison::enter(i);
        if let Some(e) = self.poisoned() {
            return Promise::reject(&to_js_error(&e));
        }
        let now = bindings::now();
        let access = ask(&mut i.tab.borrow_mut(), now);
        let p = match access {
            Access::Ready => Promise::resolve(&i.handout(now)),
            Access::Fail(e) => Promise::reject(&to_js_error(&e)),
            Access::Wait => i.answers.wait(),
        };
        i.drain();
        p
    }

    /// `peek()`: the usable token or `null`; never starts a request.
    pub fn peek(&self) -> JsValue {
        let i = &self.inner;
        let _entered = poison::enter(i);
        if i.poisoned.get() {
            return JsValue::NULL;
        }
        i.handout(bindings::now())
    }

    /// `clear()`. After `destroy()` it still removes the stored entry and tells the
    /// other tabs: a logout must never leave a token behind.
    pub fn clear(&self) {
        let i = &self.inner;
        let _entered = poison::enter(i);
        if i.poisoned.get() || !i.tab.borrow().life().is_destroyed() {
            return i.feed(Tab::clear);
        }
        i.forget();
        let clear = Msg {
            kind: Kind::Clear,
            nonce: None,
        };
        let m = convert::message(clear, None, i.opts.core.identity.as_deref(), None);
        bindings::tell(&i.opts.storage_key, &m);
    }

    /// `on(name, fn)`: returns the unsubscribe function.
    pub fn on(&self, name: &str, f: Function) -> Result<Function, TokenError> {
        let i = &self.inner;
        let _entered = poison::enter(i);
        let name = Name::parse(name).ok_or(TokenError::new(
            ErrorCode::InvalidOptions,
            "unknown event: use token, expiring, expired, error or cleared",
        ))?;
        if let Some(e) = self.poisoned() {
            return Err(e);
        }
        if i.tab.borrow().life().is_destroyed() {
            return Err(TokenError::new(
                ErrorCode::Destroyed,
                "the token manager was destroyed",
            ));
        }
        // Calling the returned function twice is harmless.
        Ok(i.listeners.add(name, &f))
    }

    /// `status()`: a plain object without the token.
    pub fn status(&self) -> JsValue {
        let i = &self.inner;
        let _entered = poison::enter(i);
        if i.poisoned.get() {
            return convert::poisoned_status();
        }
        let tab = i.tab.borrow();
        let st = tab.life().status(bindings::now());
        convert::status(st, i.store.borrow().kind(), tab.env())
    }

    /// Sets the log level.
    pub fn set_log_level(&self, level: Level) {
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
    /// exactly what `getToken()` does, without a promise; the renewal's outcome
    /// reaches the listeners.
    pub fn nudge(&self) {
        let _entered = poison::enter(&self.inner);
        self.inner.feed(|t, now| {
            t.get(now);
        });
    }

    /// Registers an integration's detach function, called on `destroy()`.
    pub fn on_destroy(&self, detach: &Function) {
        self.inner.teardown.borrow_mut().push(detach.clone());
    }

    /// `destroy()`: stops every timer, listener, channel, lock and request.
    pub fn destroy(&self) {
        let i = &self.inner;
        let _entered = poison::enter(i);
        if i.poisoned.get() {
            return;
        }
        i.feed(Tab::destroy);
        i.answers.withdraw();
        let bridges = core::mem::take(&mut *i.teardown.borrow_mut());
        for f in bridges {
            let _ = f.call0(&JsValue::UNDEFINED);
        }
        i.listeners.clear();
        // The handles close the channel, give back the locks, stop the listeners.
        drop(i.tabs.borrow_mut().take());
        drop(i.wakeups.borrow_mut().take());
        drop(i.timer.borrow_mut().take());
    }
}

impl Inner {
    /// Feeds one input to the tab, then performs what it asks for.
    fn feed(self: &Rc<Self>, input: impl FnOnce(&mut Tab, Now)) {
        if self.poisoned.get() {
            return;
        }
        input(&mut self.tab.borrow_mut(), bindings::now());
        self.drain();
    }

    /// Everything that comes back from JS.
    pub(super) fn on_event(self: &Rc<Self>, ev: Ev, id: u64, v: JsValue) {
        let _entered = poison::enter(self);
        if ev == Ev::Lock {
            // Held until the tab unlocks it; given back at once by a stopped manager.
            match &*self.tabs.borrow() {
                Some(t) if !self.poisoned.get() => t.hold(id, v.clone()),
                _ => drop(Undo(v.clone().unchecked_into())),
            }
        }
        if self.poisoned.get() {
            return;
        }
        let now = bindings::now();
        let url = matches!(self.opts.broker, Broker::Url(_));
        {
            let mut tab = self.tab.borrow_mut();
            match ev {
                Ev::Timer => tab.handle_timeout(now),
                Ev::Wake => tab.wake(now),
                Ev::Message => tab.message(convert::incoming(&v), now),
                Ev::Lock => tab.lock_granted(id, now),
                Ev::LockRefused => tab.lock_refused(id, now),
                Ev::Peers | Ev::PeersFailed => tab.peers(id, convert::peers(&v), now),
                Ev::Reply | Ev::ReplyFailed => {
                    tab.reply(id, now, convert::reply(url, ev == Ev::Reply, &v))
                }
            }
        }
        self.drain();
    }

    /// Performs the tab's actions until there are none, then re-arms the timer.
    fn drain(self: &Rc<Self>) {
        loop {
            let next = self.tab.borrow_mut().poll();
            let Some(action) = next else { break };
            // Any action may change what getToken() should answer.
            self.answers.withdraw();
            self.perform(action, bindings::now());
        }
        let next = self.tab.borrow().poll_timeout(bindings::now());
        // +1: never wake a hair before the deadline and spin.
        let timer =
            next.map(|ms| Timeout::new(crate::core::ceil(ms) + 1.0, &self.mailbox, Ev::Timer));
        *self.timer.borrow_mut() = timer;
    }

    fn perform(self: &Rc<Self>, action: Action, now: Now) {
        let tabs = || self.tabs.borrow();
        match action {
            Action::Lock(id) => tabs()
                .iter()
                .for_each(|t| t.lock(id, &self.opts, &self.mailbox)),
            Action::Unlock(id) => tabs().iter().for_each(|t| t.unlock(id)),
            Action::CountPeers(id) => tabs().iter().for_each(|t| t.peers(id, &self.mailbox)),
            Action::Abort(id) => tabs().iter().for_each(|t| t.abort(id)),
            Action::ReadShared(id) => {
                let read = self.store.borrow().read(&self.opts.storage_key);
                let fields = read.ok().and_then(|v| convert::stored_fields(&v));
                self.tab.borrow_mut().shared(id, fields, now);
            }
            Action::Send(id, reason) => self.send(id, reason),
            Action::Post(m) => self.post(m, now),
            Action::Persist => self.persist(now),
            Action::Emit(e) => self.emit(e, now),
            Action::Settle(r) => {
                let r = r.map(|()| self.answers.token(self.tab.borrow().life(), now));
                self.answers.settle(r);
            }
            Action::Log(level, msg) => self.log(level as u8, msg),
        }
    }

    /// The token object for a caller, or `null` (no borrow held once it returns: a
    /// promise resolved with it may run a polluted prototype's `then` getter).
    fn handout(&self, now: Now) -> JsValue {
        self.answers.handout(self.tab.borrow().life(), now)
    }

    /// Sends broker request `id` with the attempt's abort signal.
    fn send(&self, id: u64, reason: Reason) {
        let Some(signal) = self.tabs.borrow().as_ref().map(|t| t.signal(id)) else {
            return;
        };
        let o = &self.opts;
        let p = match &o.broker {
            Broker::Url(url) => {
                let participant = o.core.identity.as_deref();
                let credentials = o.credentials.as_str();
                let why = reason.as_str();
                bindings::post(url, &o.headers, credentials, &signal, why, participant)
            }
            Broker::Func(f) => bindings::ask(f, &signal, reason.as_str()),
        };
        self.mailbox.pipe(&p, Ev::Reply, id);
    }

    /// Posts `m` to the other tabs; a `token` message carries the current token's entry.
    fn post(&self, m: Msg, now: Now) {
        let (tabs, tab) = (self.tabs.borrow(), self.tab.borrow());
        let (Some(tabs), life) = (&*tabs, tab.life()) else {
            return;
        };
        let e = match (m.kind, life.token(now)) {
            (Kind::Token, None) => return,
            (Kind::Token, Some(t)) => Some(convert::entry(t, life.identity())),
            _ => None,
        };
        tabs.post(&convert::message(m, e, life.identity(), tabs.id()));
    }

    fn emit(&self, ev: Event, now: Now) {
        let token = || {
            let tab = self.tab.borrow();
            self.answers
                .token(tab.life(), now)
                .unwrap_or(JsValue::UNDEFINED)
        };
        let (name, payload) = match ev {
            Event::Token => {
                self.log(Level::Info as u8, "new token adopted");
                (Name::Token, token())
            }
            Event::Expiring => (Name::Expiring, token()),
            Event::Expired => {
                self.log(
                    Level::Warn as u8,
                    "the token expired before it could be renewed",
                );
                (Name::Expired, JsValue::UNDEFINED)
            }
            Event::Error(e) => {
                self.log_code(Level::Warn as u8, "renewal failed: ", Some(e.code.as_str()));
                (Name::Error, to_js_error(&e))
            }
            Event::Cleared => (Name::Cleared, JsValue::UNDEFINED),
        };
        for _ in 0..self.listeners.emit(name, &payload) {
            self.log(
                Level::Error as u8,
                "an event listener threw; the manager carries on",
            );
        }
    }

    /// Whether this manager hears the other tabs on a channel.
    pub(super) fn has_channel(&self) -> bool {
        self.tab.try_borrow().is_ok_and(|t| t.env().channel)
    }

    /// Another participant signed in on this page (see [`tabs::tell_page`]).
    pub(super) fn switched(self: &Rc<Self>, p: &Field) {
        let _entered = poison::enter(self);
        self.feed(|t, now| t.switched(p, now));
    }

    fn restore(self: &Rc<Self>, now: Now) {
        let key = &self.opts.storage_key;
        // Read first: a borrow held by the `match` scrutinee would still be alive in
        // `storage_failed()`, whose `borrow_mut()` would panic (a wasm trap).
        let read = self.store.borrow().read(key);
        let fields = match read {
            Ok(v) => convert::stored_fields(&v),
            Err(_) => return self.storage_failed(),
        };
        let found = self.tab.borrow_mut().restore(fields, now);
        if found == Restored::Remove && self.store.borrow().remove(key).is_err() {
            self.storage_failed();
        }
    }

    fn persist(&self, now: Now) {
        if self.store.borrow().kind() == Storage::Memory {
            return;
        }
        let entry = {
            let tab = self.tab.borrow();
            let life = tab.life();
            life.token(now).map(|t| convert::entry(t, life.identity()))
        };
        match entry {
            Some(e) => {
                if self
                    .store
                    .borrow()
                    .write(&self.opts.storage_key, &e)
                    .is_err()
                {
                    self.storage_failed();
                }
            }
            None => self.forget(),
        }
    }

    /// Removes the stored entry unless it belongs to another participant (whose tab
    /// may have written it since).
    fn forget(&self) {
        let key = &self.opts.storage_key;
        let store = self.store.borrow();
        let ours = match store.read(key) {
            Ok(v) if v.is_undefined() => return,
            Ok(v) => !v.is_object() || self.tab.borrow().life().is_ours(&convert::party(&v)),
            Err(_) => true,
        };
        if ours && store.remove(key).is_err() {
            drop(store);
            self.storage_failed();
        }
    }

    /// Storage threw: fall back to memory for good, with one warning.
    fn storage_failed(&self) {
        let old = core::mem::replace(&mut *self.store.borrow_mut(), Store::memory());
        let _ = old.remove(&self.opts.storage_key);
        self.warn_storage();
    }

    fn warn_storage(&self) {
        self.log(
            Level::Warn as u8,
            "storage is not available here (sandboxed frame, private mode or quota); keeping the token in memory",
        );
    }

    fn log(&self, level: u8, msg: &str) {
        self.log_code(level, msg, None);
    }

    fn log_code(&self, level: u8, msg: &str, code: Option<&str>) {
        if level <= self.log_level.get() as u8 {
            bindings::log(level, msg, code);
        }
    }
}
