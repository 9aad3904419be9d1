// The Alerts table: newest first, at most MAX_ALERTS rows, an alert updated in place when its
// actions progress (a webhook retried, delivered or failed). Every string is set as text.

import { formatAgo, formatDateTime } from "./format.js";
import { describeOutcome } from "./rules-format.js";

export const MAX_ALERTS = 500;

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

function row(alert) {
  const tr = document.createElement("tr");
  tr.className = "alert-row";
  tr.dataset.id = String(alert.id);
  tr.dataset.level = alert.level;
  tr.dataset.run = alert.run_id;
  const when = cell(formatAgo(alert.ts, Date.now() / 1000), "col-num col-updated");
  when.title = formatDateTime(alert.ts);
  const run = document.createElement("td");
  run.className = "alert-run";
  const link = document.createElement("a");
  link.className = "run-link";
  link.href = `/runs/${encodeURIComponent(alert.run_id)}`;
  link.textContent = alert.run_name || alert.run_id;
  link.title = link.textContent; // the whole name, when the cell cuts it
  run.append(link);
  const actions = document.createElement("td");
  actions.className = "alert-actions";
  for (const outcome of alert.actions || []) {
    const item = document.createElement("div");
    item.className = "alert-action";
    item.dataset.state = outcome.state;
    item.textContent = describeOutcome(outcome);
    actions.append(item);
  }
  tr.append(when, cell(alert.level, "alert-level"), cell(alert.rule_name, "alert-rule"), run, cell(alert.message, "alert-message"), actions);
  return tr;
}

/** Mount on a <tbody>; onChange(count) after each change. Returns {setAlerts, upsert}. */
export function mount(tbody, { onChange = () => {} } = {}) {
  const rows = new Map(); // id -> <tr>

  function trim() {
    while (rows.size > MAX_ALERTS) {
      const oldest = Math.min(...rows.keys());
      rows.get(oldest).remove();
      rows.delete(oldest);
    }
  }

  function upsert(alert) {
    const fresh = row(alert);
    const old = rows.get(alert.id);
    if (old) old.replaceWith(fresh);
    else {
      // Newest first: put it before the first row with a smaller id.
      const next = [...rows.entries()].filter(([id]) => id < alert.id).sort((a, b) => b[0] - a[0])[0];
      tbody.insertBefore(fresh, next ? next[1] : null);
    }
    rows.set(alert.id, fresh);
    trim();
    onChange(rows.size);
  }

  function setAlerts(alerts) {
    rows.clear();
    tbody.replaceChildren();
    for (const alert of alerts) upsert(alert);
    onChange(rows.size);
  }

  return { setAlerts, upsert };
}
