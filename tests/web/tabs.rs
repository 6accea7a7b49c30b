//! `crossTab: true`: managers of one page with the same `storageKey` coordinate as the
//! tabs of an origin do (one BroadcastChannel, one Web Lock manager per origin), with
//! the default memory storage, so a token only travels over the channel.

use crate::support::*;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::Cell;
use js_sys::{Array, Promise};
use mdh_token::facade::TokenManager;
use wasm_bindgen::prelude::*;

/// A tab: a manager with `crossTab: true` under `key`.
fn tab(key: &str, broker: JsValue) -> Result<TokenManager, JsValue> {
    manager(
        broker,
        &[("crossTab", true.into()), ("storageKey", key.into())],
    )
}

fn calls_of(m: &TokenManager) -> Option<f64> {
    num(&m.status(), "brokerCalls")
}

pub async fn a_token_renewed_in_one_tab_is_adopted_by_the_other() -> Outcome {
    let key = unique_key();
    let (a_calls, b_calls) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let a = tab(&key, counting_broker_named("a-", 3600.0, a_calls.clone()))?;
    let b = tab(&key, counting_broker_named("b-", 3600.0, b_calls.clone()))?;
    let heard = hear(&b, "token")?;
    let st = b.status();
    let ct = get(&st, "crossTab");
    ensure_eq!(get(&ct, "broadcastChannel").as_bool(), Some(true));
    ensure_eq!(get(&ct, "webLocks").as_bool(), Some(true));

    let t = resolved(a.get_token(), "a.getToken()").await?;
    ensure_eq!(text(&t, "access_token").as_deref(), Some("a-1"));
    until("b to adopt a-1", || peeked(&b).as_deref() == Some("a-1")).await?;
    ensure_eq!(heard.len(), 1);
    ensure_eq!(text(&heard.get(0), "access_token").as_deref(), Some("a-1"));
    // A renewal made in a reaches b too, and b hands it out without its broker.
    resolved(a.refresh(), "a.refresh()").await?;
    until("b to adopt a-2", || peeked(&b).as_deref() == Some("a-2")).await?;
    let t = resolved(b.get_token(), "b.getToken()").await?;
    ensure_eq!(text(&t, "access_token").as_deref(), Some("a-2"));
    ensure_eq!((a_calls.get(), b_calls.get()), (2, 0));
    ensure_eq!(calls_of(&b), Some(0.0));
    a.destroy();
    b.destroy();
    Ok(())
}

pub async fn concurrent_tabs_make_one_broker_call() -> Outcome {
    let key = unique_key();
    let calls = Rc::new(Cell::new(0));
    let tabs = (0..3)
        .map(|_| tab(&key, counting_broker(3600.0, calls.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    let all: Array = tabs.iter().map(|m| JsValue::from(m.get_token())).collect();
    let all = Array::from(&resolved(Promise::all(&all), "every tab's getToken()").await?);
    ensure_eq!(calls.get(), 1, "one broker call for three tabs");
    let tokens: Vec<Option<String>> = all.iter().map(|t| text(&t, "access_token")).collect();
    ensure!(
        tokens.iter().all(|t| t.as_deref() == Some("token-1")),
        "{tokens:?}"
    );
    let made: f64 = tabs.iter().filter_map(calls_of).sum();
    ensure_eq!(made, 1.0);
    for m in &tabs {
        m.destroy();
    }
    Ok(())
}

pub async fn a_new_tab_asks_and_gets_the_token_without_the_broker() -> Outcome {
    let key = unique_key();
    let (a_calls, b_calls) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let a = tab(&key, counting_broker_named("a-", 3600.0, a_calls.clone()))?;
    resolved(a.get_token(), "a.getToken()").await?;
    // Opened later: nothing in storage (memory), so it asks the tabs there are.
    let b = tab(&key, counting_broker_named("b-", 3600.0, b_calls.clone()))?;
    ensure!(b.peek().is_null());
    let t = resolved(b.get_token(), "b.getToken()").await?;
    ensure_eq!(text(&t, "access_token").as_deref(), Some("a-1"));
    ensure_eq!((a_calls.get(), b_calls.get()), (1, 0));
    a.destroy();
    b.destroy();
    Ok(())
}

pub async fn clear_reaches_the_other_tab() -> Outcome {
    let key = unique_key();
    let a = tab(&key, counting_broker(3600.0, Rc::new(Cell::new(0))))?;
    let b = tab(&key, counting_broker(3600.0, Rc::new(Cell::new(0))))?;
    let cleared = hear(&b, "cleared")?;
    resolved(a.get_token(), "a.getToken()").await?;
    until("b to adopt the token", || peeked(&b).is_some()).await?;
    a.clear();
    ensure!(a.peek().is_null());
    until("b to hear the clear", || cleared.len() == 1).await?;
    ensure!(b.peek().is_null());
    ensure_eq!(text(&b.status(), "state").as_deref(), Some("empty"));
    a.destroy();
    b.destroy();
    Ok(())
}

pub async fn the_lock_holder_renews_alone_while_the_other_waits() -> Outcome {
    let key = unique_key();
    let held = Held::default();
    let b_calls = Rc::new(Cell::new(0));
    let a = tab(&key, held.broker())?;
    let b = tab(&key, counting_broker_named("b-", 3600.0, b_calls.clone()))?;
    let lock = format!("{key}:refresh");
    let from_a = a.get_token();
    until("a's broker call", || held.count() == 1).await?;
    // a holds the refresh lock while its request is out; b's renewal queues behind it.
    let from_b = b.get_token();
    until_async("b to wait for the lock", || async {
        Ok(lock_requests(&lock).await? == (1, 1))
    })
    .await?;
    ensure_eq!(
        b_calls.get(),
        0,
        "b called its broker while a held the lock"
    );
    held.answer(0, &answer("a-1", 3600.0))?;
    let ta = resolved(from_a, "a.getToken()").await?;
    let tb = resolved(from_b, "b.getToken()").await?;
    ensure_eq!(text(&ta, "access_token").as_deref(), Some("a-1"));
    ensure_eq!(text(&tb, "access_token").as_deref(), Some("a-1"));
    ensure_eq!((held.count(), b_calls.get()), (1, 0));
    // b had no use for the lock any more: nobody holds or waits for it.
    until_async("the lock to be free", || async {
        Ok(lock_requests(&lock).await? == (0, 0))
    })
    .await?;
    a.destroy();
    b.destroy();
    Ok(())
}
