// The runs table: a virtualized body over a page cache (runs-pages.js). Rows have one fixed
// height; only the rows in and near view are in the DOM (a bounded pool, refilled on scroll),
// between two spacer rows (each in a <tbody> of its own, so the body holds only runs) that
// give the scrollbar the whole list's height.

import { node } from "./dom.js";
import { formatAgo, formatCount, formatDuration, formatScalar, formatValue, summaryText } from "./format.js";
import { firstMetricKeys } from "./metric-order.js";
import { durationOf, fieldValue, sortParts } from "./runs-view.js";
import { mountLoss, mountPill } from "./status.js";

export const ROW_HEIGHT = 40; // px; style.css gives tr.run-row the same height
export const OVERSCAN = 10; // rows drawn above and below the view
export const MAX_DOM_ROWS = 150; // rows in the DOM at most, however tall the window
const SUMMARY_KEYS = 3;
// Clicks on these keep their own meaning instead of opening the run.
const INTERACTIVE = "a, button, input, label, select, textarea, .col-select";
// The fixed columns: [class, label, the field a click sorts by (or null)].
const FIXED = [
  ["col-status", "Status", "status"],
  ["col-name", "Name", "name"],
  ["col-project", "Project", "project"],
  ["col-tags", "Tags", null],
  ["col-summary", "Latest", null],
  ["col-num col-duration", "Duration", null],
  ["col-num col-updated", "Last update", "updated"],
];

