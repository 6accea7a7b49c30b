// The demo's own sign-in: a random server-side session id in an HttpOnly cookie. The broker
// trusts nothing else to know who the participant is: a real host would use its existing
// login here, which is exactly what the broker pattern relies on.
import { randomBytes } from "node:crypto";
import { parseCookies } from "./http.js";

export const COOKIE = "mdh_demo_session";
const MAX_AGE_S = 12 * 60 * 60;

export function createSessions({ now = Date.now } = {}) {
  const sessions = new Map(); // id → { participantId, expiresAt }

  return {
    /** The signed-in participant's id for this request, or null. */
    participantOf(req) {
      const id = parseCookies(req).get(COOKIE);
      const s = id && sessions.get(id);
      if (!s) return null;
      if (s.expiresAt <= now()) {
        sessions.delete(id);
        return null;
      }
      return s.participantId;
    },
    /** Starts a session (dropping the request's old one: no fixation) and returns its Set-Cookie value. */
    start(req, participantId) {
      const old = parseCookies(req).get(COOKIE);
      if (old) sessions.delete(old);
      const id = randomBytes(32).toString("base64url");
      sessions.set(id, { participantId, expiresAt: now() + MAX_AGE_S * 1000 });
      return cookie(req, id, MAX_AGE_S);
    },
    /** Ends the request's session and returns the Set-Cookie value that deletes the cookie. */
    end(req) {
      const id = parseCookies(req).get(COOKIE);
      if (id) sessions.delete(id);
      return cookie(req, "", 0);
    },
  };
}

// SameSite=Lax keeps the cookie off cross-site POSTs (the broker's first CSRF line);
// Secure only when the request really came over TLS, so plain http://localhost still works.
function cookie(req, value, maxAge) {
  const secure = req.socket.encrypted ? "; Secure" : "";
  return `${COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure}`;
}
