// The app's own login, as far as this test app needs one: a cookie naming the
// participant (a real app reads its signed session here). Works on Node and on the edge.
import { cookies } from "next/headers";

const PARTICIPANT = /(?:^|;\s*)participant=([^;]+)/;

/** The session of a route handler's Request, or null. */
export async function sessionFromRequest(request) {
  const m = PARTICIPANT.exec(request.headers.get("cookie") ?? "");
  return m ? { participantId: decodeURIComponent(m[1]) } : null;
}

/** The session of the page being rendered (Server Components), or null. */
export async function currentSession() {
  const id = (await cookies()).get("participant")?.value;
  return id ? { participantId: id } : null;
}
