// The configs of several runs side by side: flattened keys as rows, runs as columns, and the rows
// whose values differ marked (data-differs) so they stand out. Every value is rendered as text.

import { flattenConfig } from "./format.js";

/**
 * One row per flattened key of any config, sorted: {key, values, differs}. `values` holds each
 * run's text for the key (null where a run does not have it); a missing key counts as different.
 */
export function diffRows(configs) {
  const maps = configs.map((c) => new Map(flattenConfig(c || {})));
  const keys = [...new Set(maps.flatMap((m) => [...m.keys()]))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return keys.map((key) => {
    const values = maps.map((m) => (m.has(key) ? m.get(key) : null));
    return { key, values, differs: values.some((v) => v !== values[0]) };
  });
}

function cell(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) {
    node.textContent = text;
    node.title = text;
  }
  return node;
}

/**
 * Render the table for `runs` ([{id, name, color, config}]) into `root`.
 * Returns {rows, differing, setOnlyDiffs(on)}.
 */
export function mount(root, runs) {
  const rows = diffRows(runs.map((r) => r.config));
  const differing = rows.filter((r) => r.differs).length;
  root.replaceChildren();
  if (rows.length === 0) {
    const empty = cell("p", "empty");
    empty.textContent = "None of these runs recorded a config.";
    root.append(empty);
    return { rows: 0, differing: 0, setOnlyDiffs() {} };
  }

  const table = document.createElement("table");
  table.className = "config-diff-table";
  const headRow = document.createElement("tr");
  headRow.append(cell("th", "cd-key-head", "key"));
  for (const run of runs) {
    const th = document.createElement("th");
    th.className = "cd-run";
    th.dataset.run = run.id;
    th.style.setProperty("--swatch", run.color);
    th.append(cell("span", "cd-swatch"), cell("span", "cd-run-name", run.name));
    headRow.append(th);
  }
  const thead = document.createElement("thead");
  thead.append(headRow);

  const tbody = document.createElement("tbody");
  for (const row of rows) {
    const tr = document.createElement("tr");
    tr.dataset.key = row.key;
    tr.dataset.differs = String(row.differs);
    tr.append(cell("th", "cd-key", row.key));
    row.values.forEach((value, i) => {
      const td = value === null ? cell("td", "cd-value cd-missing", "—") : cell("td", "cd-value", value);
      if (value === null) td.title = "not set in this run";
      td.dataset.run = runs[i].id;
      tr.append(td);
    });
    tbody.append(tr);
  }
  table.append(thead, tbody);
  root.append(table);

  return {
    rows: rows.length,
    differing,
    /** Hide the rows where every run agrees. */
    setOnlyDiffs(on) {
      root.classList.toggle("only-diffs", Boolean(on));
    },
  };
}
