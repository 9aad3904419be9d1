// The New-run page: pick a template, fill its typed parameters, queue the run, then go to its
// page. `?template=NAME&project=P` preselect; `?from=RUN` starts from an earlier run (its
// template and parameters, or its config under a template the person picks). The server checks
// every value again (422 for one parameter is shown next to its field). Queuing needs the
// 'admin' scope: for a token without it the form is shown disabled, with a note naming that scope.

import { ApiError, describeError, getJSON, postJSON, runPath } from "./api.js";
import * as paramForm from "./new-run-form.js";
import { prefillNote, templateOf, valuesFrom } from "./new-run-prefill.js";
import { may, needs, whoami } from "./whoami.js";
import * as tokenPrompt from "./token-prompt.js";

const $ = (id) => document.getElementById(id);
tokenPrompt.install(); // before any request: a 401 anywhere opens it
const query = new URLSearchParams(location.search);
let templates = [];
let current = null; // { template, form }
let limited = null; // the one project the token may launch in, if it is limited to one
let source = null; // the run the form starts from (?from=), if any

function showTemplate(name) {
  const template = templates.find((t) => t.name === name) || templates[0];
  $("template-select").value = template.name;
  $("template-description").textContent = template.description || "";
  $("run-project").value = limited || (source && source.project) || query.get("project") || template.project || "default";
  const { values, filled } = source ? valuesFrom(source, template) : { values: {}, filled: [] };
  current = { template, form: paramForm.mount($("param-fields"), template, values) };
  $("prefill-note").textContent = source ? prefillNote(source, template, filled, templates.map((t) => t.name)) : "";
  $("prefill-note").hidden = !source;
  $("form-error").hidden = true;
}

/** The run `?from=` names, or null (none named, or it cannot be read: said on the page). */
async function loadSource() {
  const id = query.get("from");
  if (!id) return null;
  try {
    return await getJSON(runPath(id));
  } catch (err) {
    $("page-error").textContent = `Cannot start from run ${id}: ${describeError(err)}`;
    $("page-error").hidden = false;
    return null;
  }
}

function formError(message) {
  $("form-error").textContent = message;
  $("form-error").hidden = !message;
}

async function submit(event) {
  event.preventDefault();
  const { template, form } = current;
  form.clear();
  formError("");
  const read = form.read();
  if (read.errors) {
    const names = Object.keys(read.errors);
    for (const name of names) form.showError(name, read.errors[name]);
    form.focus(names[0]);
    return;
  }
  const body = { params: read.params, project: $("run-project").value.trim() || null };
  const name = $("run-name-input").value.trim();
  if (name) body.name = name;
  const button = $("submit-run");
  button.disabled = true;
  try {
    const run = await postJSON(`/api/v1/templates/${encodeURIComponent(template.name)}/runs`, body);
    location.assign(`/runs/${encodeURIComponent(run.id)}`);
  } catch (err) {
    button.disabled = false;
    const match = err instanceof ApiError && err.field ? /^\$\.params\.(\w+)$/.exec(err.field) : null;
    // The server names the parameter and starts its message with it; the field says which.
    if (match && form.showError(match[1], err.message.replace(`${match[1]}: `, ""))) {
      form.focus(match[1]);
    } else {
      formError(describeError(err));
    }
  }
}

async function load() {
  try {
    const answer = await getJSON("/api/v1/templates");
    templates = answer.templates;
    const slots = answer.max_concurrent;
    $("queue-info").textContent = slots > 0 ? `${slots} at a time` : "queue paused";
  } catch (err) {
    $("page-error").textContent = describeError(err);
    $("page-error").hidden = false;
    return;
  }
  if (!templates.length) {
    $("no-templates").hidden = false;
    return;
  }
  const select = $("template-select");
  for (const t of templates) {
    const opt = document.createElement("option");
    opt.value = t.name;
    opt.textContent = t.name;
    select.append(opt);
  }
  select.addEventListener("change", () => showTemplate(select.value));
  $("new-run-form").addEventListener("submit", submit);
  source = await loadSource();
  $("new-run-form").hidden = false;
  showTemplate(templateOf(source) || query.get("template") || templates[0].name);
  limitTo(await whoami());
}

/** Offer only what `who` may do: nothing without the 'admin' scope, its own project if limited. */
function limitTo(who) {
  const form = $("new-run-form");
  if (!may(who, "admin")) {
    for (const field of form.elements) field.disabled = true;
    form.dataset.disabled = "true";
    $("scope-note").textContent = needs(who, "admin", "Queuing a run");
    $("scope-note").hidden = false;
  } else if (who && who.project) {
    limited = who.project;
    $("run-project").value = limited;
    $("run-project").readOnly = true;
    $("run-project").title = `this token is limited to project '${who.project}'`;
  }
}

load();
