// Server-rendered HTML for the sign-in page. Every interpolated value goes through escapeHtml:
// participant names come from the environment in real mode.

export function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/**
 * @param {{ participants: {id:string,name:string,identifier:string}[], mode: string, current: string|null, error?: string }} o
 */
export function signInPage({ participants, mode, current, error }) {
  const items = participants
    .map(
      (p) => `
        <li><button type="submit" name="participant" value="${escapeHtml(p.id)}">
          <strong>${escapeHtml(p.name)}</strong>
          <small>${escapeHtml(p.identifier)} · <code>${escapeHtml(p.id)}</code></small>
        </button></li>`,
    )
    .join("");
  const who = current ? participants.find((p) => p.id === current) : null;
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Sign in · mdh-token demo</title>
  <link rel="icon" href="/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/style.css">
</head>
<body class="signin">
  <main class="card signin-card">
    <h1>mdh-token <span>demo</span></h1>
    <p>Sign in as a participant. This stands in for the host site's own login: the broker
      reads the participant from this session only, never from the page.</p>
    ${error ? `<p class="notice" role="alert">${escapeHtml(error)}</p>` : ""}
    ${who ? `<p>Signed in as <strong>${escapeHtml(who.name)}</strong>. <a href="/">Continue to the demo</a></p>` : ""}
    <form method="post" action="/signin">
      <ul class="participants">${items}
      </ul>
    </form>
    <p class="muted">Target: ${mode === "emulator" ? "built-in MyDataHelps emulator" : "MyDataHelps (real project)"}.</p>
  </main>
</body>
</html>
`;
}
