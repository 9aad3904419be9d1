// The event feed: newest first, at most MAX_EVENTS rows, every user-supplied string as text.
// Hydrated and live pages hold the same rows: the newest MAX_EVENTS of the run (or of one kind,
// asked of the server), and say "latest N" alike when older ones exist.

import { showState } from "./commands.js";
import { kindLabel } from "./entity-actions.js";
import { describePayload, formatClock, formatDateTime, formatScalar } from "./format.js";

export const MAX_EVENTS = 500;
const MAX_KINDS = 200; // kinds offered by the kind filter
const MAX_ENTITY_STATES = 1000; // entities whose last command state the feed remembers
const MAX_ENTITY_FATES = 1000; // entities the feed knows were rejected (no actions on them)
const MAX_PENDING = 2 * MAX_EVENTS; // live events waiting for a frame (a hidden tab gets none)

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

/** A rejected candidate ("reject", "candidate.rejected"): the producer has nothing to act on. */
export function isRejection(kind) {
  const verb = verbOf(kind);
  return verb === "reject" || verb === "rejected";
}

function hasEntity(event) {
  return event.entity !== null && event.entity !== undefined;
}

/** Every entity an event names, its own (first) one first. */
export function eventEntities(event) {
  if (!hasEntity(event)) return [];
  return Array.isArray(event.entities) && event.entities.length ? event.entities : [event.entity];
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
    // One chip per entity named (a merge of #5 and #6 is in both histories); the row's own
    // entity, which its command state and actions follow, is the first.
    const chips = span("ev-entities", "");
    for (const id of eventEntities(event)) {
      const label = `#${formatScalar(id)}`;
      const entity = hooks.onEntity ? button("ev-entity", label) : span("ev-entity", label);
      entity.dataset.entity = String(id);
      if (hooks.onEntity) {
        entity.title = `history of ${label}`;
        entity.addEventListener("click", () => hooks.onEntity(id));
      }
      chips.append(entity);
    }
    line.append(chips);
    li.dataset.entity = String(event.entity);
  }
  line.append(span("ev-level", event.level || "info"));
  li.append(line);
  const desc = describePayload(event.payload);
  if (desc) {
    const node = span("ev-desc", desc);
    node.title = JSON.stringify(event.payload, null, 1).slice(0, 4000); // the whole payload, on hover
    li.append(node);
  }
  // Every row naming an entity shows its latest command's state (sent from here or not).
  if (hasEntity(event) && hooks.onCommand) {
    const act = document.createElement("div");
    act.className = "ev-actions";
    for (const kind of hooks.kinds) {
      const action = button("ev-action", kindLabel(kind));
      action.dataset.action = kind;
      action.title = `send a ${kind} command for #${formatScalar(event.entity)} to the producer`;
      // The row's own entity, whatever rows arrive meanwhile.
      action.addEventListener("click", () => hooks.onCommand(kind, event.entity));
      act.append(action);
    }
    const state = span("ev-cmd", "");
    state.hidden = true;
    act.append(state);
    li.append(act);
  }
  return li;
}

/** Newest first, by seq, each seq once, at most MAX_EVENTS. */
function newest(events) {
  const seen = new Set();
  const out = [];
  for (const e of [...events].sort((a, b) => b.seq - a.seq)) {
    if (seen.has(e.seq)) continue;
    seen.add(e.seq);
    out.push(e);
    if (out.length === MAX_EVENTS) break;
  }
  return out;
}

/**
 * Mount the feed on a list element.
 * `onCount(shown, older)`: how many rows it holds, and whether the run has older ones;
 * `kindSelect`: a <select> the feed fills with the kinds it has seen (filter by kind);
 * `loadKind(kind)`: resolves to {events} — the kind's newest MAX_EVENTS, newest first, from the server;
 * `onEntity(entity)`: an entity was clicked; `onCommand(kind, entity)`: a row's command was
 * clicked (one button per kind `setKinds` gave); `onNewest(entity)`: the newest entity the
 * producer can act on changed (the entity of the newest event naming one, not rejected; null).
 */
