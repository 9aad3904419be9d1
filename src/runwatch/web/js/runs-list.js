// The runs page: the view (project, filters, query, sort, columns, group) kept in the URL; the
// table's rows fetched page by page from /api/v1/runs (the server sorts, filters and pages);
// /api/v1/live keeps the rows held up to date, the rows and count of a filtered view equal to its
// query (runs-recheck.js), and counts the runs created since the view loaded.

import { ApiError, describeError, getJSON, socketURL } from "./api.js";
import { formatCount } from "./format.js";
import { openLive } from "./live.js";
import * as newRunLink from "./new-run-link.js";
import * as queueAgain from "./queue-again.js";
import { coalesce } from "./refetch.js";
import { csvParts } from "./runs-export.js";
import * as runsFilters from "./runs-filters.js";
import { showGroups } from "./runs-groups.js";
import { createPages, PAGE_SIZE } from "./runs-pages.js";
import { recheck } from "./runs-recheck.js";
import * as runsTable from "./runs-table.js";
import {
  andQuery,
  idsQuery,
  nextSort,
  readView,
  sameRuns,
  snapshotQuery,
  sweepQuery,
  viewQuery,
} from "./runs-view.js";
import { mountConn } from "./status.js";
import * as tokenPrompt from "./token-prompt.js";

const $ = (id) => document.getElementById(id);
tokenPrompt.install(); // before any request: a 401 anywhere opens it
const conn = mountConn($("conn"));
const select = $("project-filter");
const knownProjects = new Set();
const NEW_COUNT_INTERVAL_MS = 1000; // the "new runs" count is asked at most once a second
// The table's scroll is kept in the history entry at most this often (browsers throttle
// history calls: Chrome's cap is about 200 per 10 s).
const SCROLL_SAVE_MS = 200;
let live = null;
let view = readView(location.search);
let pending = null; // the view being loaded
let following = null; // the project the socket follows
let list = null; // the runs the table holds: {view, pages, at, total, query, base, recheck}
let generation = 0; // the latest load; answers to older ones are dropped
let refused = false; // the query typed was refused: the table shows the last valid one's runs
// A second from the end of the last ask: a slow count spaces out the next.
const newCount = coalesce(readNewCount, NEW_COUNT_INTERVAL_MS, { fromEnd: true });
const scroller = $("runs-scroll");
// Back to the list from a run finds it where it was: the entry's scroll, put back once its
// first page is in (null: nothing to put back; the scroll is not saved meanwhile).
let scrollToRestore = history.state?.scroll ?? null;
const scrollSave = coalesce(saveScroll, SCROLL_SAVE_MS);

const table = runsTable.mount(scroller, $("runs-table"), {
  onSort: (field) => setView({ sort: nextSort(view.sort, field) }),
  onRemoveColumn: (field) => setView({ cols: view.cols.filter((c) => c !== field) }),
  onSelect: showSelection,
  maxBulk: queueAgain.MAX_BEST_OF, // more would leave Queue again's "best of the checked" off
});

const again = queueAgain.mount($("queue-again"), $("queue-again-note"), bestRun);

const filters = runsFilters.mount(
  {
    status: $("status-filter"),
    tag: $("tag-filter"),
    query: $("run-query"),
    queryForm: $("query-form"),
    queryError: $("query-error"),
    addColumn: $("add-column"),
    columnName: $("add-column-name"),
    groupBy: $("group-by"),
  },
  (patch) => setView(patch, { push: "q" in patch }),
);

function baseOf(v) {
  return { project: v.project, status: v.status, tag: v.tag };
}

/**
 * Fetch a view's first page and start a new page cache on it; false (and the table as it
 * was) when the server refused it. The table holds the runs created up to the newest matching
 * one when it loaded (`at`, which the first answer tells): later runs are counted in the "new
 * runs" bar, never slipped into pages already scrolled past. One request before the first
 * rows: the first page is in its answer, whatever the sort.
 */
async function load(next) {
  const gen = ++generation;
  const base = baseOf(next);
  let first;
  try {
    first = await getJSON("/api/v1/runs", { ...base, q: next.q, sort: next.sort, limit: PAGE_SIZE });
  } catch (err) {
    if (gen !== generation) return false;
    if (err instanceof ApiError && err.field === "q") showRefused(err.message);
    else showError(describeError(err));
    return false;
  }
  if (gen !== generation) return false;
  showRefused("");
  showError("");
  const at = first.newest ?? null;
  if (list) {
    list.pages.stop();
    list.recheck.stop();
  }
  list = { view: next, at, total: first.total, query: snapshotQuery(next.q, at), base, absent: first.absent || [] };
  startPages(first);
  showNew(0);
  return true;
}

/** The page cache for a new list, started from the first page's answer, and what keeps it
 * current. */
