// "Delete run" in the run page's header: offered for a finished run to a token that may write
// its project; a dialog names the run and asks first; once deleted, the page goes to the runs
// list of its project. The run's name reaches the page as text only.

import { deleteJSON, describeError } from "./api.js";
import { node } from "./dom.js";
import { isFinal } from "./status.js";
import { may, whoami } from "./whoami.js";

function button(id, className, text) {
  const b = node("button", className, text);
  b.type = "button";
  b.id = id;
  return b;
}

/** Mount in `el` for the run at API path `base`; `onDeleted(run)` after the server deleted it
 * (the default goes to the runs list). Returns {setRun(run), setStatus(word), gone()}. */
export function mount(el, { base, onDeleted = (run) => location.assign(`/?project=${encodeURIComponent(run.project)}`) }) {
  const open = button("delete-run", "button button-danger", "Delete run");
  const dialog = node("dialog", "delete-dialog");
  dialog.id = "delete-dialog";
  dialog.setAttribute("aria-labelledby", "delete-title");
  const title = node("h2", "delete-title");
  title.id = "delete-title";
  const note = node("p", "delete-note", "Its metrics, events, media, logs and commands are deleted for good; this cannot be undone.");
  const error = node("p", "delete-error");
  error.id = "delete-error";
  error.hidden = true;
  error.setAttribute("role", "alert");
  const confirm = button("delete-confirm", "button button-danger-solid", "Delete");
  const keep = button("delete-keep", "button button-ghost", "Keep it");
  const actions = node("div", "delete-actions");
  actions.append(keep, confirm);
  dialog.append(title, note, error, actions);
  el.append(open, dialog);

  let run = null;
  let allowed = false; // until the token's scope is known: offer nothing it may not do
  let deleted = false;

  function render() {
    el.hidden = !run || deleted || !allowed || !isFinal(run.status);
  }

  open.addEventListener("click", () => {
    title.textContent = `Delete run “${run.name}”?`;
    error.hidden = true;
    confirm.disabled = false;
    dialog.showModal();
    keep.focus();
  });
  keep.addEventListener("click", () => dialog.close());
  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    try {
      await deleteJSON(base);
    } catch (err) {
      error.textContent = describeError(err);
      error.hidden = false;
      confirm.disabled = false;
      return;
    }
    deleted = true;
    dialog.close();
    render();
    onDeleted(run);
  });

  function ask() {
    whoami().then((who) => {
      allowed = may(who, "write", run && run.project);
      render();
    });
  }

  render();
  return {
    /** The run as hydrated (its name and project; its status). */
    setRun(info) {
      run = { ...info };
      ask();
      render();
    },
    /** The run's status word (a live status message): only a finished run is offered. */
    setStatus(word) {
      if (!run) return;
      run.status = word;
      render();
    },
    /** The run's new name (the dialog names it). */
    setName(name) {
      if (run) run.name = name;
    },
    /** The run was deleted (here or elsewhere): nothing to offer any more. */
    gone() {
      deleted = true;
      if (dialog.open) dialog.close();
      render();
    },
  };
}
