// One image key's panel: the image at the slider's step (the kept step nearest it, asked of
// `…/media/{key}?step=`), its step and caption, a slider over the key's steps resting on the
// kept step shown (arrow keys go to the kept neighbours, page keys a tenth of the range) and,
// while the thumb is at the end, the newest image arriving live.
// Only the shown image and its kept neighbours (the prefetch window) are fetched, and only
// while the panel is on screen; one step request is in flight at a time, the latest wish wins.

import { describeError } from "./api.js";
import { node } from "./dom.js";
import * as entityActions from "./entity-actions.js";
import { formatCount } from "./format.js";
import * as heatmap from "./heatmap.js";
import { answerAfter, arrowStep, covers, extendKept, mergeKept } from "./media-data.js";
import * as images from "./media-images.js";

export const PREFETCH = 1; // kept steps on each side decoded ahead of the thumb
const MAX_ANSWERS = 128; // per panel: step answers remembered (kept step -> {item, prev, next})
const MAX_HEARD = 256; // per panel: live messages' steps remembered for a listing read before them

/**
 * Mount in `el` for one key's info (from `…/media`: key, kind, count, first_step, last_step,
 * prev_step, newest; or from a live message, until the listing's answer is `merge`d).
 * `load(key, step)` resolves to the server's {item, prev, next}; `openEntity`/`sendCommand`
 * serve a label map's picked entity.
 */
