// The image and snapshot keys that show one entity (logged with `entity=`), listed in its drawer:
// each a button that reveals the key where the page shows it (the Media tab's panel, the
// snapshot scrubber); an image key also shows its newest image of the entity, a thumbnail that
// reveals it too. Keys are user-supplied: shown as text only.

import { node } from "./dom.js";
import { formatCount } from "./format.js";
import * as heatmap from "./heatmap.js";
import * as mediaImages from "./media-images.js";

// A thumbnail's canvas rows at most (its CSS height, times 2 for a dense screen): a large
// image's thumbnail never holds its full-size pixels.
const THUMB_HEIGHT = 192;

function entry(kind, key, detail, onClick) {
  const li = node("li", "em-item");
  li.dataset.kind = kind;
  li.dataset.key = key;
  const open = node("button", "em-key", key);
  open.type = "button";
  open.title = key;
  open.addEventListener("click", () => onClick(key));
  li.append(open, node("span", "em-detail", detail));
  return li;
}

/** Mount in `el`; `onImage(key)` / `onSnapshot(key)`: a listed key was clicked. */
export function mount(el, { onImage, onSnapshot }) {
  const imagesHead = node("h3", "em-head", "Images");
  const images = node("ul", "em-list em-images");
  const snapsHead = node("h3", "em-head", "Snapshots");
  const snaps = node("ul", "em-list em-snapshots");
  el.append(imagesHead, images, snapsHead, snaps);
  // A thumbnail's image is fetched once it scrolls into the list's view: thumbnail -> its load.
  // At most one per listed image key (the server's answer bounds the list).
  const waiting = new Map();
  let drawn = new Map(); // image key -> its entry on show (a refresh keeps an unchanged one)
  const seen = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (!e.isIntersecting || !waiting.has(e.target)) continue;
      seen.unobserve(e.target);
      waiting.get(e.target)();
      waiting.delete(e.target);
    }
  });

  /** The newest `item` of `key` drawn as the Media tab draws it (PNG/JPEG, heatmap, label map:
   * fetched through api.js with the tab's token, decoded once into the tab's bounded cache), at
   * most THUMB_HEIGHT canvas rows, in a button that reveals the key. */
  function thumbnail(key, item) {
    const btn = node("button", "em-thumb");
    btn.type = "button";
    btn.title = key;
    btn.dataset.sha = item.sha256;
    btn.addEventListener("click", () => onImage(key));
    const canvas = node("canvas", "em-thumb-img");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", key);
    heatmap.reserve(canvas, item.width, item.height);
    btn.append(canvas);
    waiting.set(btn, () =>
      mediaImages.load(item).then(
        (img) => {
          if (btn.isConnected) heatmap.paint(canvas, img, THUMB_HEIGHT); // not if replaced since
        },
        () => {
          btn.hidden = true; // the key's name and detail still say what is there
        },
      ),
    );
    seen.observe(btn);
    return btn;
  }

  /** An entry left out of the list: its thumbnail is no longer loaded. */
  function forget(li) {
    const btn = li.querySelector(".em-thumb");
    seen.unobserve(btn);
    waiting.delete(btn);
  }

  function clear() {
    seen.disconnect();
    waiting.clear();
    drawn = new Map();
    images.replaceChildren();
    snaps.replaceChildren();
    el.hidden = true;
  }
  clear();

  return {
    clear,
    /** Show an answer of `…/entities/{entity}/media`: after `clear`, or anew for the entity
     * on show (a key whose newest image is the same keeps its entry and thumbnail: no flicker,
     * no fetch). */
    show(answer) {
      const imageKeys = answer.images || [];
      const snapKeys = answer.snapshots || [];
      const next = new Map();
      for (const i of imageKeys) {
        const detail = `${i.kind} · step ${formatCount(i.newest.step)} · ${formatCount(i.count)} kept`;
        let li = drawn.get(i.key);
        if (li && li.querySelector(".em-thumb").dataset.sha === i.newest.sha256) {
          li.querySelector(".em-detail").textContent = detail;
        } else {
          li = entry("image", i.key, detail, onImage);
          li.append(thumbnail(i.key, i.newest));
        }
        next.set(i.key, li);
      }
      for (const [key, li] of drawn) if (next.get(key) !== li) forget(li);
      drawn = next;
      images.replaceChildren(...next.values());
      snaps.replaceChildren(
        ...snapKeys.map((s) => {
          const detail = `step ${formatCount(s.last_step)} · ${formatCount(s.versions)} kept`;
          return entry("snapshot", s.key, detail, onSnapshot);
        }),
      );
      imagesHead.hidden = images.hidden = imageKeys.length === 0;
      snapsHead.hidden = snaps.hidden = snapKeys.length === 0;
      el.hidden = imageKeys.length + snapKeys.length === 0;
    },
  };
}
