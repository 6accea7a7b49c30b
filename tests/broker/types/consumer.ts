// A host's use of mdh-token/broker's types: must compile under --strict with no `any`.
import {
  createBroker,
  memoryStore,
  redisStore,
  BrokerError,
  type Broker,
  type BrokerHealth,
  type BrokerStore,
  type NodeRequest,
  type NodeResponse,
  type ParticipantToken,
} from "mdh-token/broker";

declare const pem: string;
declare const key: CryptoKey;
declare const sessionOf: (cookie: string | null) => Promise<string | null>;
declare const redisClient: { sendCommand(args: string[]): Promise<unknown> };

// Web-standard (Next.js route handler, Deno, Bun, Workers).
const broker: Broker = createBroker({
  tokenUrl: "https://mydatahelps.org/identityserver/connect/token",
  serviceAccount: "RKStudio.1234.app",
  privateKey: pem,
  participant: (req) => (req instanceof Request ? sessionOf(req.headers.get("cookie")) : null),
  store: redisStore(redisClient, { prefix: "app:" }),
  log: (line: string) => console.log(line),
  rateLimit: { max: 20, windowMs: 60_000 },
  allowedOrigins: ["https://app.example"],
});
export const POST = (request: Request): Promise<Response> => broker.handle(request);

// Node / Express, with the host's own request type.
interface SessionRequest extends NodeRequest {
  session?: { participantId?: string };
}
const nodeBroker = createBroker<SessionRequest>({
  tokenUrl: "https://mydatahelps.org/identityserver/connect/token",
  serviceAccount: "RKStudio.1234.app",
  privateKey: key,
  participant: (req) => req.session?.participantId ?? null,
  store: memoryStore(),
  cacheParticipantTokens: false,
});
export function route(req: SessionRequest, res: NodeResponse): Promise<void> {
  return nodeBroker.node(req, res);
}

export async function own(id: string): Promise<number> {
  try {
    const t: ParticipantToken = await broker.participantToken(id, { reason: "forced" });
    return t.expires_in;
  } catch (err) {
    if (err instanceof BrokerError) return err.status;
    throw err;
  }
}

export const custom: BrokerStore = {
  get: async () => null,
  set: async () => undefined,
  add: async () => true,
  remove: async () => undefined,
  incr: async () => ({ count: 1, ttlMs: 1000 }),
};

// Operators: sealing keys with rotation, OpenTelemetry, the health probe.
declare const meterProvider: { getMeter(name: string): object };
const sealed = createBroker({
  tokenUrl: "https://mydatahelps.org/identityserver/connect/token",
  serviceAccount: "RKStudio.1234.app",
  privateKey: pem,
  participant: () => null,
  store: redisStore(redisClient),
  sealKeys: ["a-new-secret-of-at-least-32-bytes-xxxxxx", new Uint8Array(32)],
  telemetry: { meterProvider },
});
export const GET = (): Promise<Response> => sealed.handleHealth();
export async function probe(): Promise<boolean> {
  const h: BrokerHealth = await sealed.health();
  return h.status !== "fail" && h.store !== "fallback";
}
