"use client";
// mdh-token/react: <TokenProvider> and two hooks over createTokenManager, for React 17
// and later. Its own entry (package.json exports "./react"): apps without React never
// load it. The manager is created in an effect, so a server render (which runs no
// effects) renders the children without one, and it is destroyed one microtask after
// the provider's effect is cleaned up, unless the effect runs again first: that is
// StrictMode's simulated unmount and remount in development, which thereby keeps one
// manager and one broker call. The directive above marks it a Client Component entry
// for React Server Components (Next.js App Router): a server file such as a root layout
// may render <TokenProvider>, whose hooks then run on the client only.
import * as React from "react";
import { createTokenManager } from "../pkg/mdh_token.js";
import { tokenError } from "../pkg/errors.js";

const { createElement, createContext, useContext, useEffect, useRef, useState } = React;

// The manager's events: each one refreshes the status snapshot.
const EVENTS = ["token", "expiring", "expired", "error", "cleared"];
const NONE = { manager: null, store: { subscribe: () => () => {}, get: () => null } };
const Context = createContext(null);

// A TokenError (the package's own constructor), for a hook used outside the provider.
const misuse = (detail) => tokenError("invalid_options", detail);

// React 18+ has useSyncExternalStore; for React 17, the same contract with state and an
// effect (no layout effect, so nothing to warn about in a server render). Snapshots are
// cached objects, so comparing them by identity is exact.
function useStoreShim(subscribe, get) {
  const value = get();
  const [, rerender] = useState(0);
  const rendered = useRef(value);
  rendered.current = value;
  useEffect(() => {
    const check = () => {
      if (get() !== rendered.current) rerender((n) => n + 1);
    };
    check(); // a change between render and subscription
    return subscribe(check);
  }, [subscribe, get]);
  return value;
}
const useStore = React.useSyncExternalStore ?? useStoreShim;

// status() as of the manager's last event, with stable identity between events.
function storeOf(m) {
  let snapshot = m.status();
  const listeners = new Set();
  for (const name of EVENTS) {
    m.on(name, () => {
      snapshot = m.status();
      listeners.forEach((f) => f());
    });
  }
  return {
    subscribe(f) {
      listeners.add(f);
      return () => listeners.delete(f);
    },
    get: () => snapshot,
  };
}

// The SDK from a loader: a module namespace (its default export) or the SDK itself. A
// loader that fails (a chunk that did not load) is an `sdk_unavailable` TokenError with
// the failure as its cause; the manager then still gets its first token.
async function loadSdk(loader) {
  let m;
  try {
    m = await loader();
  } catch (e) {
    const t = tokenError("sdk_unavailable", "the sdk loader failed");
    t.cause = e;
    throw t;
  }
  m = m?.default ?? m;
  if (typeof m?.setParticipantAccessToken !== "function") {
    throw tokenError("sdk_unavailable", "the sdk loader gave no MyDataHelps.js (setParticipantAccessToken)");
  }
  return m;
}

function report(onError, e) {
  if (typeof onError === "function") onError(e);
  else console.error(e);
}

/** @type {import("./index").TokenProvider} */
export function TokenProvider({ options, sdk, sdkOptions, onError, children }) {
  const [value, setValue] = useState(NONE);
  const held = useRef(null);
  // Read at mount only: a new options object on each render must not make a new manager
  // (to change them, remount the provider with a new `key`).
  const props = useRef();
  props.current = { options, sdk, sdkOptions, onError };
  useEffect(() => {
    let h = held.current;
    if (h) {
      h.leaving = false; // StrictMode remounted us before the destroy ran: keep it
    } else {
      h = held.current = { leaving: false, gone: false, manager: null };
      const p = props.current;
      setValue(NONE);
      // `sdk` as a loader (`() => import("@careevolution/mydatahelps-js")`): MyDataHelps.js
      // reads `window` when imported, so a server render must never import it; called
      // here, in an effect, alongside the wasm load.
      const sdkReady = typeof p.sdk === "function" ? loadSdk(p.sdk) : Promise.resolve(p.sdk);
      sdkReady.catch(() => {}); // reported below, once the manager exists
      createTokenManager(p.options).then(
        async (m) => {
          if (h.gone) return m.destroy();
          h.manager = m;
          let s = null;
          try {
            s = await sdkReady;
          } catch (e) {
            report(p.onError, e);
          }
          if (h.gone) return;
          try {
            if (s != null) m.attachSdk(s, p.sdkOptions).ready.catch(() => {});
            else m.getToken().catch(() => {}); // the first token; failures go to status() and `error`
          } catch (e) {
            report(p.onError, e);
          }
          // After attachSdk: on each token, the SDK has it before components re-render.
          setValue({ manager: m, store: storeOf(m) });
        },
        (e) => h.gone || report(p.onError, e),
      );
    }
    return () => {
      h.leaving = true;
      Promise.resolve().then(() => {
        if (!h.leaving) return;
        h.gone = true;
        if (held.current === h) held.current = null;
        if (h.manager) h.manager.destroy();
      });
    };
  }, []);
  return createElement(Context.Provider, { value }, children);
}

function useProvided(hook) {
  const v = useContext(Context);
  if (v === null) throw misuse(hook + " needs a <TokenProvider> above it");
  return v;
}

/** @type {import("./index").useTokenManager} */
export function useTokenManager() {
  return useProvided("useTokenManager()").manager;
}

/** @type {import("./index").useTokenStatus} */
export function useTokenStatus() {
  const { store } = useProvided("useTokenStatus()");
  return useStore(store.subscribe, store.get, NONE.store.get);
}
