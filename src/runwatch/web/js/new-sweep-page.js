// The New-sweep page: a sweep configuration built from a form (method, metric and goal, one row
// per parameter: a values list or a distribution with min and max), optionally pre-filled from a
// run template's typed parameters; POST /api/v1/sweeps, whose 422 names the key it refuses. On
// success: the sweep's id, the agent command to run its trials and a link to its page.

import { describeError, getJSON, postJSON } from "./api.js";
import { node } from "./dom.js";
import { DISTRIBUTIONS, MAX_ROWS, agentCommand, buildConfig, emptyRow, rowsFromTemplate } from "./sweep-form.js";
import { may, needs, whoami } from "./whoami.js";
import * as tokenPrompt from "./token-prompt.js";

const $ = (id) => document.getElementById(id);
tokenPrompt.install(); // before any request: a 401 anywhere opens it
const query = new URLSearchParams(location.search);
let rows = [emptyRow()];
let templates = [];
let problems = new Map(); // row -> what is wrong with it, as the last Create found
let allowed = true; // the token may create sweeps (until whoami says otherwise)

function input(value, label, onInput) {
  const field = node("input");
  field.type = "text";
  field.autocomplete = "off";
  field.value = value;
  field.setAttribute("aria-label", label);
  field.addEventListener("input", () => onInput(field.value));
  return field;
}

function select(options, value, label, onChange) {
  const field = node("select");
  for (const option of options) {
    const item = node("option", "", option);
    item.value = option;
    field.append(item);
  }
  field.value = value;
  field.setAttribute("aria-label", label);
  field.addEventListener("change", () => onChange(field.value));
  return field;
}

/** One parameter row: its name, values or a distribution, and a remove button. */
function rowElement(row) {
  const item = node("li", "sweep-param-row");
  item.dataset.kind = row.kind;
  const name = input(row.name, "parameter name", (v) => (row.name = v));
  name.className = "param-name";
  name.placeholder = "name";
  const kind = select(["values", "distribution"], row.kind, "values or a distribution", (v) => {
    row.kind = v;
    showRows();
  });
  kind.className = "param-kind";
  item.append(name, kind);
  if (row.kind === "values") {
    const values = input(row.values, "values, comma-separated", (v) => (row.values = v));
    values.className = "param-values";
    values.placeholder = "1, 2, 3";
    item.append(values);
  } else {
    const dist = select(DISTRIBUTIONS, row.distribution, "distribution", (v) => (row.distribution = v));
    dist.className = "param-distribution";
    const min = input(row.min, "min", (v) => (row.min = v));
    min.className = "param-min";
    min.placeholder = "min";
    const max = input(row.max, "max", (v) => (row.max = v));
    max.className = "param-max";
    max.placeholder = "max";
    item.append(dist, min, max);
  }
  const problem = problems.get(row) || "";
  item.dataset.invalid = problem ? "true" : "false";
  name.setAttribute("aria-invalid", item.dataset.invalid);
  const remove = node("button", "button button-ghost param-remove", "×");
  remove.type = "button";
  remove.setAttribute("aria-label", "remove this parameter");
  remove.addEventListener("click", () => {
    rows = rows.filter((r) => r !== row);
    showRows();
  });
  item.append(remove, node("span", "field-error param-error", problem));
  return item;
}

function showRows() {
  $("param-rows").replaceChildren(...rows.map(rowElement));
  $("add-param").disabled = rows.length >= MAX_ROWS;
}

function formError(text) {
  $("form-error").textContent = text;
  $("form-error").hidden = !text;
}

async function submit(event) {
  event.preventDefault();
  formError("");
  const { config, problems: found } = buildConfig({
    project: $("sweep-project").value,
    name: $("sweep-name").value,
    method: $("sweep-method").value,
    metric: { name: $("metric-name").value, goal: $("metric-goal").value },
    runCap: $("run-cap").value,
    rows,
  });
  problems = new Map(found.map((p) => [rows[p.row], p.message]));
  showRows();
  if (!config) {
    formError(found.map((p) => p.message).join("; "));
    return;
  }
  $("create-sweep").disabled = true;
  try {
    const sweep = await postJSON("/api/v1/sweeps", config);
    $("created-id").textContent = sweep.id;
    $("created-command").textContent = agentCommand(sweep.id);
    $("created-link").href = sweep.page;
    $("created").hidden = false;
    $("new-sweep-form").hidden = true;
  } catch (err) {
    // The server names the key it refuses ($.parameters.lr.min): say it first.
    formError(err.field ? `${err.field}: ${describeError(err)}` : describeError(err));
  } finally {
    $("create-sweep").disabled = !allowed;
  }
}

/** Offer the run templates' parameters as a starting point, when the server declares some. */
async function offerTemplates() {
  try {
    templates = (await getJSON("/api/v1/templates")).templates;
  } catch {
    return; // no templates to read: the form starts empty
  }
  if (!templates.length) return;
  const choose = $("template-select");
  const none = node("option", "", "none");
  none.value = "";
  choose.append(none);
  for (const t of templates) {
    const option = node("option", "", t.name);
    option.value = t.name;
    choose.append(option);
  }
  choose.addEventListener("change", () => {
    const template = templates.find((t) => t.name === choose.value);
    if (!template) return;
    rows = rowsFromTemplate(template);
    if (!rows.length) rows = [emptyRow()];
    $("sweep-project").value = template.project || $("sweep-project").value;
    showRows();
  });
  $("template-row").hidden = false;
}

$("sweep-project").value = query.get("project") || "default";
$("crumb-runs").href = query.get("project") ? `/?project=${encodeURIComponent(query.get("project"))}` : "/";
$("add-param").addEventListener("click", () => {
  rows.push(emptyRow());
  showRows();
});
$("new-sweep-form").addEventListener("submit", submit);
showRows();
offerTemplates();
whoami().then((who) => {
  if (may(who, "write")) return;
  allowed = false;
  $("scope-note").textContent = needs(who, "write", "Creating a sweep");
  $("scope-note").hidden = false;
  $("create-sweep").disabled = true;
});
