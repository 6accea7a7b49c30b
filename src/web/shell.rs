//! The browser side of one token manager. It feeds the core's [`Tab`] what the browser
//! says (an app's call, the timer, a wake-up, a channel message, a settled promise),
//! each with `now`, performs the [`Action`]s the tab drains, in order, and arms the one
//! timer for [`Tab::poll_timeout`]. Every decision is the tab's; what is left here is
//! which browser API each action calls.

use super::answers::Answers;
use super::bindings;
use super::convert::{self, to_js_error};
use super::crosstab::CrossTab;
use super::handles::{Timeout, Undo};
use super::listeners::{self, Listeners, Name};
use super::mailbox::{Ev, Mailbox};
use super::options::{Broker, Options};
use super::page::Page;
use super::poison::{self, internal, Entered};
use super::store::{Store, StoreFailed};
use crate::core::{
    Access, Action, Config, ErrorCode, Event, Field, Kind, Level, Msg, Now, Restored, Tab,
    TokenError,
};
use alloc::rc::Rc;
use core::cell::{Cell, RefCell};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// One manager's state, shared by its [`Shell`] and (weakly) its mailbox.
struct Inner {
    opts: Options,
    /// The core: every decision is its.
    tab: RefCell<Tab>,
    store: RefCell<Store>,
    /// The channel and the locks; `None` once destroyed.
    cross: RefCell<Option<CrossTab>>,
    timer: RefCell<Option<Timeout>>,
    /// Removes the wake-up listeners (visibilitychange, online, pageshow, focus).
    wakeups: RefCell<Option<Undo>>,
    listeners: Listeners,
    answers: Answers,
    log_level: Cell<Level>,
    /// Set when a Rust panic trapped the wasm: every later call fails with `internal`.
    poisoned: Cell<bool>,
    /// Set while [`Inner::drain`] performs actions.
    draining: Cell<bool>,
    mailbox: Mailbox,
}

/// This page's managers.
static PAGE: Page<Inner> = Page::new();

/// What a panic does before the trap (the std hook, the no_std `#[panic_handler]`):
/// stops the manager that was running (see `poison.rs`).
pub fn panicked() {
    bindings::log(
        Level::Error as u8,
        "internal error (a bug): the token manager stopped; please report it",
        None,
    );
    PAGE.find(poison::current(), Inner::poison);
}

/// The browser side of one token manager.
pub struct Shell {
    inner: Rc<Inner>,
}

