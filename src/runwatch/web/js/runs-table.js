// The runs table: one row per run, upserted in place as runs change, filtered and sorted by the
// view, with a best-value column and rows that open their run.

import { formatAgo, formatDuration, formatValue } from "./format.js";
import { bestDir, comparator, durationOf, matches } from "./runs-view.js";
import { mountPill } from "./status.js";

const SUMMARY_KEYS = 3;
// Clicks on these keep their own meaning instead of opening the run.
const INTERACTIVE = "a, button, input, label, select, textarea, .col-select";

function td(className) {
  const cell = document.createElement("td");
  if (className) cell.className = className;
  return cell;
}

function text(tag, className, value) {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = value;
  return node;
}

/** A new, empty row with handles to the cells it updates. */
function buildRow() {
  const tr = document.createElement("tr");
  tr.className = "run-row";
  tr.tabIndex = 0; // Enter on a focused row opens the run, as a click anywhere on it does
  const selectCell = td("col-select");
  const check = document.createElement("input");
  check.type = "checkbox";
  check.className = "run-select";
  selectCell.append(check);
  const statusCell = td("col-status");
  const pillEl = document.createElement("span");
  statusCell.append(pillEl);
  const nameCell = td("col-name");
  const nameLine = document.createElement("div");
  nameLine.className = "run-name-line";
  const link = document.createElement("a");
  link.className = "run-link";
  const badge = text("span", "live-badge live-badge-sm", "● live");
  badge.dataset.live = "true";
  nameLine.append(link, badge);
  const sub = text("div", "run-sub", "");
  nameCell.append(nameLine, sub);
  const project = td("col-project");
  const tags = td("col-tags");
  const summary = td("col-summary");
  const best = td("col-num col-best");
  const duration = td("col-num col-duration");
  const updated = td("col-num col-updated");
  tr.append(selectCell, statusCell, nameCell, project, tags, summary, best, duration, updated);
  const pill = mountPill(pillEl);
  return { tr, check, pill, link, badge, sub, project, tags, summary, best, duration, updated, run: null };
}

function fillRow(row, run) {
  row.run = run;
  row.tr.dataset.runId = run.id;
  row.tr.dataset.status = run.status;
  row.tr.dataset.project = run.project;
  row.pill.set(run.status);
  row.link.textContent = run.name;
  row.check.setAttribute("aria-label", `select ${run.name} to compare`);
  row.link.href = `/runs/${encodeURIComponent(run.id)}`;
  row.badge.hidden = run.status !== "running";
  row.sub.textContent = run.group ? `${run.id} · ${run.group}` : run.id;
  row.project.textContent = run.project;
  row.tags.replaceChildren(...(run.tags || []).map((t) => text("span", "tag", t)));
  const keys = Object.keys(run.summary || {}).sort().slice(0, SUMMARY_KEYS);
  row.summary.replaceChildren(
    ...keys.map((k) => {
      const item = text("span", "summary-item", "");
      item.append(text("span", "summary-key", k), text("span", "summary-value", formatValue(run.summary[k])));
      return item;
    }),
  );
  tickRow(row, Date.now() / 1000);
}

function tickRow(row, now) {
  const run = row.run;
  row.duration.textContent = formatDuration(durationOf(run, now));
  row.updated.textContent = formatAgo(run.last_update ?? run.created_at, now);
}

/**
 * Mount on the runs <table>. `onChange(runs)` is told after every change (for counts, filter
 * options, the empty state), `onSelect(ids)` after the set of checked runs changed (ids in the
 * order they were checked), `onSort(key)` when a sortable header is clicked. `best` is a
 * best-values cache (best-values.js) whose `onChange` should call `bestChanged`.
 */
