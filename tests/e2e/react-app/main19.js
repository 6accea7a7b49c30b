// Mounts the test app with React 19's createRoot.
import { createRoot } from "react-dom/client";
import { flushSync } from "react-dom";
import { app } from "./app.js";

const el = document.body.appendChild(document.createElement("div"));
let root;
window.errors = [];
// A stand-in for MyDataHelps.js that counts the tokens pushed into it.
window.pushes = [];
const sdk = { setParticipantAccessToken: (t) => window.pushes.push(t.access_token), on() {}, off() {} };
window.mount = (options = {}, withSdk = false) => {
  root = createRoot(el);
  flushSync(() => root.render(app(options, window.errors, withSdk ? sdk : undefined)));
};
window.unmount = () => root.unmount();
window.react = "19";
