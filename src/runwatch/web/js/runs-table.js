// The runs table: one row per run, newest first, upserted in place as runs change.

import { formatAgo, formatDuration, formatValue } from "./format.js";
import { isFinal, mountPill } from "./status.js";

const SUMMARY_KEYS = 3;

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
  const duration = td("col-num col-duration");
  const updated = td("col-num col-updated");
  tr.append(statusCell, nameCell, project, tags, summary, duration, updated);
  return { tr, pill: mountPill(pillEl), link, badge, sub, project, tags, summary, duration, updated, run: null };
}

function fillRow(row, run) {
  row.run = run;
  row.tr.dataset.runId = run.id;
  row.tr.dataset.status = run.status;
  row.tr.dataset.project = run.project;
  row.pill.set(run.status);
  row.link.textContent = run.name;
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
  const start = run.started_at ?? run.created_at;
  const end = run.ended_at ?? (isFinal(run.status) ? run.last_update : now);
  row.duration.textContent = start ? formatDuration(end - start) : "—";
  row.updated.textContent = formatAgo(run.last_update ?? run.created_at, now);
}

function haystack(run) {
  return [run.name, run.id, run.project, run.group || "", ...(run.tags || [])].join(" ").toLowerCase();
}

/** Mount on a <tbody>; `onChange(runs)` is told after every change (for counts, empty state). */
export function mount(tbody, { onChange } = {}) {
  const rows = new Map(); // run id -> row
  let query = "";

  function visible(row) {
    return !query || haystack(row.run).includes(query);
  }

  function place(row) {
    // Newest first by creation time; a new run lands on top without re-sorting the table.
    const created = row.run.created_at;
    for (const other of tbody.children) {
      if (other === row.tr) continue;
      const run = rows.get(other.dataset.runId)?.run;
      if (run && run.created_at < created) {
        tbody.insertBefore(row.tr, other);
        return;
      }
    }
    tbody.append(row.tr);
  }

  function changed() {
    if (onChange) onChange([...rows.values()].map((r) => r.run));
  }

  function upsertOne(run, atEnd = false) {
    let row = rows.get(run.id);
    const fresh = !row;
    if (fresh) {
      row = buildRow();
      rows.set(run.id, row);
    }
    fillRow(row, run);
    row.tr.hidden = !visible(row);
    if (fresh && atEnd) tbody.append(row.tr);
    else if (fresh) place(row);
  }

  setInterval(() => {
    const now = Date.now() / 1000;
    for (const row of rows.values()) tickRow(row, now);
  }, 1000);

  return {
    /** Replace all rows with a snapshot (newest first, as the API lists them). */
    setRuns(runs) {
      rows.clear();
      tbody.replaceChildren();
      for (const run of runs) upsertOne(run, true);
      changed();
    },
    /** Insert or update one run. */
    upsert(run) {
      upsertOne(run);
      changed();
    },
    /** Show only runs whose name, id, project, group or tags contain `text`. */
    setQuery(value) {
      query = value.trim().toLowerCase();
      for (const row of rows.values()) row.tr.hidden = !visible(row);
    },
  };
}
