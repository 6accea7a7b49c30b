// Mounts the test app with React 19's createRoot.
import { createRoot } from "react-dom/client";
import { flushSync } from "react-dom";
import { app } from "./app.js";

const el = document.body.appendChild(document.createElement("div"));
let root;
window.errors = [];
window.mount = (options = {}) => {
  root = createRoot(el);
  flushSync(() => root.render(app(options, window.errors)));
};
window.unmount = () => root.unmount();
window.react = "19";
