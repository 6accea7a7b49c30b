// The emulated project's participants. Fixed GUIDs so bookmarks, logs and tests stay stable.
// The shape follows MyDataHelps.js 5.7.0's ParticipantInfo (types.d.ts): the SDK hands this
// object to the page unchanged, so every field it declares is present (empty when unknown).

const participant = (participantID, participantIdentifier, firstName, lastName, extra = {}) => ({
  participantID,
  participantIdentifier,
  secondaryIdentifier: "",
  linkIdentifier: participantID,
  demographics: {
    email: `${firstName.normalize("NFD").replace(/[^A-Za-z]/g, "").toLowerCase()}@example.org`,
    mobilePhone: "",
    firstName,
    middleName: "",
    lastName,
    dateOfBirth: "",
    gender: "",
    preferredLanguage: "en",
    street1: "",
    street2: "",
    city: "",
    state: "",
    postalCode: "",
    utcOffset: "00:00:00",
    unsubscribedFromEmails: "false",
    timeZone: "UTC",
    unsubscribedFromSms: "false",
    ...extra,
  },
  customFields: {},
  enrollmentDate: "2024-03-01T09:00:00+00:00",
  projectID: "00000000-0000-4000-8000-00000000d3e0",
});

export const EMULATED_PARTICIPANTS = Object.freeze([
  participant("8f2b6c1e-3d4a-4e5f-9b7c-0a1d2e3f4a5b", "DEMO-0001", "Ada", "Park", { dateOfBirth: "1986-04-12" }),
  participant("1c9e7a3b-5f2d-4c8e-a6b1-2d3e4f5a6b7c", "DEMO-0002", "Ben", "Okafor", { dateOfBirth: "1979-11-03" }),
  // A non-ASCII name keeps the page's text handling honest.
  participant("d4e5f6a7-b8c9-4d0e-8f1a-2b3c4d5e6f70", "DEMO-0003", "Chloé", "Martin", { dateOfBirth: "1993-07-28" }),
]);

/** The sign-in list entry for an emulated participant. */
export const toSignInEntry = (p) => ({
  id: p.participantID,
  name: `${p.demographics.firstName} ${p.demographics.lastName}`,
  identifier: p.participantIdentifier,
});

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Parses MDH_PARTICIPANT_IDS: comma-separated GUIDs, each optionally followed by
 * "=Display name" ("3f…=Test participant,7a…"). Throws with a message naming the bad entry.
 */
export function parseParticipantList(text) {
  const list = [];
  for (const raw of String(text ?? "").split(",")) {
    const entry = raw.trim();
    if (!entry) continue;
    const eq = entry.indexOf("=");
    const id = (eq < 0 ? entry : entry.slice(0, eq)).trim().toLowerCase();
    const name = eq < 0 ? "" : entry.slice(eq + 1).trim();
    if (!GUID.test(id)) throw new Error(`MDH_PARTICIPANT_IDS: "${id}" is not a participant GUID`);
    list.push({ id, name: name || `Participant ${list.length + 1}`, identifier: id.slice(0, 8) });
  }
  return list;
}