impl Shell {
    /// Starts a manager with the core's `cfg`: opens storage (restoring a stored token),
    /// joins the tabs and arms the timer.
    pub fn new(opts: Options, cfg: Config, sink: Option<Function>) -> Shell {
        let now = bindings::now();
        let seed = (js_sys::Math::random() * 9_007_199_254_740_992.0) as u64;
        let (store, store_ok) = Store::open(cfg.storage, &opts.storage_key);
        // This page's managers without a channel hear a participant's `hello` (below).
        let hello = cfg.identity.clone().map(Field::Str);
        let inner = Rc::new_cyclic(|weak: &alloc::rc::Weak<Inner>| {
            let weak = weak.clone();
            let mailbox = Mailbox::new(move |ev, id, v| {
                if let Some(i) = weak.upgrade() {
                    i.on_event(ev, id, v);
                }
            });
            let cross = CrossTab::join(&opts, cfg.cross_tab, &mailbox);
            let wakeups = Undo(bindings::wakeups(mailbox.function(), Ev::Wake as u32));
            Inner {
                log_level: Cell::new(cfg.log_level),
                tab: RefCell::new(Tab::new(cfg, cross.env(), seed)),
                opts,
                store: RefCell::new(store),
                cross: RefCell::new(Some(cross)),
                timer: RefCell::new(None),
                wakeups: RefCell::new(Some(wakeups)),
                listeners: Listeners::default(),
                answers: Answers::new(sink),
                poisoned: Cell::new(false),
                draining: Cell::new(false),
                mailbox,
            }
        });
        // Without std, the crate's #[panic_handler] calls `panicked()` instead.
        #[cfg(feature = "std")]
        {
            extern crate std;
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| std::panic::set_hook(alloc::boxed::Box::new(|_| panicked())));
        }
        PAGE.register(&inner);
        let _entered = poison::enter(&inner);
        if !store_ok {
            inner.tab.borrow_mut().storage_failed();
        }
        inner.restore(now);
        inner.feed(|t, now| t.start(now));
        if let Some(p) = hello {
            let key = &inner.opts.storage_key;
            PAGE.each(|m| m.hello(key, &p));
        }
        Shell { inner }
    }

    /// What a panic while this manager runs does before the trap (for the shell tests).
    #[doc(hidden)]
    pub fn poison_for_tests(&self) {
        let _entered = poison::enter(&self.inner);
        panicked();
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
        let Some(_entered) = i.enter() else {
            return Promise::reject(&to_js_error(&internal()));
        };
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
        let Some(_entered) = i.enter() else {
            return JsValue::NULL;
        };
        i.handout(bindings::now())
    }

    /// `clear()`. After `destroy()` it still removes the stored entry and tells the
    /// other tabs: a logout must never leave a token behind.
    pub fn clear(&self) {
        let i = &self.inner;
        let Some(_entered) = i.enter() else { return };
        if !i.tab.borrow().life().is_destroyed() {
            return i.feed(Tab::clear);
        }
        i.forget();
        let (kind, nonce) = (Kind::Clear, None);
        let m = convert::message(
            Msg { kind, nonce },
            None,
            &i.opts.participant,
            &JsValue::UNDEFINED,
        );
        bindings::tell(&i.opts.storage_key, &m);
    }

    /// `on(name, fn)`: returns the unsubscribe function.
    pub fn on(&self, name: Name, f: Function) -> Result<Function, TokenError> {
        let i = &self.inner;
        let Some(_entered) = i.enter() else {
            return Err(internal());
        };
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
        let Some(_entered) = i.enter() else {
            return convert::poisoned_status();
        };
        let tab = i.tab.borrow();
        let now = bindings::now();
        let life = tab.life();
        convert::status(life.status(now), life.token(now), tab.storage(), tab.env())
    }

    /// Sets the log level.
    pub fn set_log_level(&self, level: Level) {
        self.inner.log_level.set(level);
    }

    /// Logs an integration's fixed message (a JS string, never token material) at
    /// `level`.
    pub fn log(&self, level: u8, msg: &JsValue) {
        if level <= self.inner.log_level.get() as u8 {
            bindings::log_js(level, msg);
        }
    }

    /// The configured MyDataHelps base URL.
    pub fn base_url(&self) -> &JsValue {
        &self.inner.opts.base_url
    }

    /// A hint that the token may be about to expire (the SDK's `tokenWillExpire`):
    /// exactly what `getToken()` does, without a promise; the renewal's outcome
    /// reaches the listeners.
    pub fn nudge(&self) {
        if let Some(_entered) = self.inner.enter() {
            self.inner.feed(|t, now| _ = t.get(now));
        }
    }

    /// Registers an integration's detach function, called on `destroy()`.
    pub fn on_destroy(&self, detach: &Function) {
        self.inner.listeners.on_destroy(detach);
    }

    /// `destroy()`: stops every timer, listener, channel, lock and request.
    pub fn destroy(&self) {
        let i = &self.inner;
        let Some(_entered) = i.enter() else { return };
        // The teardown comes at the end of the drain (see there).
        i.feed(Tab::destroy);
    }
}

impl Inner {
    /// Marks this manager as the one running (see poison.rs); `None` once a panic
    /// stopped it.
    fn enter(self: &Rc<Self>) -> Option<Entered> {
        let entered = poison::enter(self);
        (!self.poisoned.get()).then_some(entered)
    }

    /// Feeds one input to the tab, then performs what it asks for.
    fn feed(self: &Rc<Self>, input: impl FnOnce(&mut Tab, Now)) {
        input(&mut self.tab.borrow_mut(), bindings::now());
        self.drain();
    }

