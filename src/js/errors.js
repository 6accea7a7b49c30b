// The one TokenError constructor: the wasm's errors (src/web/convert.rs), the options
// check (src/js/options.js), the entry (src/js/entry.js) and mdh-token/react make theirs
// here (the React entry imports the copy scripts/build.sh leaves in pkg/errors.js). A plain Error with name "TokenError", a stable `code`, `status` (0 when there
// is none) and, for a failed renewal that will be retried, `retryAt` (epoch ms). The
// message is fixed text: never response data, never a token.
export function tokenError(code, detail, status = 0, retryAt) {
  const e = new Error("mdh-token: " + detail);
  e.name = "TokenError";
  e.code = code;
  e.status = status;
  if (retryAt !== undefined) e.retryAt = retryAt;
  return e;
}
