// "Re-run with these parameters" for a run launched from a template: queues the same template
// with the same parameters, project and tags, then opens the new run's page. The server checks
// the values again, so a data file that has gone since is reported here, not run.

import { describeError, postJSON } from "./api.js";
import { may, needs, whoami } from "./whoami.js";

/** Show the button for `run` in `el` when it came from a template; returns whether it did. */
export function mount(el, run) {
  const snap = run && run.snapshot;
  const templated = Boolean(snap && typeof snap.template === "string" && snap.params && typeof snap.params === "object");
  el.hidden = !templated;
  if (!templated) {
    el.replaceChildren();
    return false;
  }
  if (el.dataset.runId === run.id) return true; // hydrated again (a reset): keep any message shown
  el.dataset.runId = run.id;
  const button = document.createElement("button");
  button.type = "button";
  button.id = "rerun-button";
  button.className = "button";
  button.textContent = "Re-run with these parameters";
  const message = document.createElement("p");
  message.className = "rerun-error";
  message.setAttribute("role", "alert");
  button.addEventListener("click", async () => {
    button.disabled = true;
    message.textContent = "";
    try {
      const body = { params: snap.params, project: run.project, tags: run.tags || [] };
      const next = await postJSON(`/api/v1/templates/${encodeURIComponent(snap.template)}/runs`, body);
      location.assign(`/runs/${encodeURIComponent(next.id)}`);
    } catch (err) {
      button.disabled = false;
      message.textContent = describeError(err);
    }
  });
  el.replaceChildren(button, message);
  button.disabled = true; // until the token's scope is known
  whoami().then((who) => {
    button.disabled = !may(who, "admin");
    if (button.disabled) message.textContent = needs(who, "admin", "Re-running");
  });
  return true;
}