    /// Everything that comes back from JS.
    fn on_event(self: &Rc<Self>, ev: Ev, id: u64, v: JsValue) {
        let _entered = poison::enter(self);
        if ev == Ev::Lock {
            // Held until the tab unlocks it; given back at once by a stopped manager.
            match &*self.cross.borrow() {
                Some(t) if !self.poisoned.get() => t.hold(id, v.clone()),
                _ => drop(Undo(v.clone().unchecked_into())),
            }
        }
        if self.poisoned.get() {
            return;
        }
        let now = bindings::now();
        let tab = || self.tab.borrow_mut();
        // Each value is decoded before the tab is borrowed: a broker's answer may have
        // getters that call in.
        match ev {
            Ev::Timer => tab().handle_timeout(now),
            Ev::Wake => tab().wake(now),
            Ev::Lock => tab().lock_granted(id, now),
            Ev::LockRefused => tab().lock_refused(id, now),
            Ev::Message => {
                let m = convert::incoming(&v);
                tab().message(m, now)
            }
            Ev::Peers | Ev::PeersFailed => {
                let ids = convert::peers(&v);
                tab().peers(id, ids, now)
            }
            Ev::Reply | Ev::ReplyFailed => {
                let url = matches!(self.opts.broker, Broker::Url(_));
                let r = convert::reply(url, ev == Ev::Reply, &v);
                tab().reply(id, now, r)
            }
        }
        self.drain();
    }

    /// Performs the tab's actions until there are none, then re-arms the timer (or,
    /// once destroyed, tears the manager down).
    ///
    /// A call into the manager from inside an action's browser call (a page's wrapper
    /// around storage or the channel that calls `clear()`) feeds the tab at once, but
    /// its actions wait for the loop already running: they come after the call in
    /// progress, in order (else a `clear()` from inside the write of a new token
    /// removed the entry before the write stored it).
    fn drain(self: &Rc<Self>) {
        if self.draining.replace(true) {
            return;
        }
        loop {
            let next = self.tab.borrow_mut().poll();
            let Some(action) = next else { break };
            // Any action may change what getToken() should answer.
            self.answers.withdraw();
            self.perform(action, bindings::now());
        }
        self.draining.set(false);
        if self.tab.borrow().life().is_destroyed() {
            return self.teardown();
        }
        let next = self.tab.borrow().poll_timeout(bindings::now());
        // +1: never wake a hair before the deadline and spin.
        let timer =
            next.map(|ms| Timeout::new(crate::core::ceil(ms) + 1.0, &self.mailbox, Ev::Timer));
        *self.timer.borrow_mut() = timer;
    }

    /// After `destroy()`: stops every timer, listener, channel, lock and bridge.
    fn teardown(&self) {
        self.answers.withdraw();
        // The integrations detach, then the app's listeners go.
        self.listeners.destroy();
        // The handles close the channel, give back the locks, stop the listeners.
        drop(self.cross.borrow_mut().take());
        drop(self.wakeups.borrow_mut().take());
        drop(self.timer.borrow_mut().take());
    }

    fn perform(self: &Rc<Self>, action: Action, now: Now) {
        match action {
            Action::Lock(_) | Action::Unlock(_) | Action::CountPeers(_) | Action::Abort(_) => {
                let cross = self.cross.borrow();
                let abort = cross
                    .as_ref()
                    .and_then(|t| t.perform(action, &self.opts, &self.mailbox));
                drop(cross);
                // With nothing borrowed: an abort listener of a broker function may call in.
                if let Some(c) = abort {
                    c.abort();
                }
            }
            Action::ReadShared(id) => {
                // Nothing when it throws (the tab hears that too): the peers are asked.
                let read = self.stored(Store::read);
                let fields = read.and_then(|v| convert::stored_fields(&v));
                self.tab.borrow_mut().shared(id, fields, now);
            }
            Action::Send(id, reason) => {
                // With the attempt's abort signal, nothing borrowed: a broker function
                // may call in.
                let signal = self.cross.borrow().as_ref().map(|t| t.signal(id));
                if let Some(signal) = signal {
                    self.mailbox
                        .pipe(&self.opts.request(&signal, reason), Ev::Reply, id);
                }
            }
            Action::Post(m) => self.post(m, now),
            Action::Persist => self.persist(now),
            Action::Emit(e) => self.emit(e, now),
            Action::Settle(r) => {
                let r = {
                    let tab = self.tab.borrow();
                    let life = tab.life();
                    let token = life.settled(r, now);
                    token.map(|()| self.answers.token(life, now).unwrap_or(JsValue::NULL))
                };
                self.answers.settle(r);
            }
            Action::Log(level, msg) => self.log(level as u8, msg, None),
        }
    }

    /// The token object for a caller, or `null` (no borrow held once it returns: a
    /// promise resolved with it may run a polluted prototype's `then` getter).
    fn handout(&self, now: Now) -> JsValue {
        self.answers.handout(self.tab.borrow().life(), now)
    }

