// Leaderboards: one sortable table per table name (tabs when there are several), live replace or
// append. Columns come from the first row (keys first seen in later rows follow). A header click
// sorts descending, a second click ascending. Every cell is text.

import { node } from "./dom.js";
import { formatCell, formatCount, formatScalar } from "./format.js";

export const MAX_ROWS = 10_000; // rows held per table unless the table's own max_rows is smaller
export const SHOWN_ROWS = 1_000; // rows drawn: the rest are held and sorted, not drawn
const MAX_TABLES = 50;

const missing = (v) => v === null || v === undefined;

/** Ascending order of two cells: numbers by value before text by localeCompare. */
export function compareCells(a, b) {
  const na = typeof a === "number";
  const nb = typeof b === "number";
  if (na && nb) return a - b;
  if (na !== nb) return na ? -1 : 1;
  return formatScalar(a).localeCompare(formatScalar(b), undefined, { numeric: true });
}

/** `rows` sorted by `column` ("desc" or "asc"), stable; rows missing the value go last. */
export function sortRows(rows, column, direction) {
  const sign = direction === "asc" ? 1 : -1;
  return rows
    .map((row, i) => [row, i])
    .sort(([a, i], [b, j]) => {
      const va = a[column];
      const vb = b[column];
      if (missing(va) || missing(vb)) return missing(va) === missing(vb) ? i - j : missing(va) ? 1 : -1;
      return sign * compareCells(va, vb) || i - j;
    })
    .map(([row]) => row);
}

/** The columns of `rows`: the first row's keys in its order, then keys first seen later. */
export function columnsOf(rows) {
  const seen = new Set();
  for (const row of rows) for (const key of Object.keys(row || {})) seen.add(key);
  return [...seen];
}

/** `name` as text with a chance to wrap after each `_ / . -`: a long column name wraps at its
 * words rather than widening the table past its box. */
function wrappable(name) {
  const out = document.createDocumentFragment();
  name.split(/(?<=[_/.-])/).forEach((part, i) => {
    if (i) out.append(node("wbr"));
    out.append(part);
  });
  return out;
}

/** Mount in `el`; `onCount(rows, tables)` reports the table on show, `onWidth(px)` the width
 * its box needs to show every column whole without scrolling sideways (0 with no rows). */
