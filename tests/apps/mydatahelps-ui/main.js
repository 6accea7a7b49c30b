// A MyDataHelps UI host page as a team writes one: React 17 in StrictMode, real
// MyDataHelps UI containers fed by mdh-token/react. The test page's URL chooses
// attachSdk's `revive` (?revive=false). window.app lets the test mount a second view.
import React from "react";
import ReactDOM from "react-dom";
import MyDataHelps from "@careevolution/mydatahelps-js";
import { SurveyTaskList } from "@careevolution/mydatahelps-ui";
import { TokenProvider, useTokenStatus, useTokenManager } from "mdh-token/react";

const h = React.createElement;
const revive = new URLSearchParams(location.search).get("revive") !== "false";
window.app = { revived: 0, pushes: 0 };
MyDataHelps.on("applicationDidBecomeVisible", () => window.app.revived++);
const set = MyDataHelps.setParticipantAccessToken.bind(MyDataHelps);
MyDataHelps.setParticipantAccessToken = (t, base) => (window.app.pushes++, set(t, base));
// What the views asked for, and how many tokens the SDK had had by then.
window.app.queries = [];
const query = MyDataHelps.querySurveyTasks.bind(MyDataHelps);
MyDataHelps.querySurveyTasks = (q) => (window.app.queries.push(window.app.pushes), query(q));

function Status() {
  const s = useTokenStatus();
  window.app.tm = useTokenManager();
  return h("p", { id: "state" }, s ? `${s.state} ${s.brokerCalls}` : "none");
}

function App() {
  const [second, setSecond] = React.useState(false);
  window.app.showSecond = () => setSecond(true);
  return h(
    TokenProvider,
    {
      options: { broker: "/broker", baseUrl: location.origin + "/mdh/", crossTab: false, retry: { maxAttempts: 100, baseDelayMs: 100, maxDelayMs: 300 } },
      sdk: MyDataHelps,
      sdkOptions: { revive },
    },
    h(Status),
    h("section", { id: "first" }, h(SurveyTaskList, { status: "incomplete", title: "Tasks" })),
    second && h("section", { id: "second" }, h(SurveyTaskList, { status: "incomplete", title: "Later" })),
  );
}

ReactDOM.render(h(React.StrictMode, null, h(App)), document.getElementById("root"));
