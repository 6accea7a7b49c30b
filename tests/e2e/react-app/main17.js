// Mounts the test app with React 17's ReactDOM.render.
import ReactDOM from "react-dom";
import { app } from "./app.js";

const el = document.body.appendChild(document.createElement("div"));
window.errors = [];
window.mount = (options = {}) => ReactDOM.render(app(options, window.errors), el);
window.unmount = () => ReactDOM.unmountComponentAtNode(el);
window.react = "17";