export function mount(table, { onChange, onSelect, onSort, best }) {
  const tbody = table.tBodies[0];
  const rows = new Map(); // run id -> row
  const selected = new Set(); // checked run ids, in the order they were checked
  const onScreen = new Set(); // ids of rows in the viewport: the ones whose best value is fetched
  let view = { status: "", tag: "", sort: null, metric: "", best: null };
  let query = "";

  const observer = new IntersectionObserver((seen) => {
    for (const entry of seen) {
      const id = entry.target.dataset.runId;
      if (entry.isIntersecting) onScreen.add(id);
      else onScreen.delete(id);
      const row = rows.get(id);
      if (row && entry.isIntersecting) wantBest(row);
    }
  });

  function selectionChanged() {
    if (onSelect) onSelect([...selected]);
  }

  tbody.addEventListener("change", (event) => {
    const check = event.target;
    if (!check.classList.contains("run-select")) return;
    const id = check.closest("tr").dataset.runId;
    if (check.checked) selected.add(id);
    else selected.delete(id);
    check.closest("tr").dataset.selected = String(check.checked);
    selectionChanged();
  });

  // The whole row opens its run; the link, the checkbox and selected text keep working.
  function openRow(event) {
    const tr = event.target.closest("tr.run-row");
    if (!tr || event.target.closest(INTERACTIVE) || String(getSelection() || "")) return;
    const href = rows.get(tr.dataset.runId)?.link.href;
    if (!href) return;
    if (event.ctrlKey || event.metaKey || event.button === 1) window.open(href, "_blank", "noopener");
    else location.assign(href);
  }
  tbody.addEventListener("click", openRow);
  tbody.addEventListener("auxclick", (event) => event.button === 1 && openRow(event));
  tbody.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.matches("tr.run-row")) openRow(event);
  });

  for (const button of table.tHead.querySelectorAll("button[data-sort]")) {
    button.addEventListener("click", () => onSort && onSort(button.dataset.sort));
  }

  // ---------- the best-value column ----------

  function bestValue(run) {
    if (!view.metric) return null;
    const known = best.get(run.id, view.metric);
    return known ? known[bestDir(view)] : null;
  }

  function showBest(row) {
    const has = Boolean(view.metric) && row.run.summary && view.metric in row.run.summary;
    const known = has ? best.get(row.run.id, view.metric) : null;
    const value = known ? known[bestDir(view)] : null;
    row.best.textContent = value === null ? (has && !known ? "…" : "—") : formatValue(value);
    row.best.dataset.state = value !== null ? "value" : has && !known ? "loading" : "none";
  }

  /** Fetch (or refresh) a row's best value if it is worth it: a metric is chosen, the run has
   * logged it, and the row is on screen, or every shown row counts because we sort by it. */
  function wantBest(row) {
    const run = row.run;
    if (!view.metric || !run.summary || !(view.metric in run.summary)) return;
    if (!isWanted(row)) return;
    best.want(run, view.metric);
  }

  function isWanted(row) {
    if (!view.metric || !matches(row.run, view, query)) return false;
    return view.sort?.key === "best" || onScreen.has(row.run.id);
  }

  // ---------- order and filters ----------

  const compare = (a, b) => comparator(view.sort, Date.now() / 1000, bestValue)(a.run, b.run);

  /** Move one row to its place; the others are in order already. */
  function place(row) {
    const prev = row.tr.previousElementSibling;
    const next = row.tr.nextElementSibling;
    const inPlace =
      row.tr.parentNode === tbody &&
      (!prev || compare(rows.get(prev.dataset.runId), row) <= 0) &&
      (!next || compare(row, rows.get(next.dataset.runId)) <= 0);
    if (inPlace) return;
    for (const other of tbody.children) {
      if (other !== row.tr && compare(row, rows.get(other.dataset.runId)) < 0) {
        tbody.insertBefore(row.tr, other);
        return;
      }
    }
    tbody.append(row.tr);
  }

  /** Put every row in order, moving only those out of place (focus and scroll stay put). */
  function reorder() {
    const now = Date.now() / 1000;
    const order = comparator(view.sort, now, bestValue);
    const sorted = [...rows.values()].sort((a, b) => order(a.run, b.run));
    let cursor = tbody.firstElementChild;
    for (const row of sorted) {
      if (row.tr === cursor) cursor = cursor.nextElementSibling;
      else tbody.insertBefore(row.tr, cursor);
    }
  }

  function filterRow(row) {
    row.tr.hidden = !matches(row.run, view, query);
  }

  function changed() {
    if (onChange) onChange([...rows.values()].map((r) => r.run));
  }

  function upsertOne(run) {
    let row = rows.get(run.id);
    if (!row) {
      row = buildRow();
      rows.set(run.id, row);
      fillRow(row, run);
      observer.observe(row.tr);
    } else fillRow(row, run);
    row.check.checked = selected.has(run.id);
    row.tr.dataset.selected = String(row.check.checked);
    filterRow(row);
    wantBest(row); // folds a new best from the summary at once, refetches (throttled) after
    showBest(row);
    return row;
  }

  function showHeaders() {
    table.dataset.best = view.metric ? "on" : "off";
    const bestLabel = table.tHead.querySelector('button[data-sort="best"]');
    bestLabel.textContent = view.metric ? `${bestDir(view)} ${view.metric}` : "Best";
    bestLabel.title = view.metric ? `the ${bestDir(view)} of ${view.metric} over each whole run` : "";
    for (const th of table.tHead.querySelectorAll("th[data-col]")) {
      const on = view.sort?.key === th.dataset.col;
      th.setAttribute("aria-sort", on ? (view.sort.dir === "asc" ? "ascending" : "descending") : "none");
    }
  }

  setInterval(() => {
    const now = Date.now() / 1000;
    for (const row of rows.values()) tickRow(row, now);
    if (view.sort?.key === "duration") reorder(); // running runs' durations grow past finished ones
  }, 1000);

  return {
    /** Replace all rows with a snapshot. */
    setRuns(runs) {
      for (const row of rows.values()) observer.unobserve(row.tr);
      rows.clear();
      onScreen.clear();
      tbody.replaceChildren();
      for (const run of runs) upsertOne(run);
      reorder();
      // A run no longer listed (another project, say) cannot stay selected unseen.
      const before = selected.size;
      for (const id of [...selected]) if (!rows.has(id)) selected.delete(id);
      if (selected.size !== before) selectionChanged();
      changed();
    },
    /** Insert or update one run. */
    upsert(run) {
      place(upsertOne(run));
      changed();
    },
    /** Show only runs whose name, id, project, group or tags contain `text`. */
    setQuery(value) {
      query = value.trim().toLowerCase();
      for (const row of rows.values()) filterRow(row);
      for (const row of rows.values()) wantBest(row);
      changed();
    },
    /** Apply the status and tag filters, the sort and the best-value metric of a view. */
    setView(next) {
      view = { ...next };
      showHeaders();
      for (const row of rows.values()) filterRow(row);
      for (const row of rows.values()) {
        wantBest(row);
        showBest(row);
      }
      reorder();
      changed();
    },
    /** The cache learned a new best value for (run, key). */
    bestChanged(runId, key) {
      const row = rows.get(runId);
      if (!row || key !== view.metric) return;
      showBest(row);
      if (view.sort?.key === "best") place(row);
    },
    /** Is (run, key) still worth fetching (visible, filtered in, the chosen metric)? */
    wants(runId, key) {
      const row = rows.get(runId);
      return Boolean(row) && key === view.metric && isWanted(row);
    },
    /** The runs the filters let through. */
    shown() {
      return [...rows.values()].filter((r) => !r.tr.hidden).map((r) => r.run);
    },
  };
}
