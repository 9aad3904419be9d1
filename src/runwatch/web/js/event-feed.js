// The event feed: newest first, at most MAX_EVENTS rows, every user-supplied string as text.

import { describePayload, formatClock, formatDateTime, formatScalar } from "./format.js";

export const MAX_EVENTS = 500;

// Kinds with a colour of their own; anything else is neutral unless its level says otherwise.
const KIND_TONES = {
  birth: "ok",
  merge: "info",
  split: "info",
  deprecate: "muted",
  reject: "bad",
  checkpoint: "accent",
  status: "status",
};
const STATUS_TONES = { succeeded: "ok", failed: "bad", crashed: "bad", cancelled: "warn" };

/** The colour of an event row: errors and warnings win over the kind's own colour. */
export function toneOfEvent(event) {
  if (event.level === "error") return "bad";
  if (event.level === "warning") return "warn";
  if (event.kind === "status") return STATUS_TONES[event.payload && event.payload.state] || "status";
  return KIND_TONES[event.kind] || "neutral";
}

function span(className, text) {
  const node = document.createElement("span");
  node.className = className;
  node.textContent = text;
  return node;
}

function row(event) {
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
  line.append(time, span("ev-kind", event.kind));
  if (event.entity !== null && event.entity !== undefined) {
    line.append(span("ev-entity", `#${formatScalar(event.entity)}`));
  }
  line.append(span("ev-level", event.level || "info"));
  li.append(line);
  const desc = describePayload(event.payload);
  if (desc) {
    const node = span("ev-desc", desc);
    node.title = JSON.stringify(event.payload, null, 1).slice(0, 4000); // the whole payload, on hover
    li.append(node);
  }
  return li;
}

/** Mount the feed on a list element; `onCount(shown, total)` reports how many rows it holds. */
export function mount(listEl, { onCount } = {}) {
  let pending = []; // events waiting for the next frame, oldest first
  let frame = 0;
  let total = 0;
  let filter = "";

  function matches(li) {
    return !filter || li.textContent.toLowerCase().includes(filter);
  }

  function flush() {
    frame = 0;
    // Only the newest MAX_EVENTS of the pending ones can survive the cap: skip the rest.
    const batch = pending.slice(-MAX_EVENTS);
    pending = [];
    const fragment = document.createDocumentFragment();
    for (let i = batch.length - 1; i >= 0; i--) {
      const li = row(batch[i]);
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
  };
}
