// The entity picked in a label map: its name, a button for its history (the page's entity
// drawer) and the run's commands for it (Deprecate). A click sends one command: the button is
// disabled until the command is applied or failed, and the chip shows the state the server
// reports (failed with the handler's message), never a guess.

import { describeError } from "./api.js";
import { showState } from "./commands.js";
import { formatScalar } from "./format.js";

export const COMMAND_KINDS = ["deprecate"];
const OPEN = new Set(["pending", "delivered"]);

function button(className, text) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = className;
  el.textContent = text;
  return el;
}

/**
 * Mount in `el` (hidden until an entity is picked). `openEntity(id)` shows its history;
 * `sendCommand(kind, payload)` posts a command and resolves to it (or throws ApiError).
 */
export function mount(el, { openEntity, sendCommand }) {
  const name = document.createElement("span");
  name.className = "media-entity-name";
  const history = button("button media-entity-history", "History");
  el.append(name, history);
  const actions = COMMAND_KINDS.map((kind) => {
    const btn = button("button media-entity-cmd", kind[0].toUpperCase() + kind.slice(1));
    btn.dataset.kind = kind;
    const chip = document.createElement("span");
    chip.hidden = true;
    el.append(btn, chip);
    return { kind, btn, chip, sent: null }; // sent: {entity, id} of the last command
  });
  el.hidden = true;
  let entity = null;
  let allowed = false;

  function sync() {
    for (const a of actions) {
      const mine = a.sent && a.sent.entity === entity;
      a.btn.hidden = !allowed;
      a.btn.disabled = !allowed || Boolean(mine && (a.sent.busy || OPEN.has(a.sent.state)));
      a.chip.hidden = !mine;
    }
  }

  async function send(a) {
    const target = entity; // the entity clicked, whatever is picked while the POST runs
    a.sent = { entity: target, id: null, busy: true, state: "pending" };
    const label = `${a.kind} #${formatScalar(target)}`;
    showState(a.chip, { state: "pending" }, label);
    sync();
    try {
      const cmd = await sendCommand(a.kind, { entity: target });
      if (!a.sent || a.sent.entity !== target) return;
      a.sent = { entity: target, id: cmd.id, busy: false, state: cmd.state };
      showState(a.chip, cmd, label);
    } catch (err) {
      if (!a.sent || a.sent.entity !== target) return;
      a.sent = { entity: target, id: null, busy: false, state: "failed" };
      showState(a.chip, { state: "failed", error: describeError(err) }, label);
    }
    sync();
  }

  history.addEventListener("click", () => entity !== null && openEntity(entity));
  for (const a of actions) a.btn.addEventListener("click", () => entity !== null && !a.btn.disabled && send(a));

  return {
    /** Pick `id` (a label's entity): shown here, and its history opened. */
    pick(id) {
      entity = id;
      el.hidden = false;
      el.dataset.entity = String(id);
      name.textContent = `#${formatScalar(id)}`;
      for (const a of actions) {
        if (a.sent && a.sent.entity === id) continue;
        a.sent = null;
      }
      sync();
      openEntity(id);
    },
    /** Whether the run's commands may be sent (running, and the viewer may command). */
    setAllowed(yes) {
      allowed = yes;
      sync();
    },
    /** A command's newer state (a live `command` message). */
    note(cmd) {
      for (const a of actions) {
        if (!a.sent || a.sent.id !== cmd.id) continue;
        a.sent.state = cmd.state;
        showState(a.chip, cmd, `${a.kind} #${formatScalar(a.sent.entity)}`);
      }
      sync();
    },
  };
}
