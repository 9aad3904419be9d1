// Shared by the sweep canvases: a canvas sized to its box at the device's pixel ratio, colour
// bins for many lines drawn as few paths, and axis labels.

import { rampColor } from "./sweep-scales.js";

export const BINS = 24; // colours a view draws with: one path per colour, however many runs
export const NO_COLOUR = "rgba(148, 163, 184, 0.6)"; // 3:1 on the panels, as every bin colour
// Pixels between the frame and the data's extremes, so a mark at either end is drawn whole and
// inside the frame, not half over its edge.
export const INSET = 6;
export const FADED = "rgba(148, 163, 184, 0.10)";
export const INK = "#b4bdc9";
export const GRID = "#232b36";
const BIN_COLOURS = Array.from({ length: BINS }, (_, i) => rampColor(i / (BINS - 1)));

/** The colour of bin i (or the no-value grey for -1). */
export function binColour(i) {
  return i < 0 ? NO_COLOUR : BIN_COLOURS[i];
}

/**
 * A colouring of runs by one field: bin(run) is 0..BINS-1 for a run with a number (low to
 * high; `reverse` flips it so the best is always the bright end), -1 otherwise.
 */
export function colouring(values, { log = false, reverse = false } = {}) {
  const t = (v) => (log ? Math.log10(v) : v);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (typeof v !== "number" || !Number.isFinite(v) || (log && v <= 0)) continue;
    lo = Math.min(lo, t(v));
    hi = Math.max(hi, t(v));
  }
  const span = hi - lo || 1;
  return (v) => {
    if (typeof v !== "number" || !Number.isFinite(v) || (log && v <= 0) || !(hi >= lo)) return -1;
    const u = (t(v) - lo) / span;
    return Math.min(BINS - 1, Math.max(0, Math.round((reverse ? 1 - u : u) * (BINS - 1))));
  };
}

/** Size the canvas to its CSS box (× devicePixelRatio) and return its 2D context, scaled so
 * drawing is in CSS pixels, with the box's width and height. */
export function fitCanvas(canvas, height) {
  const ratio = window.devicePixelRatio || 1;
  const parent = canvas.parentElement;
  const style = getComputedStyle(parent);
  const inner = parent.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const width = Math.max(200, Math.floor(inner || 600));
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return { ctx, width, height };
}

/** A label cut to `max` pixels wide with an ellipsis (canvas text: never markup). */
export function fitText(ctx, text, max) {
  if (ctx.measureText(text).width <= max) return text;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ctx.measureText(`${text.slice(0, mid)}…`).width <= max) lo = mid;
    else hi = mid - 1;
  }
  return `${text.slice(0, lo)}…`;
}