function startPages(first) {
  const { base, query } = list;
  const sort = list.view.sort;
  const runs = (params) => getJSON("/api/v1/runs", { ...base, ...params });
  const pages = createPages({
    load: (cursor, limit) => runs({ q: query, sort, limit, cursor }),
    onChange() {
      table.refresh();
      filters.addTags(pages.runs());
    },
    onError: (err) => showError(describeError(err)),
  });
  pages.seed(first);
  list.pages = pages;
  list.recheck = recheck({
    read: async (ids) => (await runs({ q: withIds(query, ids), limit: ids.length })).runs,
    count: async () => (await runs({ q: query, limit: 1 })).total,
    pages,
    total: list.total,
    onRows: () => table.refresh(),
    onTotal(total) {
      list.total = total; // a stopped recheck says nothing: this is still the list
      showCounts();
      loadGroups();
    },
    onError: (err) => showError(describeError(err)),
  });
  table.setPages(pages);
  filters.addTags(pages.runs());
  showCounts();
}

/** A query narrowed to some runs by id. */
function withIds(q, ids) {
  return q ? `(${q}) and ${idsQuery(ids)}` : idsQuery(ids);
}

/** The server's refusal of the query typed (its message), or "" once a view is shown: until
 * then the table, count and groups are the last valid query's, dimmed and said so. */
function showRefused(message) {
  filters.showQueryError(message);
  refused = Boolean(message) && list !== null; // before any table there is nothing left on show
  $("query-stale").hidden = !refused;
  $("runs-panel").dataset.stale = String(refused);
  $("groups-panel").dataset.stale = String(refused);
  if (list) showCounts();
}

function showCounts() {
  const total = list ? list.total : 0;
  const runs = `${formatCount(total)} run${total === 1 ? "" : "s"}`;
  $("run-counts").textContent = refused ? `${runs} of the last valid query` : runs;
  const shown = list ? list.view : view; // the list's own view: `view` changes once it loaded
  const filtered = Boolean(shown.project || shown.status || shown.tag || shown.q);
  $("runs-empty").hidden = !list || total > 0 || filtered;
  const none = $("runs-none-match");
  none.hidden = !list || total > 0 || !filtered;
  if (!none.hidden) none.textContent = noneMatchText(list.absent);
}

/** Why no run matches: said when the query names a field no recent run has (a typo?). */
function noneMatchText(absent) {
  const why = absent.map(({ field, like }) => (like ? `No recent run has ${field}: did you mean ${like}?` : `No recent run has ${field}.`));
  return ["No run matches these filters.", ...why].join(" ");
}

/** Change part of the view. A new query, filter or sort is fetched first: the URL and the table
 * change only once the server accepted it. Columns and the group are the page's own. */
async function setView(patch, { push = false } = {}) {
  if (push) saveScroll(); // the entry left keeps where its list was scrolled
  const next = { ...(pending || view), ...patch }; // a change made while another loads adds to it
  pending = next;
  if (!list || !sameRuns(next, list.view)) {
    const ok = await load(next);
    if (pending !== next) return; // a later change overtook this one
    pending = null;
    if (!ok) {
      scrollToRestore = null; // it was the refused list's
      filters.show(view, { keepQuery: true });
      if (following === null) follow();
      return;
    }
  }
  pending = null;
  view = next;
  showRefused(""); // the query box shows the view's query again (showView)
  const url = `${location.pathname}${viewQuery(view)}${location.hash}`;
  if (push) history.pushState(null, "", url);
  else history.replaceState(history.state, "", url);
  showView();
  if (scrollToRestore !== null) {
    table.scrollTo(scrollToRestore); // the rows there are fetched as the table draws them
    scrollToRestore = null;
  }
  saveScroll();
}

/** Keep the table's scroll in the history entry (Back from a run puts it back). */
function saveScroll() {
  if (scrollToRestore !== null) return;
  if (history.state?.scroll !== scroller.scrollTop) history.replaceState({ scroll: scroller.scrollTop }, "", location.href);
}

function showView() {
  newRunLink.follow(view.project);
  $("sweep-link").href = `/sweep${sweepQuery(view)}`;
  select.value = view.project;
  filters.show(view);
  table.setColumns(view.cols, view.sort);
  if (view.project !== following) follow();
  loadFields();
  loadGroups();
}

/** The config and summary fields of the view's runs, offered as columns and as groups. */
async function loadFields() {
  const wanted = list;
  if (!wanted) return;
  try {
    const fields = await getJSON("/api/v1/run-fields", { ...list.base, q: list.view.q });
    if (wanted === list) filters.setFields(fields);
  } catch (err) {
    showError(describeError(err));
  }
}

/** The group-by panel: one row per value of the chosen config key. */
async function loadGroups() {
  const panel = $("groups-panel");
  panel.hidden = !view.group;
  if (!view.group || !list) return;
  const values = runsFilters.summaryColumns(view.cols);
  const params = new URLSearchParams({ by: view.group });
  for (const value of values) params.append("values", value);
  const wanted = view;
  try {
    const answer = await getJSON(`/api/v1/run-groups?${params}`, { ...list.base, q: list.query });
    if (wanted === view) showGroups($("groups-table"), $("groups-note"), answer, values, pickGroup);
  } catch (err) {
    showError(describeError(err));
  }
}

/** A group's row was clicked: the list narrows to its runs (its query joins the view's), the
 * groups close. */
function pickGroup(condition) {
  setView({ q: andQuery(view.q, condition), group: "" }, { push: true });
}

