// Drawing a decoded media image on a canvas at one canvas pixel per image pixel (CSS scales it
// without smoothing), a heatmap's colour scale with its min and max, and what lies under the
// cursor: a heatmap's value, a label map's entity, an image's pixel (the line under an image
// shows both, on the run page and the compare page alike).

import { node } from "./dom.js";
import { formatTick } from "./format.js";
import { OFF_SCALE, cellAt, offScale } from "./media-data.js";
import { rampColor } from "./snapshot-view.js";

const LEGEND_STEPS = 64;

/** Size a blank `canvas` for a `width`×`height` image still to come, so the page does not
 * shift when it is drawn (nothing for an unknown size). */
export function reserve(canvas, width, height) {
  if (!(width > 0 && height > 0)) return;
  canvas.width = width;
  canvas.height = height;
  canvas.style.aspectRatio = `${width} / ${height}`;
}

/** Draw `img` (from media-images.load) into `canvas`, which takes the image's own size, or
 * its aspect at `maxHeight` rows when it is taller (a thumbnail). */
export function paint(canvas, img, maxHeight = Infinity) {
  const scale = Math.min(1, maxHeight / img.height);
  const width = Math.max(1, Math.round(img.width * scale));
  const height = Math.max(1, Math.round(img.height * scale));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  ctx.imageSmoothingEnabled = img.kind === "image"; // a photo smoothed, a cell never blurred
  ctx.drawImage(img.bitmap, 0, 0, width, height);
  canvas.dataset.kind = img.kind;
  canvas.style.aspectRatio = `${img.width} / ${img.height}`;
}

/** A heatmap's colour scale in `el`: "min ▮▮▮ max", then a swatch for each kind of cell off
 * the scale it has ("▮ +inf"); empty for other kinds. */
export function legend(el, img) {
  el.replaceChildren();
  el.hidden = img.kind !== "heatmap";
  if (el.hidden) return;
  const bar = node("canvas", "media-colorbar");
  bar.width = LEGEND_STEPS;
  bar.height = 1;
  const ctx = bar.getContext("2d");
  for (let i = 0; i < LEGEND_STEPS; i++) {
    const [r, g, b] = rampColor(i / (LEGEND_STEPS - 1));
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(i, 0, 1, 1);
  }
  const lo = node("span", "media-min", formatTick(img.lo));
  const hi = node("span", "media-max", formatTick(img.hi));
  lo.dataset.value = String(img.lo);
  hi.dataset.value = String(img.hi);
  el.append(lo, bar, hi);
  // The colours of the cells off the scale this image has (NaN, +inf, −inf), each named.
  for (const kind of img.offScale || []) {
    const { label, rgba } = OFF_SCALE[kind];
    const key = node("span", "media-offscale");
    key.dataset.kind = kind;
    const swatch = node("span", "media-swatch");
    swatch.style.background = `rgb(${rgba[0]},${rgba[1]},${rgba[2]})`;
    key.append(swatch, label);
    el.append(key);
  }
}

/**
 * The line under an image drawn on `canvas`: a heatmap's colour scale and what lies under the
 * cursor. `onCell(cell, img)` hears each probed cell (null outside). Returns {el, show(img)}:
 * `show` each image as it is painted.
 */
export function under(canvas, onCell = () => {}) {
  const el = node("div", "media-under");
  const scale = node("span", "media-legend");
  const readout = node("span", "media-readout");
  el.append(scale, readout);
  let img = null;
  canvas.addEventListener("pointermove", (event) => {
    if (!img) return;
    const cell = probe(canvas, img, event);
    readout.textContent = cell ? describeCell(img, cell) : "";
    onCell(cell, img);
  });
  canvas.addEventListener("pointerleave", () => {
    readout.textContent = "";
  });
  return {
    el,
    show(next) {
      img = next;
      legend(scale, img);
      readout.textContent = "";
    },
  };
}

/** The cell of `img` under a pointer event on `canvas`, with what it holds; null outside. */
export function probe(canvas, img, event) {
  const box = canvas.getBoundingClientRect();
  const cell = cellAt(event.clientX - box.left, event.clientY - box.top, box.width, box.height, img.width, img.height);
  if (!cell) return null;
  const value = img.values ? img.values[cell.index] : null;
  return { ...cell, value };
}

/** A short text for a probed cell: "x 3, y 7 · 0.52" (heatmap), "#47" (label), "x 3, y 7". */
export function describeCell(img, cell) {
  const at = `x ${cell.col}, y ${cell.row}`;
  if (img.kind === "heatmap") {
    const off = offScale(cell.value);
    return `${at} · ${off ? OFF_SCALE[off].label : formatTick(cell.value)}`;
  }
  if (img.kind === "labels") return cell.value ? `${at} · #${cell.value}` : `${at} · background`;
  return at;
}
