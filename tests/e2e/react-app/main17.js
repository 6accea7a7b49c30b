// Mounts the test app with React 17's ReactDOM.render.
import ReactDOM from "react-dom";
import { app } from "./app.js";

const el = document.body.appendChild(document.createElement("div"));
window.errors = [];
// A stand-in for MyDataHelps.js that counts the tokens pushed into it.
window.pushes = [];
const sdk = { setParticipantAccessToken: (t) => window.pushes.push(t.access_token), on() {}, off() {} };
window.mount = (options = {}, withSdk = false) => ReactDOM.render(app(options, window.errors, withSdk ? sdk : undefined), el);
window.unmount = () => ReactDOM.unmountComponentAtNode(el);
window.react = "17";
