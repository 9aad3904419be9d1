// The rules panel: the project's rules (webhook URLs come back masked) with a Delete button
// each, and a small form that creates one. Editing needs the 'admin' scope on the project: a
// token without it sees the rules and a note naming that scope. Server errors are shown as they come.

import { deleteJSON, describeError, getJSON, postJSON } from "./api.js";
import { describeAction, describeCondition, ruleFromFields } from "./rules-format.js";
import { may, needs, whoami } from "./whoami.js";

const CONDITIONS = ["nonfinite", "threshold", "plateau", "stalled", "status"];

function node(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(el.dataset, v);
    else el[k] = v;
  }
  el.append(...children);
  return el;
}

function input(name, label, props = {}) {
  const field = node("input", { name, className: "text-input", ...props });
  field.setAttribute("aria-label", label);
  return node("label", { className: "field field-compact", dataset: { field: name } }, node("span", { className: "field-label", textContent: label }), field);
}

function select(name, label, options) {
  const el = node("select", { name }, ...options.map((o) => node("option", { value: o, textContent: o })));
  el.setAttribute("aria-label", label);
  return node("label", { className: "field field-compact", dataset: { field: name } }, node("span", { className: "field-label", textContent: label }), el);
}

/** Mount on the panel's list and form; returns {load(project)}. */
export function mount({ list, empty, form }) {
  let project = "";
  let editing = false;
  const error = node("p", { className: "banner banner-error", hidden: true, id: "rule-error" });
  const note = node("p", { className: "rules-note", hidden: true, id: "rules-note" });
  form.after(note);
  const fields = [
    input("name", "Name", { required: true, placeholder: "loss diverged" }),
    select("type", "Condition", CONDITIONS),
    input("key", "Metric", { placeholder: "loss" }),
    select("op", "Op", ["above", "below"]),
    input("value", "Value", { placeholder: "10" }),
    input("points", "Points in a row", { placeholder: "1" }),
    select("mode", "Best is", ["min", "max"]),
    input("steps", "Steps", { placeholder: "1000" }),
    input("minutes", "Minutes", { placeholder: "10" }),
    input("states", "Statuses", { placeholder: "failed,crashed" }),
    select("level", "Event level", ["warning", "error", "info"]),
    input("webhook", "Webhook URL", { type: "url", placeholder: "https://hooks.slack.com/…" }),
    input("command", "Command", { placeholder: "lower_lr" }),
    input("run", "Only run", { placeholder: "run id (optional)" }),
  ];
  const cancel = node("input", { type: "checkbox", name: "cancel" });
  const submit = node("button", { type: "submit", className: "button button-primary", textContent: "Add rule" });
  form.replaceChildren(
    node("div", { className: "rule-fields" }, ...fields, node("label", { className: "field field-compact rule-cancel" }, cancel, " cancel the run")),
    submit,
    error,
  );
  form.hidden = true; // until the project and the token's scope are known

  const RELEVANT = {
    nonfinite: ["key"],
    threshold: ["key", "op", "value", "points"],
    plateau: ["key", "mode", "steps", "minutes"],
    stalled: ["minutes"],
    status: ["states"],
  };
  const conditional = ["key", "op", "value", "points", "mode", "steps", "minutes", "states"];
  function showRelevant() {
    const wanted = RELEVANT[form.elements.type.value];
    for (const name of conditional) form.querySelector(`[data-field="${name}"]`).hidden = !wanted.includes(name);
  }
  form.elements.type.addEventListener("change", showRelevant);
  showRelevant();

  function showError(text) {
    error.textContent = text;
    error.hidden = !text;
  }

  function item(rule) {
    const remove = node("button", { type: "button", className: "button rule-delete", textContent: "Delete" });
    remove.addEventListener("click", async () => {
      try {
        await deleteJSON(`/api/v1/projects/${encodeURIComponent(project)}/rules/${rule.id}`);
        showError("");
        await load(project);
      } catch (err) {
        showError(describeError(err));
      }
    });
    const what = node("span", { className: "rule-what", textContent: describeCondition(rule.condition) });
    const does = node("span", { className: "rule-does", textContent: rule.actions.length ? rule.actions.map(describeAction).join(" · ") : "event (warning)" });
    const name = node("strong", { className: "rule-name", textContent: rule.name });
    const scope = node("span", { className: "rule-scope", textContent: rule.run ? `run ${rule.run}` : rule.source === "file" ? "from the rules file" : "every run" });
    // A rule of the rules file is removed from the file: deleted here, it would come back.
    remove.hidden = !editing || rule.source === "file";
    return node("li", { className: "rule", dataset: { id: String(rule.id) } }, name, what, does, scope, remove);
  }

  async function load(name) {
    project = name;
    const who = await whoami();
    if (project !== name) return; // another project was chosen meanwhile
    editing = may(who, "admin", project);
    form.hidden = !project || !editing;
    note.textContent = project ? needs(who, "admin", "Adding or deleting rules", project) : "";
    note.hidden = !project || editing;
    if (!project) {
      list.replaceChildren();
      empty.hidden = true;
      return;
    }
    const { rules } = await getJSON(`/api/v1/projects/${encodeURIComponent(project)}/rules`);
    list.replaceChildren(...rules.map(item));
    empty.hidden = rules.length > 0;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const raw = Object.fromEntries(new FormData(form).entries());
    raw.cancel = cancel.checked;
    try {
      await postJSON(`/api/v1/projects/${encodeURIComponent(project)}/rules`, ruleFromFields(raw));
      showError("");
      form.elements.name.value = "";
      await load(project);
    } catch (err) {
      showError(describeError(err));
    }
  });

  return { load };
}
