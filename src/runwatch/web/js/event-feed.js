// The event feed: newest first, at most MAX_EVENTS rows, every user-supplied string as text.

import { showState } from "./commands.js";
import { describePayload, formatClock, formatDateTime, formatScalar } from "./format.js";

export const MAX_EVENTS = 500;
const MAX_KINDS = 200; // kinds offered by the kind filter
const MAX_ENTITY_STATES = 1000; // entities whose last command state the feed remembers

// Kinds with a colour of their own; others take it from their verb or their level.
const KIND_TONES = {
  birth: "ok",
  merge: "info",
  split: "info",
  deprecate: "muted",
  reject: "reject",
  checkpoint: "accent",
  promoted: "accent",
  status: "status",
};
const STATUS_TONES = { succeeded: "ok", failed: "bad", crashed: "bad", cancelled: "warn" };
// A kind's last word is its verb ("setup.started", "model.fitted"): the verb says how it went.
const VERB_TONES = {
  started: "start",
  starting: "start",
  began: "start",
  resumed: "start",
  finished: "ok",
  created: "ok",
  fitted: "ok",
  completed: "ok",
  succeeded: "ok",
  saved: "ok",
  done: "ok",
  failed: "bad",
  error: "bad",
  errored: "bad",
  crashed: "bad",
  warning: "warn",
  warned: "warn",
};

/** The verb of an event kind: its last dot-, slash- or underscore-separated word, lower-cased. */
export function verbOf(kind) {
  const words = String(kind ?? "").toLowerCase().split(/[./_:\s-]+/).filter(Boolean);
  return words.length ? words[words.length - 1] : "";
}

/**
 * The colour of an event row: errors and warnings win; then a status's state, a kind with a
 * colour of its own (birth, merge, …), and the kind's verb (started teal, finished/created/
 * fitted green, failed red, warning amber); anything else is neutral.
 */
export function toneOfEvent(event) {
  if (event.level === "error") return "bad";
  if (event.level === "warning") return "warn";
  if (event.kind === "status") return STATUS_TONES[event.payload && event.payload.state] || "status";
  return KIND_TONES[event.kind] || VERB_TONES[verbOf(event.kind)] || "neutral";
}

function span(className, text) {
  const node = document.createElement("span");
  node.className = className;
  node.textContent = text;
  return node;
}

function hasEntity(event) {
  return event.entity !== null && event.entity !== undefined;
}

function button(className, text) {
  const node = document.createElement("button");
  node.type = "button";
  node.className = className;
  node.textContent = text;
  return node;
}

function row(event, hooks = {}) {
  const li = document.createElement("li");
  li.className = "event";
  li.dataset.kind = event.kind;
  li.dataset.level = event.level || "info";
  li.dataset.tone = toneOfEvent(event);
  if (event.seq !== undefined) li.dataset.seq = String(event.seq);

  const time = document.createElement("time");
  time.className = "ev-time";
  time.textContent = formatClock(event.ts);
  time.title = `${formatDateTime(event.ts)} · seq ${event.seq ?? "?"}`;
  const line = document.createElement("div");
  line.className = "ev-line";
  const kind = span("ev-kind", event.kind);
  kind.title = event.kind; // long kinds are cut short in the feed's column
  line.append(time, kind);
  if (hasEntity(event)) {
    const label = `#${formatScalar(event.entity)}`;
    const entity = hooks.onEntity ? button("ev-entity", label) : span("ev-entity", label);
    if (hooks.onEntity) {
      entity.title = `history of ${label}`;
      entity.addEventListener("click", () => hooks.onEntity(event.entity));
    }
    li.dataset.entity = String(event.entity);
    line.append(entity);
  }
  line.append(span("ev-level", event.level || "info"));
  li.append(line);
  const desc = describePayload(event.payload);
  if (desc) {
    const node = span("ev-desc", desc);
    node.title = JSON.stringify(event.payload, null, 1).slice(0, 4000); // the whole payload, on hover
    li.append(node);
  }
  if (hasEntity(event) && hooks.onDeprecate) {
    const act = document.createElement("div");
    act.className = "ev-actions";
    const deprecate = button("ev-action", "Deprecate");
    deprecate.dataset.action = "deprecate";
    deprecate.title = `send a deprecate command for #${formatScalar(event.entity)} to the producer`;
    deprecate.addEventListener("click", () => hooks.onDeprecate(event.entity));
    const state = span("ev-cmd", "");
    state.hidden = true;
    act.append(deprecate, state);
    li.append(act);
  }
  return li;
}

