// Renders the test app on a server (Node): no effects run there, so no manager.
import * as React from "react";
import { renderToString } from "react-dom/server";
import { app, Status } from "./app.js";

export function render(errors) {
  return renderToString(app({}, errors));
}

/** A hook outside the provider: its error. */
export function outside() {
  try {
    renderToString(React.createElement(Status));
    return null;
  } catch (e) {
    return { name: e.name, code: e.code, message: e.message };
  }
}