export function mount(listEl, { onCount, kindSelect, loadKind, onEntity, onCommand, onNewest } = {}) {
  let pending = []; // live events waiting for the next frame, oldest first
  let frame = 0;
  let all = []; // the run's newest events, newest first (at most MAX_EVENTS)
  let allOlder = false; // the run has events older than `all`
  let kind = ""; // the kind shown ("" = every kind)
  let byKind = []; // with a kind chosen: its newest events, newest first (at most MAX_EVENTS)
  let kindOlder = false;
  let kindRequest = 0;
  let filter = "";
  let pointed = false; // the pointer is over the list: rows under it must not move
  const kinds = new Set();
  const entityStates = new Map(); // String(entity) -> its latest command
  const rejected = new Map(); // String(entity) -> true when its latest known event rejected it
  const hooks = { onEntity, onCommand, kinds: [] };
  let newestKey; // String(entity) last told to onNewest (undefined: never told)

  listEl.addEventListener("pointerenter", () => (pointed = true));
  listEl.addEventListener("pointerleave", () => (pointed = false));

  function matches(li) {
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

  /** Remember whether an entity's latest event (events given oldest first) rejected it. */
  // Returns the entity's key when its fate changed (its other rows need redecorating).
  function noteFate(event) {
    if (!hasEntity(event)) return null;
    const key = String(event.entity);
    const was = rejected.has(key);
    rejected.delete(key);
    if (isRejection(event.kind)) rejected.set(key, true);
    if (rejected.size > MAX_ENTITY_FATES) rejected.delete(rejected.keys().next().value);
    return was === rejected.has(key) ? null : key;
  }

  function decorate(li) {
    if (li.dataset.entity === undefined) return;
    li.dataset.actionable = String(!rejected.has(li.dataset.entity));
    const cmd = entityStates.get(li.dataset.entity);
    const chip = li.querySelector(".ev-cmd");
    if (cmd && chip) showState(chip, cmd, cmd.kind);
  }

  function render(event) {
    const li = row(event, hooks);
    decorate(li);
    li.hidden = !matches(li);
    return li;
  }

  function shown() {
    return kind ? byKind : all;
  }

  function count() {
    if (onCount) onCount(listEl.childElementCount, kind ? kindOlder : allOlder);
  }

  /** Draw the chosen view afresh (hydration, a kind chosen or dropped). */
  function redraw() {
    listEl.replaceChildren(...shown().map(render));
    count();
  }

  /** Tell onNewest when the newest entity the producer can act on changed. */
  function noteNewest() {
    if (!onNewest) return;
    const event = all.find((e) => hasEntity(e) && !rejected.has(String(e.entity)));
    const key = event ? String(event.entity) : null;
    if (key === newestKey) return;
    newestKey = key;
    onNewest(event ? event.entity : null);
  }

  /** The first row at least partly in view, and how far below the list's top it starts. */
  function anchorRow() {
    const top = listEl.getBoundingClientRect().top;
    for (const li of listEl.children) {
      const box = li.getBoundingClientRect();
      if (box.bottom > top) return { li, offset: box.top - top };
    }
    return null;
  }

  function flush() {
    frame = 0;
    // Only the newest MAX_EVENTS of the pending ones can survive the cap: skip the rest.
    allOlder ||= pending.length > MAX_EVENTS;
    const batch = pending.slice(-MAX_EVENTS);
    pending = [];
    const changed = new Set();
    for (const e of batch) {
      noteKind(e.kind);
      const key = noteFate(e);
      if (key !== null) changed.add(key);
    }
    const newestFirst = batch.reverse();
    allOlder ||= all.length + newestFirst.length > MAX_EVENTS;
    all = [...newestFirst, ...all].slice(0, MAX_EVENTS);
    let fresh = newestFirst;
    if (kind) {
      fresh = newestFirst.filter((e) => e.kind === kind);
      kindOlder ||= byKind.length + fresh.length > MAX_EVENTS;
      byKind = [...fresh, ...byKind].slice(0, MAX_EVENTS);
    }
    // Someone pointing at the list, or scrolled down it, keeps the rows they see where they are:
    // new rows go in above them (the browser's own scroll anchoring does nothing at the top).
    const anchor = pointed || listEl.scrollTop > 0 ? anchorRow() : null;
    const fragment = document.createDocumentFragment();
    for (const e of fresh) fragment.append(render(e));
    listEl.prepend(fragment);
    while (listEl.childElementCount > MAX_EVENTS) listEl.lastElementChild.remove();
    if (changed.size) for (const li of listEl.children) if (changed.has(li.dataset.entity)) decorate(li);
    if (anchor && anchor.li.isConnected) {
      const top = listEl.getBoundingClientRect().top;
      listEl.scrollTop += anchor.li.getBoundingClientRect().top - top - anchor.offset;
    }
    count();
    noteNewest();
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(flush);
  }

  function refreshEntity(key) {
    for (const li of listEl.children) if (li.dataset.entity === key) decorate(li);
  }

  async function chooseKind(name) {
    const mine = ++kindRequest;
    kind = name;
    listEl.dataset.loading = String(Boolean(name && loadKind));
    if (!name) {
      byKind = [];
      redraw();
      return;
    }
    // At once what the page holds, then the kind's own newest from the server.
    byKind = all.filter((e) => e.kind === name);
    kindOlder = allOlder;
    redraw();
    if (!loadKind) return;
    let answer;
    try {
      answer = await loadKind(name);
    } catch {
      if (mine === kindRequest) listEl.dataset.loading = "false";
      return; // the rows the page holds stay: better than none
    }
    if (mine !== kindRequest) return;
    const fetched = answer.events || [];
    kindOlder = fetched.length >= MAX_EVENTS;
    byKind = newest([...fetched, ...byKind]); // with live rows of the kind that came meanwhile
    listEl.dataset.loading = "false";
    redraw();
  }

  if (kindSelect) kindSelect.addEventListener("change", () => chooseKind(kindSelect.value));

  return {
    /** Replace the feed with hydrated events (newest first, as /state gives them); `older`: the
     * run has events before the oldest of them. */
    setEvents(newestFirst, older = false) {
      cancelAnimationFrame(frame);
      frame = 0;
      pending = [];
      all = newestFirst.slice(0, MAX_EVENTS);
      allOlder = older || newestFirst.length > MAX_EVENTS;
      for (const e of [...all].reverse()) {
        noteKind(e.kind);
        noteFate(e);
      }
      if (kind) chooseKind(kind);
      else redraw();
      noteNewest();
    },
    /** Add one live event on top (rendered on the next frame, with the others of that frame). */
    add(event) {
      pending.push(event);
      if (pending.length > MAX_PENDING) {
        pending.splice(0, pending.length - MAX_EVENTS);
        allOlder = true; // the dropped ones are older than every row the feed will show
      }
      schedule();
    },
    /** Show only rows whose text contains `text` (case-insensitive). */
    setFilter(text) {
      filter = text.trim().toLowerCase();
      for (const li of listEl.children) li.hidden = !matches(li);
    },
    /** The command kinds the producer handles: each row naming an entity offers them. */
    setKinds(kinds) {
      const next = kinds.filter((k) => k !== "cancel");
      if (next.join("\n") === hooks.kinds.join("\n")) return;
      hooks.kinds = next;
      redraw();
    },
    /** Offer the entity actions or not (the run is over, or the viewer may not command). */
    setActions(enabled) {
      listEl.dataset.actions = enabled ? "on" : "off";
    },
    /** An entity's latest command's state, shown on every row of the entity. */
    setEntityCommand(entity, cmd) {
      const key = String(entity);
      entityStates.delete(key);
      entityStates.set(key, cmd);
      if (entityStates.size > MAX_ENTITY_STATES) entityStates.delete(entityStates.keys().next().value);
      refreshEntity(key);
    },
  };
}
