// mdh-token/broker: the server half of mdh-token. It holds the MyDataHelps service
// account's key, keeps one short-lived service token, trades it for participant tokens
// (MyDataHelps "Participant Access Tokens"; the facts it relies on are in
// docs/mydatahelps.md) and answers the page's POST with only
// { access_token, expires_in, token_type } for the participant of the host's own session.
//
// Web Platform APIs only (fetch, Request/Response, Web Crypto, AbortSignal, streams) and
// jose for the RS256 client assertion, so it runs on Node 20+, Deno, Bun and edge runtimes;
// `node(req, res)` is a thin adapter for Node's http module and Express.
//
// One job per module: options.js (checked options), http.js (CSRF, body, adapters),
// upstream.js (assertion, grants), policy.js (the decisions, pure), fleet.js (the shell
// that carries them out on the store and upstream), records.js (what the store holds),
// store.js (memory and Redis), runtime.js (clocks, timers, ids), observe.js (the observer).
import { BrokerError } from "./errors.js";
import { makeBroker } from "./broker.js";
import { memoryStore, redisStore } from "./store.js";

export { BrokerError, memoryStore, redisStore };

/**
 * @param {import("./index.d.ts").BrokerOptions} options
 * @returns {import("./index.d.ts").Broker}
 */
export function createBroker(options) {
  const { participantToken, handle, node, health, handleHealth, nodeHealth } = makeBroker(options);
  return { participantToken, handle, node, health, handleHealth, nodeHealth };
}