export function mount(el, { onCount, onWidth } = {}) {
  const tabs = node("div", "lb-tabs");
  tabs.setAttribute("role", "tablist");
  const scroll = node("div", "lb-scroll");
  const table = node("table", "leaderboard");
  const empty = node("p", "empty lb-empty");
  const hint = node("code", "", 'run.table("leaderboard", rows)');
  const more = node("p", "lb-more");
  more.hidden = true;
  scroll.append(table, more);
  el.append(tabs, scroll, empty);

  const tables = new Map(); // name -> { rows, maxRows, sort: {column, direction} | null }
  let shown = null;
  let frame = 0;

  function render() {
    frame = 0;
    tabs.hidden = tables.size < 2;
    for (const tab of tabs.children) tab.setAttribute("aria-selected", String(tab.dataset.name === shown));
    const t = shown === null ? null : tables.get(shown);
    el.dataset.table = shown ?? "";
    empty.hidden = Boolean(t && t.rows.length);
    scroll.hidden = !t || !t.rows.length;
    if (!t) empty.replaceChildren("No tables yet. A producer fills one with ", hint, ".");
    else if (!t.rows.length) empty.textContent = `Table “${shown}” has no rows yet.`;
    if (onCount) onCount(t ? t.rows.length : 0, tables.size);
    if (!t || !t.rows.length) {
      table.replaceChildren();
      measure();
      return;
    }
    const columns = columnsOf(t.rows);
    const rows = t.sort ? sortRows(t.rows, t.sort.column, t.sort.direction) : t.rows;
    const head = node("thead");
    const tr = node("tr");
    for (const column of columns) {
      const th = node("th", typeof rows[0][column] === "number" ? "num" : "");
      th.dataset.col = column;
      th.scope = "col";
      const sorted = t.sort && t.sort.column === column;
      th.setAttribute("aria-sort", sorted ? (t.sort.direction === "asc" ? "ascending" : "descending") : "none");
      const b = node("button", "lb-sort");
      b.append(wrappable(column));
      b.type = "button";
      b.title = `sort by ${column}`;
      th.append(b);
      tr.append(th);
    }
    head.append(tr);
    const body = node("tbody");
    for (const row of rows.slice(0, SHOWN_ROWS)) {
      const line = node("tr");
      for (const column of columns) {
        const value = row[column];
        const text = formatCell(value);
        const td = node("td", typeof value === "number" ? "num" : missing(value) ? "none" : "", text);
        if (typeof value !== "number" && text.length > 24) td.title = text;
        line.append(td);
      }
      body.append(line);
    }
    table.replaceChildren(head, body);
    more.hidden = rows.length <= SHOWN_ROWS;
    more.textContent = `showing the first ${formatCount(SHOWN_ROWS)} of ${formatCount(rows.length)} rows`;
    measure();
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(render);
  }

  // The table's own width (as if nothing squeezed it) plus the box's vertical scrollbar. Not
  // measured while hidden (another tab): the resize on showing it measures it then.
  function measure() {
    if (!onWidth || !el.offsetWidth) return;
    if (scroll.hidden) {
      onWidth(0);
      return;
    }
    table.style.width = "max-content";
    const natural = table.offsetWidth;
    table.style.width = "";
    onWidth(natural + scroll.offsetWidth - scroll.clientWidth);
  }
  // Deferred a frame: the caller may move the box, which must not resize it in this callback.
  new ResizeObserver(() => requestAnimationFrame(measure)).observe(el);

  function tabFor(name) {
    if (tables.has(name)) return tables.get(name);
    if (tables.size >= MAX_TABLES) return null;
    const entry = { rows: [], maxRows: MAX_ROWS, sort: null };
    tables.set(name, entry);
    const tab = node("button", "lb-tab", name);
    tab.type = "button";
    tab.dataset.name = name;
    tab.setAttribute("role", "tab");
    const next = [...tabs.children].find((c) => c.dataset.name > name);
    tabs.insertBefore(tab, next || null);
    if (shown === null) shown = name;
    return entry;
  }

  tabs.addEventListener("click", (e) => {
    const tab = e.target.closest(".lb-tab");
    if (!tab) return;
    shown = tab.dataset.name;
    render();
  });
  table.addEventListener("click", (e) => {
    const th = e.target.closest("th");
    const t = tables.get(shown);
    if (!th || !t) return;
    const column = th.dataset.col;
    const again = t.sort && t.sort.column === column;
    t.sort = { column, direction: again && t.sort.direction === "desc" ? "asc" : "desc" };
    render();
  });

  return {
    /** From /state: {name: {version, rows}}. */
    setTables(all) {
      tables.clear();
      tabs.replaceChildren();
      const names = Object.keys(all || {}).sort();
      if (!names.includes(shown)) shown = null;
      for (const name of names) {
        const entry = tabFor(name);
        if (entry) entry.rows = (all[name].rows || []).slice(-MAX_ROWS);
      }
      render();
    },
    /** A live `table` message: replace the rows, or append keeping `max_rows`. */
    onTable(msg) {
      const entry = tabFor(msg.name);
      if (!entry) return;
      const incoming = msg.rows || [];
      if (msg.mode === "append") {
        entry.maxRows = Math.min(MAX_ROWS, msg.max_rows || MAX_ROWS);
        entry.rows = entry.rows.concat(incoming).slice(-entry.maxRows);
      } else {
        entry.rows = incoming.slice(-MAX_ROWS);
      }
      if (msg.name === shown) schedule();
      else tabs.hidden = tables.size < 2;
    },
  };
}
