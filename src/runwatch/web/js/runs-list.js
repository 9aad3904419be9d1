// The runs list page: a project filter kept in the URL, and a table kept live by /api/v1/live.

import { ApiError, describeError, getJSON, socketURL } from "./api.js";
import { formatCount } from "./format.js";
import { openLive } from "./live.js";
import * as runsTable from "./runs-table.js";
import { mountConn } from "./status.js";

const $ = (id) => document.getElementById(id);
const conn = mountConn($("conn"));
const select = $("project-filter");
const knownProjects = new Set();
let live = null;

const table = runsTable.mount($("runs-body"), {
  onChange(runs) {
    const running = runs.filter((r) => r.status === "running").length;
    $("run-counts").textContent = `${formatCount(runs.length)} run${runs.length === 1 ? "" : "s"} · ${formatCount(running)} running`;
    $("runs-empty").hidden = runs.length > 0;
    for (const run of runs) addProject(run.project);
  },
  onSelect: showSelection,
});

/** The Compare button links to /compare?runs=… once two or more runs are checked. */
function showSelection(ids) {
  const link = $("compare-link");
  const ready = ids.length >= 2;
  if (ready) link.href = `/compare?runs=${ids.map(encodeURIComponent).join(",")}`;
  else link.removeAttribute("href");
  link.setAttribute("aria-disabled", String(!ready));
  link.textContent = ready ? `Compare ${ids.length}` : "Compare";
  $("selection-count").textContent = ids.length ? `${formatCount(ids.length)} selected` : "select runs to compare";
}

function showError(text) {
  const el = $("runs-error");
  el.textContent = text;
  el.hidden = !text;
}

function currentProject() {
  return new URLSearchParams(location.search).get("project") || "";
}

/** Keep the select's options sorted; a project seen live gets an option too. */
function addProject(name) {
  if (!name || knownProjects.has(name)) return;
  knownProjects.add(name);
  const option = document.createElement("option");
  option.value = name;
  option.textContent = name;
  const next = [...select.options].find((o) => o.value && o.value > name);
  select.insertBefore(option, next || null);
}

async function loadProjects() {
  try {
    const { projects } = await getJSON("/api/v1/projects");
    for (const p of projects) addProject(p.name);
  } catch (err) {
    showError(describeError(err));
  }
  select.value = currentProject();
}

function onMessage(msg) {
  if (msg.type === "runs") table.setRuns(msg.runs);
  else if (msg.type === "run") table.upsert(msg.run);
}

async function probe() {
  try {
    await getJSON("/api/v1/projects");
    return null;
  } catch (err) {
    return err instanceof ApiError && [401, 403].includes(err.status) ? describeError(err) : null;
  }
}

/** (Re)open the runs socket for the project in the URL; its first message is the snapshot. */
function follow() {
  if (live) live.stop();
  const project = currentProject();
  addProject(project);
  select.value = project;
  table.setRuns([]);
  live = openLive({
    ordered: false, // every connection starts with a full snapshot: nothing to resume
    url: () => socketURL("/api/v1/live", { project }),
    onMessage,
    async onReset() {
      const { runs } = await getJSON("/api/v1/runs", { project });
      table.setRuns(runs);
    },
    onConn(word, detail) {
      conn.set(word, detail);
      if (word === "error") showError(`Live updates stopped: ${detail}`);
      else if (word === "live") showError("");
    },
    probe,
  });
}

select.addEventListener("change", () => {
  const url = new URL(location.href);
  if (select.value) url.searchParams.set("project", select.value);
  else url.searchParams.delete("project");
  history.pushState(null, "", url);
  follow();
});
addEventListener("popstate", follow);
$("run-search").addEventListener("input", (e) => table.setQuery(e.target.value));
addEventListener("pagehide", () => live && live.stop());
addEventListener("pageshow", (e) => e.persisted && location.reload());

loadProjects();
follow();
