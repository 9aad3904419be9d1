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
  const duration = td("col-num col-duration");
  const updated = td("col-num col-updated");
  tr.append(selectCell, statusCell, nameCell, project, tags, summary, duration, updated);
  return { tr, check, pill: mountPill(pillEl), link, badge, sub, project, tags, summary, duration, updated, run: null };
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
  const start = run.started_at ?? run.created_at;
  const end = run.ended_at ?? (isFinal(run.status) ? run.last_update : now);
  row.duration.textContent = start ? formatDuration(end - start) : "—";
  row.updated.textContent = formatAgo(run.last_update ?? run.created_at, now);
}

function haystack(run) {
  return [run.name, run.id, run.project, run.group || "", ...(run.tags || [])].join(" ").toLowerCase();
}

/**
 * Mount on a <tbody>; `onChange(runs)` is told after every change (for counts, empty state),
 * `onSelect(ids)` after the set of checked runs changed (ids in the order they were checked).
 */
export function mount(tbody, { onChange, onSelect } = {}) {
  const rows = new Map(); // run id -> row
  const selected = new Set(); // checked run ids, in the order they were checked
  let query = "";

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
    row.check.checked = selected.has(run.id);
    row.tr.dataset.selected = String(row.check.checked);
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
      // A run no longer listed (another project, say) cannot stay selected unseen.
      const before = selected.size;
      for (const id of [...selected]) if (!rows.has(id)) selected.delete(id);
      if (selected.size !== before) selectionChanged();
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