/** The "N new runs — show" bar. */
function showNew(count) {
  $("new-runs").hidden = count === 0;
  $("new-runs-text").textContent = `${formatCount(count)} new run${count === 1 ? "" : "s"}`;
}

/** How many runs matching the view were created since it loaded. */
async function readNewCount() {
  const wanted = list;
  try {
    const answer = await getJSON("/api/v1/runs", { ...wanted.base, q: snapshotQuery(wanted.view.q, wanted.at, true), limit: 1 });
    if (wanted === list) showNew(answer.total);
  } catch (err) {
    showError(describeError(err));
  }
}

/** Whether runs created before the list loaded can enter or leave it: it has a filter (runs
 * never change project) and held runs when it loaded (else every matching run counts as new). */
function mayMove(l) {
  return l.at !== null && Boolean(l.view.status || l.view.tag || l.view.q);
}

/** A run changed: a row held shows it in place; a run created after the view loaded is counted;
 * one created before may have entered or left a filtered view (`snapshot`: the socket's first
 * message, which says nothing of what changed). */
function runChanged(run, snapshot = false) {
  addProject(run.project);
  if (!list) return;
  if (list.pages.replace(run)) table.refresh();
  if (list.at === null || run.created_at > list.at) newCount.poke();
  else if (!snapshot && mayMove(list)) list.recheck.changed(run.id);
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
  again.setSelection(ids);
}

/** The run "Queue again" opens: the table's top row ("best"), or the first of the checked
 * runs in the table's sort ("selected"), as the server sorts them. */
async function bestRun(choice, ids) {
  if (!list) return null;
  const where = choice === "best" ? { ...list.base, q: list.query } : { q: idsQuery(ids) };
  const answer = await getJSON("/api/v1/runs", { ...where, sort: list.view.sort, limit: 1 });
  return answer.runs[0] || null;
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

/** A run was deleted: the list is read again where the person is when it held the run (or a
 * page not held may have), and the count of new runs is asked again. */
function runDeleted(id) {
  if (!list) return;
  list.recheck.changed(id);
  if (list.at !== null) newCount.poke();
}

function onMessage(msg) {
  if (msg.type === "run") runChanged(msg.run);
  else if (msg.type === "run.deleted") runDeleted(msg.id);
  else if (msg.type === "runs") {
    for (const run of msg.runs) runChanged(run, true);
    // Every (re)connection starts with it: changes may have been missed while away.
    if (list && mayMove(list)) list.recheck.everything();
  }
}

async function probe() {
  try {
    await getJSON("/api/v1/projects");
    return null;
  } catch (err) {
    return err instanceof ApiError && [401, 403].includes(err.status) ? describeError(err) : null;
  }
}

/** (Re)open the runs socket for the view's project. */
function follow() {
  if (live) live.stop();
  const project = view.project;
  following = project;
  addProject(project);
  live = openLive({
    ordered: false, // every connection starts with a full snapshot: nothing to resume
    url: () => socketURL("/api/v1/live", { project }),
    onMessage,
    async onReset() {
      // Changes were missed: the rows held and the count are read again, where the person is.
      if (!list) return;
      if (list.at !== null) list.recheck.everything();
      newCount.poke();
    },
    onConn(word, detail) {
      conn.set(word, detail);
      if (word === "error") showError(`Live updates stopped: ${detail}`);
    },
    probe,
  });
}

/** Download the view's whole table as CSV, page after page. */
async function exportCsv() {
  const button = $("export-csv");
  if (button.disabled || !list) return;
  button.disabled = true;
  const { base, query } = list;
  const sort = list.view.sort;
  try {
    const parts = await csvParts(
      (cursor, limit) => getJSON("/api/v1/runs", { ...base, q: query, sort, limit, cursor }),
      table.columns(),
      { onProgress: (done, total) => (button.textContent = `CSV ${formatCount(done)} / ${formatCount(total)}`) },
    );
    const url = URL.createObjectURL(new Blob(parts, { type: "text/csv" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = "runs.csv";
    link.click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000); // once the download has its bytes
  } catch (err) {
    showError(describeError(err));
  } finally {
    button.disabled = false;
    button.textContent = "Export CSV";
  }
}

select.addEventListener("change", () => setView({ project: select.value }, { push: true }));
addEventListener("popstate", (event) => {
  scrollToRestore = event.state?.scroll ?? null;
  setView(readView(location.search));
});
scroller.addEventListener("scroll", () => scrollSave.poke(), { passive: true });
$("new-runs-show").addEventListener("click", () => load(view).then((ok) => ok && showView()));
$("export-csv").addEventListener("click", exportCsv);
addEventListener("pagehide", () => {
  if (live) live.stop();
  scrollSave.stop();
  saveScroll(); // a scroll still waiting for its turn
});
addEventListener("pageshow", (e) => e.persisted && location.reload());

newRunLink.mount($("new-run-link"));
newRunLink.mountSweep($("new-sweep-link"));
filters.show(view);
// The first page goes first: the projects' counts scan every run, and would share the server
// with it.
setView({}).finally(loadProjects);
