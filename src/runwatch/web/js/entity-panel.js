// One entity's history (birth, merge, split, deprecate, ...) in a closable side drawer: loaded
// from /entities/{entity}/events, oldest first, then kept current by live events of that entity;
// with the commands the producer takes for it and the image and snapshot keys that show it
// (fetched again as live images of it arrive).

import { describeError } from "./api.js";
import { node } from "./dom.js";
import { describePayload, formatCount, formatDateTime, formatScalar } from "./format.js";
import * as entityMedia from "./entity-media.js";
import { eventEntities, toneOfEvent } from "./event-feed.js";
import { coalesce } from "./refetch.js";

export const MAX_ENTITY_EVENTS = 1000;
const MEDIA_REFETCH_MS = 1000;

// Escape in a text field is the field's own (a search box clears itself): it leaves the drawer.
const NOT_TEXT = new Set(["button", "checkbox", "radio", "range", "color", "file", "submit", "reset", "image"]);
function typing(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target.tagName === "TEXTAREA") return true;
  return target.tagName === "INPUT" && !NOT_TEXT.has(target.type);
}

function item(event) {
  const li = node("li", "eh-event");
  li.dataset.kind = event.kind;
  li.dataset.tone = toneOfEvent(event);
  li.dataset.level = event.level || "info";
  const head = node("div", "eh-head");
  head.append(node("span", "eh-kind", event.kind), node("time", "eh-time", formatDateTime(event.ts)));
  li.append(head);
  const desc = describePayload(event.payload, 400);
  if (desc) li.append(node("div", "eh-desc", desc));
  return li;
}

/**
 * Mount on the drawer element (hidden until an entity is opened).
 * `load(entity)` resolves to {events: [...oldest first]}; `actions(box)` mounts the entity's
 * commands in `box` and returns their controller (`show(entity | null)`); `loadMedia(entity)`
 * resolves to {images, snapshots} (the keys naming it), whose clicks reach `onImage(key)` and
 * `onSnapshot(key)`.
 */
export function mount(el, { load, actions = null, loadMedia = null, onImage = () => {}, onSnapshot = () => {} }) {
  const head = node("div", "panel-head");
  const title = node("h2", "eh-title", "Entity");
  const count = node("span", "panel-sub");
  const close = node("button", "icon-button eh-close", "×");
  close.type = "button";
  close.title = "close (Esc)";
  close.setAttribute("aria-label", "close the entity history");
  head.append(title, count, close);
  const status = node("p", "empty eh-status");
  const list = node("ol", "eh-list");
  const actionsBox = node("div", "media-entity eh-actions");
  const mediaBox = node("div", "eh-media");
  el.append(head, actionsBox, mediaBox, status, list);
  const media = entityMedia.mount(mediaBox, { onImage, onSnapshot });
  const commands = actions ? actions(actionsBox) : null;
  el.hidden = true;
  let current = null; // String(entity) shown, or null
  let request = 0;
  let early = []; // live events of `current` that arrived while its history was loading
  let opener = null; // the element focused when the drawer opened, focused again on close
  // The media keys, read again as live images of the entity come: at most once a second.
  const mediaRead = coalesce(readMedia, MEDIA_REFETCH_MS);

  function setCount() {
    count.textContent = `${formatCount(list.childElementCount)} event${list.childElementCount === 1 ? "" : "s"}`;
  }

  // The page makes room for the open drawer (style.css), so it never covers the feed's actions.
  function show(open) {
    el.hidden = !open;
    if (open) document.body.dataset.drawer = "open";
    else delete document.body.dataset.drawer;
  }

  function hide() {
    show(false);
    current = null;
    request += 1;
    if (commands) commands.show(null);
    media.clear(); // lets go of its thumbnails' images
  }

  /** Fetch the open entity's image and snapshot keys and show them. */
  async function readMedia() {
    if (!loadMedia || current === null) return;
    const mine = request;
    try {
      const found = await loadMedia(current);
      if (mine === request) media.show(found);
    } catch {
      // the keys stay as they were; the history beside them is what the drawer is for
    }
  }

  // Closing hands focus back to what opened the drawer (a feed chip, a History button), when
  // it is still on the page; else the focus would be lost on the hidden close button.
  function dismiss() {
    const back = opener;
    hide();
    if (el.contains(document.activeElement) || document.activeElement === document.body) {
      if (back && back.isConnected && back.getClientRects().length) back.focus({ preventScroll: true });
    }
  }

  close.addEventListener("click", dismiss);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !el.hidden && !e.defaultPrevented && !typing(e.target)) dismiss();
  });

  return {
    /** Show `entity`'s history (fetched now). */
    async open(entity) {
      const mine = ++request;
      const from = document.activeElement;
      opener = from && from !== document.body && !el.contains(from) ? from : null;
      current = String(entity);
      early = [];
      el.dataset.entity = current;
      title.textContent = `Entity #${formatScalar(entity)}`;
      title.title = title.textContent;
      if (commands) commands.show(entity);
      media.clear();
      mediaRead.now(); // beside the history, not before it: a failure here leaves it shown
      list.replaceChildren();
      count.textContent = "";
      status.textContent = "Loading…";
      status.hidden = false;
      show(true);
      el.dataset.loading = "true";
      let answer;
      try {
        answer = await load(entity);
      } catch (err) {
        if (mine !== request) return;
        status.textContent = `Could not load this entity's history: ${describeError(err)}`;
        el.dataset.loading = "false";
        return;
      }
      if (mine !== request) return;
      const seen = new Set((answer.events || []).map((e) => e.seq));
      const events = [...(answer.events || []), ...early.filter((e) => !seen.has(e.seq))].slice(-MAX_ENTITY_EVENTS);
      early = [];
      list.replaceChildren(...events.map(item));
      status.textContent = events.length ? "" : "No events recorded for this entity.";
      status.hidden = events.length > 0;
      el.dataset.loading = "false";
      setCount();
      close.focus({ preventScroll: true });
    },
    /** A live event: appended when it belongs to the entity on show. */
    add(event) {
      if (current === null || !eventEntities(event).some((id) => String(id) === current)) return;
      if (el.dataset.loading === "true") {
        if (early.length < MAX_ENTITY_EVENTS) early.push(event);
        return;
      }
      list.append(item(event));
      while (list.childElementCount > MAX_ENTITY_EVENTS) list.firstElementChild.remove();
      status.hidden = true;
      setCount();
    },
    /** A live image: the open entity's keys are fetched again when it shows that entity. */
    noteMedia(msg) {
      if (msg.entity !== null && msg.entity !== undefined && String(msg.entity) === current) mediaRead.poke();
    },
    close: hide,
  };
}
