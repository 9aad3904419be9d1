// One entity's name, a button for its history (the page's entity drawer) and a button per command
// kind the run's producer handles (`run.on_command`). A click sends one command to the entity
// shown when it was clicked: the button is disabled until the command is applied or failed, and
// the chip shows the state the server reports (failed with the handler's message), never a guess.

import { describeError } from "./api.js";
import { showState } from "./commands.js";
import { formatScalar } from "./format.js";

const OPEN = new Set(["pending", "delivered"]);

function button(className, text) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = className;
  el.textContent = text;
  return el;
}

/** A command kind as a button's word: "deprecate" -> "Deprecate", "set_lr" -> "Set lr". */
export function kindLabel(kind) {
  const words = String(kind).replace(/[_.:-]+/g, " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1) : String(kind);
}

/**
 * Mount in `el` (hidden until an entity is shown). `openEntity(id)` shows its history (no History
 * button without it); `sendCommand(kind, payload)` posts a command and resolves to it (or throws
 * ApiError); `suffix` follows each kind's word ("Deprecate newest").
 */
export function mount(el, { openEntity = null, sendCommand, suffix = "" }) {
  const name = document.createElement("span");
  name.className = "media-entity-name";
  el.append(name);
  if (openEntity) {
    const history = button("button media-entity-history", "History");
    history.addEventListener("click", () => entity !== null && openEntity(entity));
    el.append(history);
  }
  const box = document.createElement("span");
  box.className = "entity-commands";
  el.append(box);
  el.hidden = true;
  const actions = new Map(); // kind -> {kind, btn, chip, sent: {entity, id, busy, state} | null}
  let entity = null;
  let allowed = false;

  function sync() {
    for (const a of actions.values()) {
      const mine = a.sent && a.sent.entity === entity;
      a.btn.hidden = !allowed;
      a.btn.disabled = !allowed || Boolean(mine && (a.sent.busy || OPEN.has(a.sent.state)));
      a.chip.hidden = !mine;
    }
  }

  async function send(a) {
    const target = entity; // the entity clicked, whatever is shown while the POST runs
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

  function addKind(kind) {
    const btn = button("button media-entity-cmd", `${kindLabel(kind)}${suffix ? ` ${suffix}` : ""}`);
    btn.dataset.kind = kind;
    const chip = document.createElement("span");
    chip.hidden = true;
    box.append(btn, chip);
    const a = { kind, btn, chip, sent: null };
    btn.addEventListener("click", () => entity !== null && !btn.disabled && send(a));
    actions.set(kind, a);
  }

  function show(id) {
    entity = id;
    el.hidden = id === null;
    if (id === null) {
      delete el.dataset.entity;
      sync();
      return;
    }
    el.dataset.entity = String(id);
    name.textContent = `#${formatScalar(id)}`;
    name.title = name.textContent;
    for (const a of actions.values()) if (a.sent && a.sent.entity !== id) a.sent = null;
    sync();
  }

  return {
    /** Show `id` (null: none) and offer the commands for it. */
    show,
    /** Show `id` (a label's entity) and open its history. */
    pick(id) {
      show(id);
      if (openEntity) openEntity(id);
    },
    /** The command kinds the producer handles, in the order to offer them. */
    setKinds(kinds) {
      for (const kind of kinds) if (kind !== "cancel" && !actions.has(kind)) addKind(kind);
      sync();
    },
    /** Whether the run's commands may be sent (running, and the viewer may command). */
    setAllowed(yes) {
      allowed = yes;
      sync();
    },
    /** A command's newer state (a live `command` message). */
    note(cmd) {
      for (const a of actions.values()) {
        if (!a.sent || a.sent.id !== cmd.id) continue;
        a.sent.state = cmd.state;
        showState(a.chip, cmd, `${a.kind} #${formatScalar(a.sent.entity)}`);
      }
      sync();
    },
  };
}
