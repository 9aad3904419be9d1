// The runs list page: the view (project, filters, sort, best-value metric) kept in the URL, and
// a table kept live by /api/v1/live; best values are the only thing fetched besides.

import { ApiError, describeError, getJSON, socketURL } from "./api.js";
import { createBestValues } from "./best-values.js";
import { formatCount } from "./format.js";
import { openLive } from "./live.js";
import * as newRunLink from "./new-run-link.js";
import * as runsFilters from "./runs-filters.js";
import * as runsTable from "./runs-table.js";
import { nextSort, readView, viewQuery } from "./runs-view.js";
import { mountConn } from "./status.js";

const $ = (id) => document.getElementById(id);
const conn = mountConn($("conn"));
const select = $("project-filter");
const knownProjects = new Set();
let live = null;
let view = readView(location.search);
let following = null; // the project the socket follows
let latestRuns = [];
let summaryFrame = 0;

const best = createBestValues({
  async load(runId, key) {
    const answer = await getJSON(`/api/v1/runs/${encodeURIComponent(runId)}/metrics`, { keys: key, max_points: 1 });
    return { seq: answer.seq, series: answer.series[key] };
  },
  wanted: (runId, key) => table.wants(runId, key),
  onChange: (runId, key) => table.bestChanged(runId, key),
});

const table = runsTable.mount($("runs-table"), {
  onChange(runs) {
    latestRuns = runs;
    // Counts and options are redrawn once a frame, however many runs changed in it.
    if (!summaryFrame) summaryFrame = requestAnimationFrame(showSummary);
  },
  onSelect: showSelection,
  onSort: (key) => setView({ sort: nextSort(view.sort, key) }),
  best,
});

const filters = runsFilters.mount(
  { status: $("status-filter"), tag: $("tag-filter"), metric: $("best-metric"), dir: $("best-dir") },
  (patch) => setView(patch),
);

function showSummary() {
  summaryFrame = 0;
  const runs = latestRuns;
  const running = runs.filter((r) => r.status === "running").length;
  const shown = table.shown().length;
  let counts = `${formatCount(runs.length)} run${runs.length === 1 ? "" : "s"} · ${formatCount(running)} running`;
  if (shown < runs.length) counts += ` · ${formatCount(shown)} shown`;
  $("run-counts").textContent = counts;
  $("runs-empty").hidden = runs.length > 0;
  $("runs-none-match").hidden = runs.length === 0 || shown > 0;
  for (const run of runs) addProject(run.project);
  filters.setRuns(runs);
}

/** Change part of the view: the URL, the filter bar and the table follow (and the socket, for a project). */
function setView(patch, { push = false } = {}) {
  view = { ...view, ...patch };
  const url = `${location.pathname}${viewQuery(view)}${location.hash}`;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
  showView();
}

function showView() {
  newRunLink.follow(view.project);
  filters.show(view);
  table.setView(view);
  if (view.project !== following) follow();
}

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
  select.value = view.project;
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

/** (Re)open the runs socket for the view's project; its first message is the snapshot. */
function follow() {
  if (live) live.stop();
  const project = view.project;
  following = project;
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

select.addEventListener("change", () => setView({ project: select.value }, { push: true }));
addEventListener("popstate", () => {
  view = readView(location.search);
  showView();
});
$("run-search").addEventListener("input", (e) => table.setQuery(e.target.value));
addEventListener("pagehide", () => live && live.stop());
addEventListener("pageshow", (e) => e.persisted && location.reload());

newRunLink.mount($("new-run-link"));
loadProjects();
showView();