/** A value of an added column as text: numbers as metrics are shown, other JSON as JSON. */
export function cellText(value) {
  if (value === undefined || value === null) return "—";
  if (typeof value === "number") return formatValue(value);
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/**
 * Mount on the scrolling box and its <table>. `onSort(field)` when a sortable header is
 * clicked, `onRemoveColumn(field)` when an added column's × is, `onSelect(ids)` after the set of
 * checked runs changed (ids in the order they were checked). A shift-click on a checkbox checks
 * (or unchecks) the loaded rows from the last one clicked to it; the header's checkbox checks
 * the loaded rows from the top, or unchecks every run when some are checked. Checking many runs
 * at once stops at `maxBulk` checked runs.
 */
export function mount(scroller, table, { onSort, onRemoveColumn, onSelect, maxBulk }) {
  const head = table.tHead.rows[0];
  const tbody = table.tBodies[0];
  const topSpacer = node("tr", "runs-spacer");
  const bottomSpacer = node("tr", "runs-spacer");
  const topBody = node("tbody");
  const bottomBody = node("tbody");
  topBody.append(topSpacer);
  bottomBody.append(bottomSpacer);
  tbody.before(topBody);
  tbody.after(bottomBody);
  const selected = new Set(); // checked run ids, in the order they were checked
  let allBox = null; // the header's checkbox
  let anchor = null; // the last checkbox clicked, {index, id}: where a shift-click's range starts
  let pool = []; // drawn rows, top to bottom: {tr, cells…, run, index}
  let pages = null;
  let cols = [];
  let sort = "";
  let frame = 0;

  function spacerCell(tr) {
    const cell = node("td");
    cell.colSpan = FIXED.length + 1 + cols.length;
    tr.replaceChildren(cell);
  }

  function showHead() {
    const { field, descending } = sortParts(sort);
    const th = (className, label, sortBy, removable) => {
      const cell = node("th", className);
      if (sortBy) {
        cell.dataset.col = sortBy;
        cell.setAttribute("aria-sort", sortBy === field ? (descending ? "descending" : "ascending") : "none");
        const button = node("button", "sort", label);
        button.type = "button";
        button.dataset.sort = sortBy;
        button.title = `sort by ${sortBy}`;
        cell.append(button);
      } else cell.textContent = label;
      if (removable) {
        const remove = node("button", "col-remove", "×");
        remove.type = "button";
        remove.dataset.remove = sortBy;
        remove.setAttribute("aria-label", `remove column ${sortBy}`);
        cell.append(remove);
      }
      return cell;
    };
    const select = node("th", "col-select");
    allBox = node("input", "run-select-all");
    allBox.type = "checkbox";
    select.append(allBox);
    showAll();
    head.replaceChildren(
      select,
      ...FIXED.map(([c, label, by]) => th(c, label, by, false)),
      ...cols.map((f) => th("col-field", f, f, true)),
    );
    spacerCell(topSpacer);
    spacerCell(bottomSpacer);
  }

  head.addEventListener("click", (event) => {
    if (event.target === allBox) {
      if (selected.size) selected.clear();
      else if (pages?.count) selectRange(0, pages.count - 1, true);
      anchor = null;
      showChecks();
      onSelect([...selected]);
      return;
    }
    const remove = event.target.closest("button[data-remove]");
    if (remove) onRemoveColumn(remove.dataset.remove);
    else {
      const button = event.target.closest("button[data-sort]");
      if (button) onSort(button.dataset.sort);
    }
  });

  function buildRow() {
    const tr = node("tr", "run-row");
    tr.tabIndex = 0; // Enter on a focused row opens the run, as a click anywhere on it does
    tr.style.height = `${ROW_HEIGHT}px`;
    const selectCell = node("td", "col-select");
    const check = node("input", "run-select");
    check.type = "checkbox";
    selectCell.append(check);
    const statusCell = node("td", "col-status");
    const pillEl = node("span");
    statusCell.append(pillEl);
    const nameCell = node("td", "col-name");
    const nameLine = node("div", "run-name-line");
    const link = node("a", "run-link");
    const badge = node("span", "live-badge live-badge-sm", "● live");
    badge.dataset.live = "true";
    const lossEl = node("span", "loss-chip-sm");
    nameLine.append(link, badge, lossEl);
    const sub = node("div", "run-sub");
    nameCell.append(nameLine, sub);
    const project = node("td", "col-project");
    const tags = node("td", "col-tags");
    const summary = node("td", "col-summary");
    const duration = node("td", "col-num col-duration");
    const updated = node("td", "col-num col-updated");
    const fields = cols.map(() => node("td", "col-field"));
    tr.append(selectCell, statusCell, nameCell, project, tags, summary, duration, updated, ...fields);
    const pill = mountPill(pillEl);
    const loss = mountLoss(lossEl);
    return { tr, check, pill, loss, link, badge, sub, project, tags, summary, duration, updated, fields, run: null };
  }

  function fillRow(row, run, index) {
    row.run = run;
    row.tr.dataset.index = String(index);
    if (!run) {
      row.tr.classList.add("run-row-loading");
      delete row.tr.dataset.runId;
      row.pill.set("");
      row.link.textContent = "…";
      row.link.removeAttribute("href");
      row.badge.hidden = true;
      row.loss.set(0);
      row.check.hidden = true;
      for (const cell of [row.sub, row.project, row.tags, row.summary, row.duration, row.updated, ...row.fields]) {
        cell.textContent = "";
      }
      return;
    }
    row.tr.classList.remove("run-row-loading");
    row.tr.dataset.runId = run.id;
    row.tr.dataset.status = run.status;
    row.pill.set(run.status, run.stopped_early);
    row.link.textContent = run.name;
    row.link.href = `/runs/${encodeURIComponent(run.id)}`;
    row.check.hidden = false;
    row.check.setAttribute("aria-label", `select ${run.name} to compare`);
    row.check.checked = selected.has(run.id);
    row.tr.dataset.selected = String(row.check.checked);
    row.badge.hidden = run.status !== "running";
    row.loss.set(run.lost);
    row.sub.textContent = run.group ? `${run.id} · ${run.group}` : run.id;
    row.project.textContent = run.project;
    row.tags.replaceChildren(...(run.tags || []).map((t) => node("span", "tag", t)));
    const keys = firstMetricKeys(Object.keys(run.summary || {}), SUMMARY_KEYS);
    row.summary.replaceChildren(
      ...keys.map((k) => {
        const item = node("span", "summary-item");
        const value = node("span", "summary-value", summaryText(run.summary[k]));
        value.title = formatScalar(run.summary[k]); // the whole text, the exact number
        item.append(node("span", "summary-key", k), value);
        return item;
      }),
    );
    cols.forEach((f, i) => {
      row.fields[i].textContent = cellText(fieldValue(run, f));
    });
    tickRow(row, Date.now() / 1000);
  }

  function tickRow(row, now) {
    const run = row.run;
    if (!run) return;
    row.duration.textContent = formatDuration(durationOf(run, now));
    row.updated.textContent = formatAgo(run.last_update ?? run.created_at, now);
  }

  /** Draw the rows in and near view, reusing the pool's rows; ask the cache for their pages. */
  function render() {
    frame = 0;
    const count = pages ? pages.count : 0;
    const headHeight = table.tHead.offsetHeight;
    const top = Math.max(0, scroller.scrollTop - headHeight);
    const first = Math.max(0, Math.min(count, Math.floor(top / ROW_HEIGHT) - OVERSCAN));
    const inView = Math.ceil(scroller.clientHeight / ROW_HEIGHT) + 2 * OVERSCAN;
    const last = Math.min(count, first + Math.min(inView, MAX_DOM_ROWS)); // exclusive
    if (pages && count) pages.want(first, Math.max(first, last - 1));
    while (pool.length > last - first) pool.pop().tr.remove();
    while (pool.length < last - first) pool.push(buildRow());
    topSpacer.style.height = `${first * ROW_HEIGHT}px`;
    bottomSpacer.style.height = `${(count - last) * ROW_HEIGHT}px`;
    pool.forEach((row, k) => {
      const run = pages.runAt(first + k);
      if (row.run !== run || row.tr.dataset.index !== String(first + k) || !run) fillRow(row, run, first + k);
    });
    // Rows already in place stay in the document: one taken out, even to be put straight
    // back, loses keyboard focus (a focused row would drop it at every live update).
    pool.forEach((row, k) => {
      const at = tbody.children[k];
      if (at !== row.tr) tbody.insertBefore(row.tr, at || null);
    });
    while (tbody.children.length > pool.length) tbody.lastElementChild.remove();
    showAll(); // other runs loaded, or another list
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(render);
  }

  scroller.addEventListener("scroll", schedule, { passive: true });
  addEventListener("resize", schedule);

  /** Check or uncheck the loaded rows from index `from` to `to` (either order); adding, from
   * `from` on, stops at `maxBulk` checked runs. */
  function selectRange(from, to, checked) {
    const step = to > from ? 1 : -1;
    for (let i = from; i !== to + step; i += step) {
      if (checked && selected.size >= maxBulk) return;
      const run = pages.runAt(i);
      if (!run) continue; // a page not loaded: its rows are not seen, so not checked
      if (checked) selected.add(run.id);
      else selected.delete(run.id);
    }
  }

  /** The header's checkbox: checked when every loaded run is (or as many as it checks at
   * once), half-checked when some runs are. */
  function showAll() {
    if (!allBox) return;
    let all = selected.size >= maxBulk;
    if (selected.size && !all && pages) {
      all = pages.count > 0;
      for (const run of pages.runs()) {
        if (!selected.has(run.id)) {
          all = false;
          break;
        }
      }
    }
    allBox.checked = selected.size > 0 && all;
    allBox.indeterminate = selected.size > 0 && !all;
    const label = selected.size
      ? `uncheck the ${formatCount(selected.size)} checked run${selected.size === 1 ? "" : "s"}`
      : `check the runs loaded in the list, from the top: at most ${maxBulk}, the most Queue again picks the best of`;
    allBox.title = label;
    allBox.setAttribute("aria-label", label);
  }

  /** The drawn rows' checkboxes, and the header's, as the selection says. */
  function showChecks() {
    for (const row of pool) {
      if (!row.run) continue;
      row.check.checked = selected.has(row.run.id);
      row.tr.dataset.selected = String(row.check.checked);
    }
    showAll();
  }

  // A click, not a change: only a click says whether shift was held (Space on a focused
  // checkbox clicks it too).
  tbody.addEventListener("click", (event) => {
    const check = event.target.closest("input.run-select");
    const id = check?.closest("tr").dataset.runId;
    if (!id) return;
    const index = Number(check.closest("tr").dataset.index);
    if (event.shiftKey && anchor && anchor.index !== index && pages.runAt(anchor.index)?.id === anchor.id) {
      selectRange(anchor.index, index, check.checked);
    } else if (check.checked) selected.add(id);
    else selected.delete(id);
    anchor = { index, id };
    showChecks();
    onSelect([...selected]);
  });
  // Shift held on a checkbox would also select the text between it and the last click.
  tbody.addEventListener("mousedown", (event) => {
    if (event.shiftKey && event.target.closest("input.run-select")) event.preventDefault();
  });

  // The whole row opens its run; the link, the checkbox and selected text keep their meaning.
  function openRow(event) {
    const tr = event.target.closest("tr.run-row");
    if (!tr || event.target.closest(INTERACTIVE) || String(getSelection() || "")) return;
    const href = tr.querySelector("a.run-link")?.href;
    if (!href) return;
    if (event.ctrlKey || event.metaKey || event.button === 1) window.open(href, "_blank", "noopener");
    else location.assign(href);
  }
  tbody.addEventListener("click", openRow);
  tbody.addEventListener("auxclick", (event) => event.button === 1 && openRow(event));
  tbody.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target.matches("tr.run-row")) openRow(event);
  });

  setInterval(() => {
    const now = Date.now() / 1000;
    for (const row of pool) tickRow(row, now);
  }, 1000);

  showHead();
  return {
    /** Show another list, from the top. */
    setPages(next) {
      pages = next;
      anchor = null;
      scroller.scrollTop = 0;
      render();
    },
    /** Scroll to `top` px (as far as the list goes) and draw the rows there. */
    scrollTo(top) {
      scroller.scrollTop = top;
      render();
    },
    /** The added columns and the sort the headers show. */
    setColumns(nextCols, nextSort) {
      const rebuild = nextCols.join("\u0000") !== cols.join("\u0000");
      cols = [...nextCols];
      sort = nextSort;
      showHead();
      if (rebuild) {
        for (const row of pool) row.tr.remove();
        pool = [];
      }
      render();
    },
    /** New rows arrived (or runs changed): redraw what is in view. */
    refresh: schedule,
    /** The checked runs' ids, in the order they were checked. */
    selection: () => [...selected],
    /** The added columns, in order. */
    columns: () => [...cols],
  };
}