/** Mount the feed on a list element; `onCount(shown, total)` reports how many rows it holds. */
// `kindSelect`: a <select> the feed fills with the kinds it has seen (filter by kind);
// `onEntity(entity)`: an entity was clicked; `onDeprecate(entity)`: its Deprecate was clicked.
export function mount(listEl, { onCount, kindSelect, onEntity, onDeprecate } = {}) {
  let pending = []; // events waiting for the next frame, oldest first
  let frame = 0;
  let total = 0;
  let filter = "";
  let kind = "";
  const kinds = new Set();
  const entityStates = new Map(); // String(entity) -> its latest deprecate command
  const hooks = { onEntity, onDeprecate };

  function matches(li) {
    if (kind && li.dataset.kind !== kind) return false;
    if (!filter) return true;
    const text = [...li.querySelectorAll(".ev-line, .ev-desc")].map((n) => n.textContent).join(" ");
    return text.toLowerCase().includes(filter);
  }

  function noteKind(name) {
    if (!kindSelect || kinds.has(name) || kinds.size >= MAX_KINDS) return;
    kinds.add(name);
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name;
    const next = [...kindSelect.options].find((o) => o.value && o.value > name);
    kindSelect.insertBefore(option, next || null);
  }

  function decorate(li) {
    const cmd = li.dataset.entity !== undefined && entityStates.get(li.dataset.entity);
    const chip = li.querySelector(".ev-cmd");
    if (cmd && chip) showState(chip, cmd, "deprecate");
  }

  if (kindSelect) {
    kindSelect.addEventListener("change", () => {
      kind = kindSelect.value;
      for (const li of listEl.children) li.hidden = !matches(li);
    });
  }

  function flush() {
    frame = 0;
    // Only the newest MAX_EVENTS of the pending ones can survive the cap: skip the rest.
    const batch = pending.slice(-MAX_EVENTS);
    pending = [];
    const fragment = document.createDocumentFragment();
    for (let i = batch.length - 1; i >= 0; i--) {
      const li = row(batch[i], hooks);
      noteKind(batch[i].kind);
      decorate(li);
      li.hidden = !matches(li);
      fragment.append(li);
    }
    listEl.prepend(fragment);
    while (listEl.childElementCount > MAX_EVENTS) listEl.lastElementChild.remove();
    if (onCount) onCount(listEl.childElementCount, total);
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(flush);
  }

  return {
    /** Replace the feed with hydrated events (newest first, as /state gives them). */
    setEvents(newestFirst) {
      cancelAnimationFrame(frame);
      frame = 0;
      listEl.replaceChildren();
      pending = newestFirst.slice(0, MAX_EVENTS).reverse();
      total = newestFirst.length;
      flush();
    },
    /** Add one live event on top (rendered on the next frame, with the others of that frame). */
    add(event) {
      pending.push(event);
      total += 1;
      // A hidden tab gets no animation frames: keep only what could still be shown.
      if (pending.length > 2 * MAX_EVENTS) pending.splice(0, pending.length - MAX_EVENTS);
      schedule();
    },
    /** Show only rows whose text contains `text` (case-insensitive). */
    setFilter(text) {
      filter = text.trim().toLowerCase();
      for (const li of listEl.children) li.hidden = !matches(li);
    },
    /** Offer the entity actions (Deprecate) or not (the run is over). */
    setActions(enabled) {
      listEl.dataset.actions = enabled ? "on" : "off";
    },
    /** A deprecate command's latest state, shown on every row of its entity. */
    setEntityCommand(entity, cmd) {
      const key = String(entity);
      entityStates.delete(key);
      entityStates.set(key, cmd);
      if (entityStates.size > MAX_ENTITY_STATES) entityStates.delete(entityStates.keys().next().value);
      for (const li of listEl.children) if (li.dataset.entity === key) decorate(li);
    },
  };
}
