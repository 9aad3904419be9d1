// One snapshot value: a 1-D list of numbers as a line, a 2-D one as a heatmap (both canvas),
// anything else as a collapsible JSON tree (text only).

import { node } from "./dom.js";
import { formatCount, formatTick } from "./format.js";
import * as jsonTree from "./json-tree.js";

const LINE_HEIGHT = 150;
const HEATMAP_HEIGHT = 150; // at most, in CSS pixels: cells are square
const MAX_HEATMAP_CELLS = 1_000_000;
// A perceptual ramp (viridis stops); cells between stops are interpolated.
const RAMP = [
  [68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141],
  [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37],
];

const isNum = (v) => typeof v === "number" || v === null; // null: a gap (NaN on the wire)

/** "line" for a flat list of numbers, "heatmap" for a list of such lists, else "tree". */
export function shapeOf(value) {
  if (!Array.isArray(value) || value.length === 0) return "tree";
  if (value.every(isNum)) return value.some((v) => v !== null) ? "line" : "tree";
  if (value.every((row) => Array.isArray(row) && row.length > 0 && row.every(isNum))) return "heatmap";
  return "tree";
}

/** The ramp colour of t in [0, 1] as [r, g, b]. */
export function rampColor(t) {
  const x = Math.min(1, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - i;
  return RAMP[i].map((c, k) => Math.round(c + (RAMP[i + 1][k] - c) * f));
}

function range(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (typeof v === "number" && Number.isFinite(v)) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return [lo, hi];
}

function sizeCanvas(canvas, width, height) {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

/** The left margin of a line chart whose tick labels are `texts` in `ctx`'s font: the widest
 * label and a gap (at least 40 px), so no label is cut at the canvas's edge. */
export function labelMargin(ctx, texts) {
  return Math.max(40, Math.ceil(Math.max(...texts.map((t) => ctx.measureText(t).width))) + 10);
}

function drawLine(el, values) {
  const canvas = node("canvas", "snap-canvas");
  const caption = node("div", "snap-caption");
  const [lo, hi] = range(values);
  caption.textContent = `${formatCount(values.length)} values · min ${formatTick(lo)} · max ${formatTick(hi)}`;
  el.append(canvas, caption);
  const paint = () => {
    const width = Math.max(1, el.clientWidth);
    const ctx = sizeCanvas(canvas, width, LINE_HEIGHT);
    const [a, b] = lo === hi ? [lo - 1, hi + 1] : [lo, hi];
    ctx.font = "10.5px ui-sans-serif, system-ui, sans-serif";
    const ticks = [[b, "top"], [(a + b) / 2, "middle"], [a, "bottom"]].map(([v, base]) => [v, base, formatTick(v)]);
    const pad = { l: labelMargin(ctx, ticks.map(([, , text]) => text)), r: 6, t: 6, b: 6 };
    const w = width - pad.l - pad.r;
    const h = LINE_HEIGHT - pad.t - pad.b;
    const px = (i) => pad.l + (values.length === 1 ? w / 2 : (i * w) / (values.length - 1));
    const py = (v) => pad.t + h - ((v - a) / (b - a)) * h;
    ctx.fillStyle = "#7d8796";
    ctx.strokeStyle = "rgba(148, 163, 184, 0.09)";
    ctx.textAlign = "right";
    for (const [v, base, text] of ticks) {
      const y = Math.round(py(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(pad.l, y);
      ctx.lineTo(pad.l + w, y);
      ctx.stroke();
      ctx.textBaseline = base;
      ctx.fillText(text, pad.l - 6, y);
    }
    ctx.strokeStyle = "#38bdf8";
    ctx.lineWidth = 1.5;
    ctx.lineJoin = "round";
    ctx.beginPath();
    let open = false;
    values.forEach((v, i) => {
      if (typeof v !== "number" || !Number.isFinite(v)) {
        open = false;
        return;
      }
      if (open) ctx.lineTo(px(i), py(v));
      else ctx.moveTo(px(i), py(v));
      open = true;
    });
    ctx.stroke();
    if (values.length <= 64) {
      ctx.fillStyle = "#38bdf8";
      values.forEach((v, i) => {
        if (typeof v !== "number" || !Number.isFinite(v)) return;
        ctx.beginPath();
        ctx.arc(px(i), py(v), 2, 0, 2 * Math.PI);
        ctx.fill();
      });
    }
  };
  paint();
  return paint;
}

function drawHeatmap(el, rows) {
  const cols = Math.max(...rows.map((r) => r.length));
  const cells = rows.length * cols;
  const canvas = node("canvas", "snap-canvas snap-heatmap");
  const caption = node("div", "snap-caption");
  const [lo, hi] = range(rows.flat());
  const bar = node("span", "snap-colorbar");
  caption.append(
    `${formatCount(rows.length)} × ${formatCount(cols)} · `,
    node("span", "", formatTick(lo)),
    bar,
    node("span", "", formatTick(hi)),
  );
  el.append(canvas, caption);
  if (cells > MAX_HEATMAP_CELLS) {
    caption.append(" · too large to draw");
    return () => {};
  }
  // The matrix at one pixel per cell, then scaled up without smoothing.
  const image = new ImageData(cols, rows.length);
  const span = hi - lo || 1;
  rows.forEach((row, r) => {
    for (let c = 0; c < cols; c++) {
      const v = row[c];
      const at = (r * cols + c) * 4;
      if (typeof v !== "number" || !Number.isFinite(v)) {
        image.data.set([40, 44, 52, 255], at); // a gap
        continue;
      }
      const [red, green, blue] = rampColor((v - lo) / span);
      image.data.set([red, green, blue, 255], at);
    }
  });
  const source = document.createElement("canvas");
  source.width = cols;
  source.height = rows.length;
  source.getContext("2d").putImageData(image, 0, 0);
  const paint = () => {
    const width = Math.max(1, el.clientWidth);
    const cell = Math.max(1, Math.min(24, Math.floor(width / cols), Math.floor(HEATMAP_HEIGHT / rows.length) || 1));
    const w = Math.min(width, cols * cell);
    const h = Math.max(1, Math.round((w / cols) * rows.length));
    const ctx = sizeCanvas(canvas, w, h);
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(source, 0, 0, w, h);
  };
  paint();
  return paint;
}

/** Draw `value` into `el` (replacing what was there): {shape, repaint()} (repaint on resize). */
export function render(el, value) {
  el.replaceChildren();
  const shape = shapeOf(value);
  el.dataset.kind = shape;
  let repaint = () => {};
  if (shape === "line") repaint = drawLine(el, value);
  else if (shape === "heatmap") repaint = drawHeatmap(el, value);
  else el.append(jsonTree.render(value));
  return { shape, repaint };
}