    /// Posts `m` to the other tabs; a `token` message carries the current token's entry.
    /// The tab is not borrowed while the channel posts (a page's wrapper may call in).
    fn post(&self, m: Msg, now: Now) {
        let cross = self.cross.borrow();
        let Some(cross) = &*cross else { return };
        let msg = {
            let tab = self.tab.borrow();
            let life = tab.life();
            let e = match (m.kind, life.token(now)) {
                (Kind::Token, None) => return,
                (Kind::Token, Some(t)) => Some(convert::entry(t, &self.opts.participant)),
                _ => None,
            };
            convert::message(m, e, &self.opts.participant, cross.id())
        };
        cross.post(&msg);
    }

    fn emit(&self, ev: Event, now: Now) {
        let (name, line) = listeners::of(&ev);
        let (payload, code) = match &ev {
            Event::Token | Event::Expiring => {
                let t = self.answers.token(self.tab.borrow().life(), now);
                (t.unwrap_or(JsValue::UNDEFINED), None)
            }
            Event::Error(e) => (to_js_error(e), Some(e.code.as_str())),
            _ => (JsValue::UNDEFINED, None),
        };
        if let Some((level, msg)) = line {
            self.log(level as u8, msg, code);
        }
        for _ in 0..self.listeners.emit(name, &payload) {
            let msg = "an event listener threw; the manager carries on";
            self.log(Level::Error as u8, msg, None);
        }
    }

    /// Logs a fixed line (never token material) through the manager's log level; an
    /// error code may follow it.
    fn log(&self, level: u8, msg: &str, code: Option<&str>) {
        if level <= self.log_level.get() as u8 {
            bindings::log(level, msg, code);
        }
    }

    /// Adopts the stored entry at start-up if the tab wants it, else removes it.
    fn restore(&self, now: Now) {
        let Some(v) = self.stored(Store::read) else {
            return;
        };
        let fields = convert::stored_fields(&v);
        let restored = self.tab.borrow_mut().restore(fields, now);
        if restored == Restored::Remove {
            self.stored(Store::remove);
        }
    }

    /// Writes the current token, or removes the entry when there is none.
    fn persist(&self, now: Now) {
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
    fn forget(&self) -> Option<()> {
        let tab = &self.tab;
        self.stored(|s| s.forget(|v| tab.borrow().life().is_ours(&convert::party(v))))
    }

    /// Runs `op` on the store; when storage throws, it is memory from now on and the
    /// tab hears so.
    fn stored<T>(&self, op: impl FnOnce(&Store) -> Result<T, StoreFailed>) -> Option<T> {
        let r = op(&self.store.borrow());
        if r.is_err() {
            self.storage_threw();
        }
        r.ok()
    }

    /// Storage threw: the store keeps the token in memory from now on, and the tab
    /// hears so. Not while a call that is still running holds the store (a page's
    /// wrapper around storage called in): that call's own failure switches it.
    fn storage_threw(&self) {
        if let Ok(mut s) = self.store.try_borrow_mut() {
            s.fail();
            if let Ok(mut t) = self.tab.try_borrow_mut() {
                t.storage_failed();
            }
        }
    }

    /// A panic struck while this manager ran: it stops for good, and every later call
    /// fails with `internal`. State may be mid-borrow, so this only uses `try_borrow`.
    fn poison(&self) {
        if self.poisoned.replace(true) {
            return;
        }
        let err = to_js_error(&internal());
        self.answers.poison(&err);
        self.listeners.emit(Name::Error, &err);
        if let Ok(mut t) = self.timer.try_borrow_mut() {
            t.take();
        }
        // Nothing comes back in from here on (see `on_event`); what the other tabs wait
        // on is let go.
        if let Ok(t) = self.cross.try_borrow() {
            if let Some(t) = &*t {
                t.stop();
            }
        }
    }

    /// A manager without a channel under the same key lets go of another
    /// participant's token (one with a channel hears the `hello` there).
    fn hello(self: &Rc<Self>, key: &JsValue, p: &Field) {
        let alone = self.tab.try_borrow().is_ok_and(|t| !t.env().channel);
        if self.opts.storage_key == *key && alone {
            if let Some(_entered) = self.enter() {
                self.feed(|t, now| t.switched(p, now));
            }
        }
    }
}