export function mount(el, info, { load, openEntity, sendCommand }) {
  el.className = "panel media-panel";
  el.dataset.key = info.key;
  el.dataset.kind = info.kind;
  const head = node("div", "panel-head");
  const title = node("h3", "media-key", info.key);
  title.title = info.key;
  const where = node("span", "media-step panel-sub");
  head.append(title, where);
  const frame = node("div", "media-frame");
  const canvas = node("canvas", "media-canvas");
  canvas.width = canvas.height = 0;
  frame.append(canvas);
  const below = heatmap.under(canvas, (cell, shownImg) => {
    canvas.style.cursor = shownImg.kind === "labels" && cell && cell.value ? "pointer" : "";
  });
  const caption = node("p", "media-caption");
  const status = node("p", "media-status");
  status.hidden = true;
  const slider = node("input", "media-range");
  slider.type = "range";
  slider.step = "1";
  slider.setAttribute("aria-label", `step of ${info.key}`);
  const picked = node("div", "media-entity");
  el.append(head, frame, below.el, caption, status, slider, picked);
  const actions = entityActions.mount(picked, { openEntity, sendCommand });
  // At the newest image's size from the start: panels loading their images do not push others
  // on or off screen, so only those really on screen fetch.
  if (info.newest) heatmap.reserve(canvas, info.newest.width, info.newest.height);

  let kept = { first: info.first_step, last: info.last_step, count: info.count };
  // The newest live messages' steps and drops: a listing answering after them may have been
  // read before them (a live run's page gets both at once).
  const heard = [];
  let wanted = kept.last; // the step the thumb is on
  let loading = null; // the step being asked for
  let asked = null; // the step the shown answer was asked for
  let shown = null; // {item, prev, next} on show
  let img = null; // its decoded image
  let visible = false;
  const answers = new Map(); // kept step -> answer, bounded
  // The newest item with the kept step before it, as the listing or a live message past the
  // last told them: shown without asking the server. A panel a live message made knows no
  // step before it (prev null) until the listing's `merge`.
  let newest = { item: null, prev: null, next: null };
  if (info.prev_step !== undefined) setNewest(info.newest, info.prev_step); // a listing's info

  const following = () => wanted >= kept.last;

  function syncSlider() {
    slider.min = String(kept.first);
    slider.max = String(kept.last);
    slider.value = String(wanted);
    slider.disabled = kept.first === kept.last;
    el.dataset.count = String(kept.count);
    syncWhere();
  }

  function syncWhere() {
    where.textContent = shown ? `step ${formatCount(shown.item.step)} · ${formatCount(kept.count)} kept` : "";
  }

  function remember(answer) {
    answers.delete(answer.item.step);
    answers.set(answer.item.step, answer);
    while (answers.size > MAX_ANSWERS) answers.delete(answers.keys().next().value);
  }

  /** `item` is the newest, `prev` the kept step before it (null: it is the only one). */
  function setNewest(item, prev) {
    newest = { item, prev, next: null };
    remember(newest); // so a scrub back to it asks nothing either
  }

  async function show(answer) {
    const item = answer.item;
    let decoded;
    try {
      decoded = await images.load(item);
    } catch (err) {
      status.textContent = `Could not load step ${item.step}: ${describeError(err)}`;
      status.hidden = false;
      return;
    }
    if (answer !== pendingShow) return; // a newer answer is on its way to the screen
    shown = answer;
    img = decoded;
    status.hidden = true;
    heatmap.paint(canvas, img);
    below.show(img);
    syncWhere();
    el.dataset.step = String(item.step);
    el.dataset.sha = item.sha256;
    caption.textContent = item.caption || "";
    caption.hidden = !item.caption;
    prefetch(answer);
  }

  let pendingShow = null;
  function display(answer) {
    pendingShow = answer;
    show(answer);
  }

  /** The answer for `step`: a remembered one that covers it, else the server's. */
  async function ask(step) {
    for (const known of answers.values()) if (covers(known, step)) return known;
    const answer = await load(info.key, step);
    remember(answer);
    return answer;
  }

  /** Fetch what the thumb is on (one request at a time; the latest wish wins). */
  async function fetchWanted() {
    if (!visible || loading !== null || asked === wanted) return;
    const step = wanted;
    loading = step;
    el.dataset.loading = "true";
    let answer;
    try {
      answer = following() && newest.item && newest.item.step === kept.last ? newest : await ask(step);
    } catch (err) {
      loading = null;
      el.dataset.loading = "false";
      status.textContent = `Could not load step ${step}: ${describeError(err)}`;
      status.hidden = false;
      return;
    }
    loading = null;
    el.dataset.loading = "false";
    if (wanted !== step) {
      fetchWanted(); // the thumb moved on meanwhile: skip this one
      return;
    }
    // The thumb rests on the kept step shown (the nearest to where it was put), so a page key
    // or a drag never leaves it between kept steps.
    wanted = asked = Math.min(kept.last, Math.max(kept.first, answer.item.step));
    syncSlider();
    display(answer);
  }

  /** Decode the kept neighbours (PREFETCH each side) while the thumb rests. */
  async function prefetch(answer) {
    let edge = [answer, answer];
    for (let i = 0; i < PREFETCH; i++) {
      const steps = [edge[0].prev, edge[1].next];
      const next = [];
      for (const [side, step] of steps.entries()) {
        if (typeof step !== "number" || loading !== null || pendingShow !== answer) return;
        try {
          const near = await ask(step);
          if (!images.cached(near.item.sha256)) await images.load(near.item);
          next[side] = near;
        } catch {
          return; // a prefetch is a nicety: the real request reports its own failure
        }
      }
      edge = [next[0] || edge[0], next[1] || edge[1]];
    }
  }

  function go(step) {
    wanted = Math.min(kept.last, Math.max(kept.first, step));
    syncSlider();
    fetchWanted();
  }

  slider.addEventListener("input", () => go(Number(slider.value)));
  slider.addEventListener("keydown", (event) => {
    const step = arrowStep(event.key, shown, Number(slider.value), kept.first, kept.last);
    if (step === null) return;
    event.preventDefault(); // the native slider would move one step, often to the same image
    go(step);
  });
  canvas.addEventListener("click", (event) => {
    if (!img || img.kind !== "labels") return;
    const cell = heatmap.probe(canvas, img, event);
    if (cell && cell.value) actions.pick(cell.value);
  });
  new IntersectionObserver((entries) => {
    visible = entries.some((e) => e.isIntersecting);
    if (visible) fetchWanted();
  }).observe(el);
  syncSlider();

  return {
    key: info.key,
    /** A live `media` message of this key: the slider grows, and a thumb at the end follows. */
    add(msg, item) {
      const atEnd = following();
      // Remembered answers the message leaves true stay (the last one gains its next step),
      // so following the live end asks nothing again; the others are asked afresh.
      for (const [step, answer] of [...answers]) {
        const still = answerAfter(answer, msg, kept.last);
        if (still) answers.set(step, still);
        else answers.delete(step);
      }
      if (msg.step > kept.last) setNewest(item, kept.last);
      else if (msg.step === kept.last) newest = { item, prev: newest.prev, next: null };
      kept = extendKept(kept, msg);
      heard.push({ step: msg.step, dropped: msg.dropped || [] });
      heard.splice(0, Math.max(0, heard.length - MAX_HEARD));
      if (atEnd) wanted = kept.last;
      asked = null;
      syncSlider();
      if (atEnd) fetchWanted();
    },
    /** The key's info from a `…/media` listing: its kept steps win over what live messages
     * alone told (the panel may have come from one), extended by those it was read before. */
    merge(listed) {
      const atEnd = following();
      const merged = mergeKept(listed, heard);
      kept = { ...merged, last: Math.max(merged.last, kept.last) };
      answers.clear();
      // The listing's newest is still the newest: it comes with the kept step before it.
      if (listed.last_step === kept.last) setNewest(listed.newest, listed.prev_step);
      // The newest item with no known kept neighbour (the panel came from it) is asked again.
      else if (newest.prev === null) newest = { item: null, prev: null, next: null };
      asked = null;
      if (atEnd) wanted = kept.last;
      syncSlider();
      fetchWanted();
    },
    setAllowed: (yes) => actions.setAllowed(yes),
    setKinds: (kinds) => actions.setKinds(kinds),
    noteCommand: (cmd) => actions.note(cmd),
  };
}
