// The image and snapshot keys that show one entity (logged with `entity=`), listed in its drawer:
// each a button that reveals the key where the page shows it (the Media tab's panel, the
// snapshot scrubber). Keys are user-supplied: shown as text only.

import { node } from "./dom.js";
import { formatCount } from "./format.js";

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

  function clear() {
    images.replaceChildren();
    snaps.replaceChildren();
    el.hidden = true;
  }
  clear();

  return {
    clear,
    /** Show an answer of `…/entities/{entity}/media`. */
    show(answer) {
      const imageKeys = answer.images || [];
      const snapKeys = answer.snapshots || [];
      images.replaceChildren(
        ...imageKeys.map((i) => {
          const detail = `${i.kind} · step ${formatCount(i.newest.step)} · ${formatCount(i.count)} kept`;
          return entry("image", i.key, detail, onImage);
        }),
      );
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
