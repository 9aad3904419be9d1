// The group-by panel: one row per value of a config key, with how many runs have it and the
// mean ± std (min – max) of the chosen summary columns, from GET /api/v1/run-groups.

import { formatCount, formatValue } from "./format.js";
import { formatStats } from "./runs-view.js";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

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
 * and the note saying whether groups were left out into `note`. */
export function showGroups(table, note, answer, values) {
  note.textContent = groupsNote(answer);
  note.hidden = !note.textContent;
  const headRow = el("tr");
  headRow.append(el("th", "col-group-value", answer.by), el("th", "col-num", "Runs"));
  for (const field of values) headRow.append(el("th", "col-num", field));
  table.tHead.replaceChildren(headRow);
  const rows = answer.groups.map((group) => {
    const tr = el("tr", "group-row");
    tr.append(el("td", "col-group-value", valueText(group.value)), el("td", "col-num", formatCount(group.runs)));
    for (const field of values) {
      const stats = group.fields[field];
      const cell = el("td", "col-num col-stats");
      cell.append(el("div", "stats-mean", formatStats(stats, formatValue)));
      if (stats && stats.count) {
        const range = `${formatValue(stats.min)} – ${formatValue(stats.max)} · n=${formatCount(stats.count)}`;
        cell.append(el("div", "stats-range", range));
      }
      tr.append(cell);
    }
    return tr;
  });
  table.tBodies[0].replaceChildren(...rows);
}
