// A scatter of runs on one canvas: a field across (a config key, numbers or categories) against
// a field up (a summary), each linear or log; a dot per run coloured like the other views, runs
// the brushes leave out faint. Hovering names the nearest run (as text). The canvas carries
// data-drawn and data-plot (the frame, the box inside it the axes' domains span, and each
// axis's domain) for tests.

import { node } from "./dom.js";
import { formatScalar, formatTick, formatValue } from "./format.js";
import { categoryKey } from "./sweep-brush.js";
import { BINS, FADED, GRID, INK, INSET, binColour, fitCanvas, fitText } from "./sweep-canvas.js";
import { pointIndex } from "./sweep-hit.js";
import { categoryScale, numberScale, ticksFor } from "./sweep-scales.js";

const HEIGHT = 340;
const MARGIN = { left: 60, right: 16, top: 14, bottom: 40 };
const DOT = 3;

function scaleFor(axis, a, b) {
  if (axis.kind === "category") return categoryScale(axis.categories.length, a, b);
  const [lo, hi] = axis.extent || [0, 1];
  return numberScale(lo, hi, a, b, axis.scale);
}

function place(axis, scale, v) {
  return axis.kind === "category" ? scale.toPx(axis.index.get(categoryKey(v)) ?? -1) : scale.toPx(v);
}

/** A value as the tooltip shows it. */
function show(v) {
  if (v === undefined) return "—";
  return typeof v === "number" ? formatValue(v) : formatScalar(v);
}

function describe(axis, scale) {
  return axis.kind === "category"
    ? { kind: "category", categories: axis.categories.map((c) => c.label) }
    : { kind: axis.scale, domain: scale.domain };
}

/** Mount in `root`; returns {setData}. */
export function mount(root) {
  const stage = node("div", "sweep-stage");
  const canvas = node("canvas", "sweep-canvas sweep-scatter-canvas");
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "scatter of the runs");
  const tip = node("div", "sweep-tip");
  tip.hidden = true;
  stage.append(canvas, tip);
  root.append(stage);
  let data = null; // {runs, xAxis, yAxis, xValues, yValues, bins, kept}
  let index = null;
  let px = null; // {xs, ys}

  function draw() {
    if (!data) return;
    const { ctx, width } = fitCanvas(canvas, HEIGHT);
    const left = MARGIN.left;
    const right = width - MARGIN.right;
    const top = MARGIN.top;
    const bottom = HEIGHT - MARGIN.bottom;
    // The domains span a box inset in the frame: a run at an extreme is a whole dot inside it.
    const sx = scaleFor(data.xAxis, left + INSET, right - INSET);
    const sy = scaleFor(data.yAxis, bottom - INSET, top + INSET);
    const n = data.runs.length;
    const xs = new Float32Array(n);
    const ys = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      xs[i] = place(data.xAxis, sx, data.xValues[i]);
      ys[i] = place(data.yAxis, sy, data.yValues[i]);
    }
    drawFrame(ctx, sx, sy, { left, right, top, bottom });
    const groups = Array.from({ length: BINS + 2 }, () => []); // faded, no value, bins…
    let drawn = 0;
    for (let i = 0; i < n; i++) {
      if (xs[i] !== xs[i] || ys[i] !== ys[i]) continue;
      groups[data.kept[i] ? data.bins[i] + 2 : 0].push(i);
      drawn += 1;
    }
    groups.forEach((indices, g) => {
      if (!indices.length) return;
      ctx.fillStyle = g === 0 ? FADED : binColour(g - 2);
      ctx.beginPath();
      for (const i of indices) ctx.rect(xs[i] - DOT / 2, ys[i] - DOT / 2, DOT, DOT);
      ctx.fill();
    });
    px = { xs, ys };
    // Only the runs the brushes keep answer a hover: the faint ones are context.
    const hx = Float32Array.from(xs, (x, i) => (data.kept[i] ? x : NaN));
    index = pointIndex(hx, ys);
    canvas.dataset.drawn = String(drawn);
    const [plotLeft, plotRight] = sx.range;
    const [plotBottom, plotTop] = sy.range;
    canvas.dataset.plot = JSON.stringify({
      frame: { left, right, top, bottom },
      left: plotLeft,
      right: plotRight,
      top: plotTop,
      bottom: plotBottom,
      x: describe(data.xAxis, sx),
      y: describe(data.yAxis, sy),
    });
  }

  function drawFrame(ctx, sx, sy, box) {
    ctx.font = "11px ui-sans-serif, system-ui, sans-serif";
    ctx.strokeStyle = GRID;
    ctx.lineWidth = 1;
    ctx.strokeRect(box.left, box.top, box.right - box.left, box.bottom - box.top);
    ctx.fillStyle = INK;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const [y, label] of ticks(data.yAxis, sy, box.bottom - box.top, 14)) {
      ctx.fillText(fitText(ctx, label, MARGIN.left - 8), box.left - 5, y);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const [x, label] of ticks(data.xAxis, sx, box.right - box.left, 70)) {
      ctx.fillText(fitText(ctx, label, 66), x, box.bottom + 4);
    }
    ctx.fillText(fitText(ctx, data.xAxis.name + (data.xAxis.scale === "log" ? " (log)" : ""), box.right - box.left), (box.left + box.right) / 2, box.bottom + 22);
  }

  function ticks(axis, scale, length, spacing) {
    if (axis.kind === "category") {
      const every = Math.max(1, Math.ceil((axis.categories.length * spacing) / length));
      return axis.categories.filter((_, i) => i % every === 0).map((c) => [scale.toPx(axis.index.get(c.key)), c.label]);
    }
    return axis.extent ? ticksFor(scale, 5).map((v) => [scale.toPx(v), formatTick(v)]) : [];
  }

  function hover(event) {
    if (!index) return;
    const box = canvas.getBoundingClientRect();
    const x = event.clientX - box.left;
    const y = event.clientY - box.top;
    const i = index.nearest(x, y, 8);
    if (i < 0) {
      tip.hidden = true;
      delete tip.dataset.runId;
      return;
    }
    const run = data.runs[i];
    tip.replaceChildren(
      node("strong", "sweep-tip-name", run.name || run.id),
      node("span", "sweep-tip-row", `${data.xAxis.name} = ${show(data.xValues[i])}`),
      node("span", "sweep-tip-row", `${data.yAxis.name} = ${show(data.yValues[i])}`),
    );
    tip.dataset.runId = run.id;
    tip.hidden = false;
    tip.style.left = `${Math.min(px.xs[i] + 10, box.width - 220)}px`;
    tip.style.top = `${px.ys[i] + 10}px`;
  }

  canvas.addEventListener("pointermove", hover);
  canvas.addEventListener("pointerleave", () => {
    tip.hidden = true;
  });
  canvas.addEventListener("click", () => {
    if (!tip.hidden && tip.dataset.runId) location.href = `/runs/${encodeURIComponent(tip.dataset.runId)}`;
  });
  addEventListener("resize", () => requestAnimationFrame(draw));

  return {
    /** Draw {runs, xAxis, yAxis, xValues, yValues, bins, kept}. */
    setData(next) {
      data = next;
      tip.hidden = true;
      draw();
    },
  };
}
