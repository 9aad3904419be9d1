// The runs page's bar: status and tag filters, the query box (and its error), the column
// picker and the group-by picker. Values follow the view; what the person does is reported.

import { parseField } from "./runs-view.js";
import { fieldName } from "./sweep-fields.js";
import { FINAL_STATUSES } from "./status.js";

const STATUSES = ["queued", "running", ...FINAL_STATUSES];
const MAX_TAGS = 200; // tags offered (those of the runs held, sorted; the chosen one always)
// The picker's last option: a field typed by name (the picker lists the fields of the newest
// runs the server samples; an older run's key is still a column).
const OTHER = "\u0000other";
// The run's own fields the runs can be grouped by (GET /api/v1/run-groups?by=group), beside
// the config keys.
const RUN_GROUPS = ["group", "status"];

/** Make a select's options exactly `items` ([value, label]). */
function setOptions(select, items) {
  select.replaceChildren(
    ...items.map(([value, label]) => {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = label;
      return option;
    }),
  );
}

/** Options grouped under <optgroup> labels: `groups` is [[label, [[value, text], …]], …]. */
function setGroups(select, first, groups) {
  setOptions(select, [first]);
  for (const [label, items] of groups) {
    if (!items.length) continue;
    const group = document.createElement("optgroup");
    group.label = label;
    for (const [value, text] of items) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = text;
      group.append(option);
    }
    select.append(group);
  }
}

/**
 * Mount on the bar's elements {status, tag, query, queryForm, queryError, addColumn, columnName,
 * groupBy};
 * `onInput(patch)` is told what the person changed ({status}, {tag}, {q}, {cols}, {group}).
 */
export function mount(els, onInput) {
  const { status, tag, query, queryForm, queryError, addColumn, columnName, groupBy } = els;
  let view = { status: "", tag: "", q: "", cols: [], group: "" };
  let tags = new Set();
  let fields = { config: {}, summary: {} };

  function showTags() {
    const list = [...new Set([...tags, ...(view.tag ? [view.tag] : [])])].sort().slice(0, MAX_TAGS);
    setOptions(tag, [["", "All tags"], ...list.map((t) => [t, t])]);
    tag.value = view.tag;
  }

  function showFields() {
    const sorted = (doc) => Object.entries(fields[doc]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const unused = (items) => items.filter(([name]) => !view.cols.includes(name));
    const config = sorted("config").map(([name, n]) => [name, `${name} (${n})`]);
    const summary = sorted("summary").flatMap(([name, n]) => summaryChoices(name, n));
    setGroups(addColumn, ["", "Add column…"], [
      ["config", unused(config)],
      ["summary", unused(summary)],
      ["by name", [[OTHER, "Another field…"]]],
    ]);
    const keys = Object.keys(fields.config);
    if (view.group && !RUN_GROUPS.includes(view.group) && !keys.includes(view.group)) keys.push(view.group);
    setGroups(groupBy, ["", "—"], [
      ["run", RUN_GROUPS.map((k) => [k, k])],
      ["config", keys.sort().map((k) => [k, k])],
    ]);
    groupBy.value = view.group;
  }

  setOptions(status, [["", "All statuses"], ...STATUSES.map((s) => [s, s])]);
  status.addEventListener("change", () => onInput({ status: status.value }));
  tag.addEventListener("change", () => onInput({ tag: tag.value }));
  queryForm.addEventListener("submit", (event) => {
    event.preventDefault();
    onInput({ q: query.value.trim() });
  });
  addColumn.addEventListener("change", () => {
    if (addColumn.value === OTHER) {
      columnName.hidden = false;
      columnName.focus();
    } else if (addColumn.value) onInput({ cols: [...view.cols, addColumn.value] });
    addColumn.value = "";
  });
  columnName.addEventListener("keydown", (event) => {
    if (event.key === "Escape") columnName.hidden = true;
    if (event.key !== "Enter") return;
    event.preventDefault();
    const name = columnName.value.trim();
    const field = parseField(name);
    // Only a config or summary field: the fixed columns are always shown.
    if (!field || field.column) {
      columnName.setCustomValidity("a field such as config.lr, summary.acc or summary.acc.max");
      columnName.reportValidity();
      return;
    }
    columnName.setCustomValidity("");
    columnName.value = "";
    columnName.hidden = true;
    if (!view.cols.includes(name)) onInput({ cols: [...view.cols, name] });
  });
  columnName.addEventListener("input", () => columnName.setCustomValidity(""));
  groupBy.addEventListener("change", () => onInput({ group: groupBy.value }));

  return {
    /** Show a view's values (the query box only when it is not being edited into another). */
    show(next, { keepQuery = false } = {}) {
      view = { ...next };
      status.value = view.status;
      if (!keepQuery) query.value = view.q;
      showTags();
      showFields();
    },
    /** The tags of the runs held become options. */
    addTags(runs) {
      const before = tags.size;
      for (const run of runs) for (const t of run.tags || []) if (tags.size < MAX_TAGS) tags.add(t);
      if (tags.size !== before) showTags();
    },
    /** The fields /api/v1/run-fields listed: {config: {name: runs}, summary: {…}}. */
    setFields(next) {
      fields = { config: next.config || {}, summary: next.summary || {} };
      showFields();
    },
    /** The server's refusal of the query (its message has the caret picture), or "" to clear. */
    showQueryError(text) {
      queryError.textContent = text;
      queryError.hidden = !text;
    },
  };
}

/** A summary field's picker options ([value, label]): its last value (as listed, with how many
 * runs have it), then its min and max over the run (`summary.KEY.min`, `summary.KEY.max`). */
export function summaryChoices(name, runs) {
  const field = parseField(name);
  if (!field || field.doc !== "summary") return [[name, `${name} (${runs})`]];
  const stat = (s) => fieldName("summary", field.keys, s);
  return [
    [name, `${name} · last (${runs})`],
    [stat("min"), `${name} · min`],
    [stat("max"), `${name} · max`],
  ];
}

/** The summary fields among `cols` (last, min or max), whose statistics a group shows. */
export function summaryColumns(cols) {
  return cols.filter((c) => parseField(c)?.doc === "summary");
}
