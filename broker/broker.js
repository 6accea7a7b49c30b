// The broker assembled from its parts. `makeBroker(options, deps)` is what createBroker
// calls with the defaults; a simulation (tests/broker/sim*.js) or another wrapper passes its
// own runtime (virtual clock), codec (e.g. sealing), observer (e.g. tracing), credentials
// and fetch. Not part of the public API.
import { httpHandlers } from "./http.js";
import { noObserver } from "./observe.js";
import { checkOptions } from "./options.js";
import { REASONS } from "./policy.js";
import { jsonCodec } from "./records.js";
import { createSealer, sealingCodec, sealSecrets } from "./seal.js";
import { otelObserver } from "./telemetry.js";
import { healthCheck } from "./health.js";
import { realRuntime } from "./runtime.js";
import { tokenService } from "./fleet.js";
import { serviceCredentials, upstream as makeUpstream } from "./upstream.js";

// MyDataHelps participant ids are GUIDs; hosts may map their own: any string the page
// accepts as its `participant` option (non-empty, at most 1,024 characters) that can
// travel to MyDataHelps: well-formed UTF-16, since the form is UTF-8 and a lone surrogate
// would arrive as U+FFFD, the same id as another participant's.
export const MAX_PARTICIPANT_ID = 1024;
export const isParticipantId = (v) => typeof v === "string" && v.length > 0 && v.length <= MAX_PARTICIPANT_ID && v.isWellFormed();

/**
 * @param options createBroker's options (checked here)
 * @param deps optional { runtime, codec, observer, credentials, fetch }
 */
export function makeBroker(options, deps = {}) {
  const o = checkOptions(options);
  // A host logger that throws must not break a token request half-way.
  const log = (line) => {
    try {
      o.log(line);
    } catch {
      // ignored
    }
  };
  const runtime = deps.runtime ?? realRuntime(o.now);
  const codec = deps.codec ?? (o.seal ? sealingCodec(jsonCodec, createSealer({ secrets: sealSecrets(o.sealKeys, o.privateKey), now: runtime.now })) : jsonCodec);
  const observer = deps.observer ?? (o.telemetry ? otelObserver(o.telemetry) : noObserver);
  const fetch = deps.fetch ?? options.fetch ?? ((url, init) => globalThis.fetch(url, init));
  const credentials = deps.credentials ?? serviceCredentials(o, runtime);
  const upstream = makeUpstream(o, { fetch, runtime, observer, log, credentials });
  const tokens = tokenService(o, { runtime, codec, observer, log, upstream, credentials });

  async function participantToken(participantId, { reason = "initial" } = {}) {
    if (!isParticipantId(participantId)) throw new TypeError("mdh-token/broker: participantId must be a non-empty, well-formed (no lone surrogate) string of at most 1024 characters");
    if (!REASONS.has(reason)) throw new TypeError(`mdh-token/broker: reason must be one of ${[...REASONS].join(", ")}`);
    return tokens.participantToken(participantId, reason);
  }

  const http = httpHandlers(o, { participantToken, isParticipantId, observer, log, runtime });
  // respond: the adapters' common core, { method, header, selfOrigin, readBody, subject } →
  // { status, headers, body }; for the simulation, which skips Request/Response.
  const probe = healthCheck(o, { runtime, serviceToken: tokens.serviceToken, circuit: tokens.circuit });
  return {
    participantToken,
    handle: http.handle,
    node: http.node,
    respond: http.respond,
    health: probe.health,
    handleHealth: probe.handleHealth,
    nodeHealth: probe.nodeHealth,
  };
}
