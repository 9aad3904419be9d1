// The group-by panel: one row per value of the run's group, its status or a config key, with
// how many runs have it and the mean ± std (min – max) of the chosen summary columns, from
// GET /api/v1/run-groups; a row's click narrows the list to its runs.

import { node } from "./dom.js";
import { formatCount, formatValue } from "./format.js";
import { formatStats, groupQuery } from "./runs-view.js";

/** A group's value as text: strings as they are, other JSON as JSON, "(none)" for null. */
function valueText(value) {
  if (value === null || value === undefined) return "(none)";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** What the note under the groups says: that only the largest groups are shown, or nothing. */
export function groupsNote(answer) {
  if (!answer.more) return "";
  const runs = answer.groups.reduce((sum, group) => sum + group.runs, 0);
  const shown = answer.groups.length;
  return `The ${formatCount(shown)} largest groups (${formatCount(runs)} runs); smaller groups are not shown.`;
}

/** Draw `answer` ({by, groups, more}) for the summary fields `values` into the panel's <table>,
 * and the note saying whether groups were left out into `note`. A row's click (or Enter) gives
 * `onPick` the query naming its runs (rows no query names take none). */
export function showGroups(table, note, answer, values, onPick) {
  note.textContent = groupsNote(answer);
  note.hidden = !note.textContent;
  const headRow = node("tr");
  headRow.append(node("th", "col-group-value", answer.by), node("th", "col-num", "Runs"));
  for (const field of values) headRow.append(node("th", "col-num", field));
  table.tHead.replaceChildren(headRow);
  const rows = answer.groups.map((group) => {
    const tr = node("tr", "group-row");
    const query = groupQuery(answer.by, group.value);
    if (query !== null) {
      tr.dataset.query = query;
      tr.tabIndex = 0;
      tr.title = `show these runs: ${query}`;
      tr.addEventListener("click", () => onPick(query));
      tr.addEventListener("keydown", (event) => event.key === "Enter" && onPick(query));
    }
    tr.append(node("td", "col-group-value", valueText(group.value)), node("td", "col-num", formatCount(group.runs)));
    for (const field of values) {
      const stats = group.fields[field];
      const cell = node("td", "col-num col-stats");
      cell.append(node("div", "stats-mean", formatStats(stats, formatValue)));
      if (stats && stats.count) {
        const range = `${formatValue(stats.min)} – ${formatValue(stats.max)} · n=${formatCount(stats.count)}`;
        cell.append(node("div", "stats-range", range));
      }
      tr.append(cell);
    }
    return tr;
  });
  table.tBodies[0].replaceChildren(...rows);
}
