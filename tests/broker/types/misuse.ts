// Misuse the types must refuse: each @ts-expect-error fails the check if it is not an error.
import { createBroker, redisStore } from "mdh-token/broker";

export async function misuse(): Promise<void> {
  // @ts-expect-error participant is required
  createBroker({ tokenUrl: "https://x/identityserver/connect/token", serviceAccount: "a", privateKey: "pem" });
  const b = createBroker({ tokenUrl: "u", serviceAccount: "a", privateKey: "pem", participant: () => null });
  // @ts-expect-error reason is one of initial | scheduled | forced | expired
  await b.participantToken("id", { reason: "because" });
  // @ts-expect-error the answer has no refresh token
  void (await b.participantToken("id")).refresh_token;
  // @ts-expect-error a Redis client must have sendCommand or call
  redisStore({ get: () => null });
  // @ts-expect-error rateLimit is { max, windowMs } or false
  createBroker({ tokenUrl: "u", serviceAccount: "a", privateKey: "pem", participant: () => null, rateLimit: true });
}

createBroker({
  tokenUrl: "https://mydatahelps.org/identityserver/connect/token",
  serviceAccount: "a",
  privateKey: "pem",
  participant: () => null,
  // @ts-expect-error seal is a boolean
  seal: "yes",
  // @ts-expect-error sealKeys is an array of secrets
  sealKeys: "one-key",
});
