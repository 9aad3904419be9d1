// The /alerts?project= page: the project's alerts kept live by its alerts socket (a snapshot,
// then each new or updated alert), and its rules with a form to add one.

import { ApiError, describeError, getJSON, socketURL } from "./api.js";
import * as alertsTable from "./alerts-table.js";
import { formatCount } from "./format.js";
import { openLive } from "./live.js";
import * as rulesPanel from "./rules-panel.js";
import { mountConn } from "./status.js";
import * as tokenPrompt from "./token-prompt.js";

const $ = (id) => document.getElementById(id);
const conn = mountConn($("conn"));
tokenPrompt.install();
const select = $("project-select");
let project = new URLSearchParams(location.search).get("project") || "";
let live = null;

const table = alertsTable.mount($("alerts"), {
  onChange(count) {
    $("alert-count").textContent = `${formatCount(count)} alert${count === 1 ? "" : "s"}`;
    $("alerts-empty").hidden = count > 0;
  },
});
const rules = rulesPanel.mount({ list: $("rules"), empty: $("rules-empty"), form: $("rule-form") });

function showError(text) {
  $("alerts-error").textContent = text;
  $("alerts-error").hidden = !text;
}

async function probe() {
  try {
    await getJSON(`/api/v1/projects/${encodeURIComponent(project)}/alerts`, { limit: 1 });
    return null;
  } catch (err) {
    return err instanceof ApiError && [401, 403].includes(err.status) ? describeError(err) : null;
  }
}

function follow() {
  if (live) live.stop();
  live = null;
  table.setAlerts([]);
  $("crumb-project").textContent = project || "Runs";
  $("crumb-project").href = project ? `/?project=${encodeURIComponent(project)}` : "/";
  rules.load(project).catch((err) => showError(describeError(err)));
  if (!project) {
    conn.set("closed", "choose a project");
    return;
  }
  live = openLive({
    ordered: false, // every connection starts with a snapshot: nothing to resume
    url: () => socketURL(`/api/v1/projects/${encodeURIComponent(project)}/alerts/live`),
    onMessage(msg) {
      if (msg.type === "alerts") table.setAlerts(msg.alerts);
      else if (msg.type === "alert") table.upsert(msg.alert);
    },
    async onReset() {
      const { alerts } = await getJSON(`/api/v1/projects/${encodeURIComponent(project)}/alerts`);
      table.setAlerts(alerts);
    },
    onConn(word, detail) {
      conn.set(word, detail);
      if (word === "error") showError(`Live updates stopped: ${detail}`);
      else if (word === "live") showError("");
    },
    probe,
  });
}

async function loadProjects() {
  try {
    const { projects } = await getJSON("/api/v1/projects");
    const names = new Set(projects.map((p) => p.name));
    if (project) names.add(project);
    for (const name of [...names].sort()) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      select.append(option);
    }
    if (!project && names.size === 1) choose([...names][0]); // nothing to choose between
  } catch (err) {
    showError(describeError(err));
  }
  select.value = project;
}

function choose(name) {
  project = name;
  history.replaceState(null, "", project ? `/alerts?project=${encodeURIComponent(project)}` : "/alerts");
  follow();
}

select.addEventListener("change", () => choose(select.value));
addEventListener("pagehide", () => live && live.stop());

loadProjects();
follow();
