// The run's controls in the header: Cancel (running and queued runs; confirmed in place, then
// the command's state shown live) and Promote (succeeded runs only, the only ones the server
// promotes; a refusal it still gives is shown as it says it). Both need the 'admin' scope: a token
// without it sees a note naming that scope instead.

import { describeError, postJSON } from "./api.js";
import { showState } from "./commands.js";
import { node } from "./dom.js";
import { may, needs, whoami } from "./whoami.js";

const CANCELLABLE = new Set(["running", "queued"]);

function button(id, className, text) {
  const b = node("button", className, text);
  b.type = "button";
  b.id = id;
  return b;
}

function input(id, placeholder, label) {
  const el = node("input", "text-input");
  el.id = id;
  el.type = "text";
  el.placeholder = placeholder;
  el.autocomplete = "off";
  el.spellcheck = false;
  el.setAttribute("aria-label", label);
  return el;
}

/** Mount in `el`; `sendCommand(kind, payload)` posts a command and resolves to it. */
export function mount(el, { base, sendCommand }) {
  // -- cancel ---------------------------------------------------------------------------------
  const cancelBox = node("div", "control control-cancel");
  const cancel = button("cancel-run", "button button-danger", "Cancel run");
  const ask = node("div", "confirm");
  ask.hidden = true;
  const confirm = button("cancel-confirm", "button button-danger-solid", "Yes, cancel");
  const keep = button("cancel-keep", "button button-ghost", "Keep running");
  ask.append(node("span", "confirm-text", "Stop this run?"), confirm, keep);
  const cancelState = node("span", "cmd-state");
  cancelState.id = "cancel-state";
  cancelState.hidden = true;
  cancelState.setAttribute("role", "status");
  cancelBox.append(cancel, ask, cancelState);

  // -- promote --------------------------------------------------------------------------------
  const promoteBox = node("div", "control control-promote");
  const form = node("form", "promote-form");
  form.id = "promote-form";
  form.noValidate = true;
  const name = input("promote-name", "name, e.g. prod-candidate", "promotion name");
  name.required = true;
  name.maxLength = 200;
  const artifact = input("promote-artifact", "artifact in run dir (optional)", "artifact path, relative to the run directory");
  artifact.maxLength = 1000;
  const submit = node("button", "button button-primary", "Promote");
  submit.type = "submit";
  submit.id = "promote-submit";
  form.append(name, artifact, submit);
  const result = node("div", "promote-result");
  result.id = "promote-result";
  result.hidden = true;
  const error = node("p", "promote-error");
  error.id = "promote-error";
  error.hidden = true;
  error.setAttribute("role", "alert");
  promoteBox.append(form, result, error);

  const scopeNote = node("p", "controls-note");
  scopeNote.id = "controls-note";
  scopeNote.hidden = true;

  el.append(cancelBox, promoteBox, scopeNote);

  let status = null;
  let cancelCmd = null;
  let promoted = false;
  let allowed = false; // until the token's scope is known: offer nothing it may not do

  function render() {
    if (!allowed) {
      cancelBox.hidden = promoteBox.hidden = true;
      el.hidden = scopeNote.hidden;
      return;
    }
    const cancellable = CANCELLABLE.has(status);
    cancel.hidden = !cancellable || !ask.hidden || (cancelCmd && cancelCmd.state !== "failed");
    if (!cancellable) ask.hidden = true;
    cancelBox.hidden = !cancellable && !cancelCmd;
    // Only a succeeded run is offered Promote; a finished promotion stays shown with its sha.
    promoteBox.hidden = status !== "succeeded" && !promoted;
    form.hidden = promoteBox.hidden;
    el.hidden = cancelBox.hidden && promoteBox.hidden;
  }

  cancel.addEventListener("click", () => {
    ask.hidden = false;
    render();
    keep.focus();
  });
  keep.addEventListener("click", () => {
    ask.hidden = true;
    render();
  });
  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    try {
      const cmd = await sendCommand("cancel", {});
      if (!cancelCmd || cancelCmd.id !== cmd.id) cancelCmd = cmd; // a live message may be newer
      showState(cancelState, cancelCmd, "cancel");
    } catch (err) {
      cancelState.hidden = false;
      cancelState.dataset.state = "failed";
      cancelState.textContent = `cancel refused: ${describeError(err)}`;
    } finally {
      confirm.disabled = false;
      ask.hidden = true;
      render();
    }
  });

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.hidden = true;
    if (!name.value.trim()) {
      error.textContent = "Give the promotion a name.";
      error.hidden = false;
      name.focus();
      return;
    }
    const body = { name: name.value.trim() };
    if (artifact.value.trim()) body.artifact = artifact.value.trim();
    submit.disabled = true;
    let answer;
    try {
      answer = await postJSON(`${base}/promote`, body);
    } catch (err) {
      error.textContent = describeError(err);
      error.hidden = false;
      submit.disabled = false;
      return;
    }
    promoted = true;
    for (const field of [name, artifact, submit]) field.disabled = true;
    submit.textContent = "✓ promoted";
    form.dataset.done = "true";
    const sha = node("code", "promote-sha", answer.sha256);
    sha.id = "promote-sha";
    sha.title = answer.sha256;
    const link = node("a", "promote-link", "all promotions →");
    link.href = "/promoted";
    result.replaceChildren(node("span", "promote-label", "sha256"), sha, link);
    result.hidden = false;
    render();
  });

  render();
  whoami().then((who) => {
    allowed = may(who, "admin");
    scopeNote.textContent = needs(who, "admin", "Cancelling or promoting a run");
    scopeNote.hidden = allowed;
    render();
  });
  return {
    /** The run's status word (hydration or a live status message). */
    setStatus(word) {
      status = word;
      render();
    },
    /** A cancel command's latest state (from the POST answer or a `command` message). */
    onCancel(cmd) {
      if (cancelCmd && cmd.id < cancelCmd.id) return;
      cancelCmd = cmd;
      showState(cancelState, cmd, "cancel");
      render();
    },
  };
}
