// Parallel coordinates on one canvas: an axis per field, a polyline per run, coloured by one
// summary; runs the brushes leave out are drawn faint. Lines are drawn as one path per colour,
// so 10,000 runs are a few dozen strokes. Dragging along an axis brushes a range (a click
// clears it); `onBrush(axisName, brush | null, final)` hears each change, `final` on release.
// The canvas carries data-drawn (runs with a line), data-kept and data-draw-ms, and data-axes
// (each axis's name, x, top and bottom in CSS pixels) for tests and benchmarks.

import { node } from "./dom.js";
import { formatTick } from "./format.js";
import { categoryKey, rangeBrush, setBrush } from "./sweep-brush.js";
import { BINS, FADED, GRID, INK, binColour, fitCanvas, fitText } from "./sweep-canvas.js";
import { axisAt, axisPositions } from "./sweep-hit.js";
import { categoryScale, numberScale, ticksFor } from "./sweep-scales.js";

const HEIGHT = 380;
const MARGIN = { left: 64, right: 64, top: 34, bottom: 24 };
const CLICK_PX = 3; // a drag shorter than this is a click: it clears the axis's brush

/** The scale of an axis between the pixels `bottom` (low values) and `top`. */
export function axisScale(axis, bottom, top) {
  if (axis.kind === "category") return categoryScale(axis.categories.length, bottom, top);
  const [lo, hi] = axis.extent || [0, 1];
  return numberScale(lo, hi, bottom, top, axis.scale);
}

/** Each run's pixel on an axis (NaN where it has no value the axis can place). */
export function placeRuns(axis, scale, values) {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    if (axis.kind === "category") out[i] = scale.toPx(axis.index.get(categoryKey(values[i])) ?? -1);
    else out[i] = scale.toPx(values[i]);
  }
  return out;
}

/** Mount in `root`; returns {setData, draw}. */
export function mount(root, { onBrush }) {
  const canvas = node("canvas", "sweep-canvas parcoords-canvas");
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "parallel coordinates of the runs");
  root.append(canvas);
  let data = null; // {axes, values (per axis: array per run), bins (Int8Array), kept (Uint8Array), brushes}
  let geometry = null; // {width, xs, top, bottom, scales, ys}
  let drag = null;
  let frame = 0;

  function layout(width) {
    const top = MARGIN.top;
    const bottom = HEIGHT - MARGIN.bottom;
    const xs = axisPositions(data.axes.length, MARGIN.left, width - MARGIN.right);
    const scales = data.axes.map((a) => axisScale(a, bottom, top));
    const ys = data.axes.map((a, i) => placeRuns(a, scales[i], data.values[i]));
    geometry = { width, xs, top, bottom, scales, ys };
    canvas.dataset.axes = JSON.stringify(data.axes.map((a, i) => ({ name: a.name, x: xs[i], top, bottom })));
  }

  function lines(ctx, indices) {
    const { xs, ys } = geometry;
    let drawn = 0;
    for (const i of indices) {
      let pen = false;
      let any = false;
      for (let a = 0; a < xs.length; a++) {
        const y = ys[a][i];
        if (y !== y) {
          pen = false; // NaN: no value on this axis, the line breaks
          continue;
        }
        if (pen) ctx.lineTo(xs[a], y);
        else ctx.moveTo(xs[a], y);
        pen = true;
        any = true;
      }
      if (any) drawn += 1;
    }
    return drawn;
  }

  function draw() {
    frame = 0;
    if (!data) return;
    const started = performance.now();
    const { ctx, width } = fitCanvas(canvas, HEIGHT);
    if (!geometry || geometry.width !== width || geometry.data !== data) {
      layout(width);
      geometry.data = data;
    }
    const n = data.bins.length;
    const faded = [];
    const byBin = Array.from({ length: BINS + 1 }, () => []);
    let kept = 0;
    for (let i = 0; i < n; i++) {
      if (!data.kept[i]) faded.push(i);
      else {
        byBin[data.bins[i] + 1].push(i);
        kept += 1;
      }
    }
    ctx.lineWidth = 1;
    ctx.strokeStyle = FADED;
    ctx.beginPath();
    let drawn = lines(ctx, faded);
    ctx.stroke();
    // Fewer runs, stronger lines: a few hundred stay legible, 10,000 still show density.
    ctx.globalAlpha = Math.min(0.9, Math.max(0.12, 12 / Math.sqrt(kept || 1)));
    byBin.forEach((indices, b) => {
      if (!indices.length) return;
      ctx.strokeStyle = binColour(b - 1);
      ctx.beginPath();
      drawn += lines(ctx, indices);
      ctx.stroke();
    });
    ctx.globalAlpha = 1;
    drawAxes(ctx);
    canvas.dataset.drawn = String(drawn);
    canvas.dataset.kept = String(kept);
    canvas.dataset.drawMs = (performance.now() - started).toFixed(2);
  }

  function drawAxes(ctx) {
    const { xs, top, bottom, scales } = geometry;
    const room = xs.length > 1 ? xs[1] - xs[0] - 8 : 200;
    ctx.font = "11px ui-sans-serif, system-ui, sans-serif";
    ctx.textBaseline = "middle";
    data.axes.forEach((axis, a) => {
      const x = xs[a];
      const scale = scales[a];
      ctx.strokeStyle = GRID;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, bottom);
      ctx.stroke();
      drawBrush(ctx, axis, scale, x);
      ctx.fillStyle = INK;
      ctx.textAlign = "center";
      ctx.fillText(fitText(ctx, axis.name + (axis.scale === "log" ? " (log)" : ""), Math.max(40, room)), x, top - 18);
      ctx.textAlign = "right";
      for (const [y, label] of tickLabels(axis, scale)) {
        ctx.fillStyle = INK;
        ctx.fillText(fitText(ctx, label, 56), x - 5, y);
      }
    });
  }

  function tickLabels(axis, scale) {
    if (axis.kind === "category") {
      const count = axis.categories.length;
      const every = Math.max(1, Math.ceil((count * 13) / (geometry.bottom - geometry.top)));
      return axis.categories.filter((_, i) => i % every === 0).map((c) => [scale.toPx(axis.index.get(c.key)), c.label]);
    }
    if (!axis.extent) return [];
    return ticksFor(scale, 5).map((v) => [scale.toPx(v), formatTick(v)]);
  }

  function brushSpan(axis, scale, brush) {
    const { top, bottom } = geometry;
    if (brush.kind === "range") {
      const y0 = scale.toPx(Math.max(brush.lo, axis.scale === "log" ? Number.MIN_VALUE : -Infinity));
      const y1 = scale.toPx(brush.hi);
      const a = Number.isFinite(y0) ? y0 : bottom;
      const b = Number.isFinite(y1) ? y1 : top;
      return [Math.max(top, Math.min(a, b)), Math.min(bottom, Math.max(a, b))];
    }
    const ys = brush.keys.map((k) => scale.toPx(axis.index.get(k) ?? -1)).filter(Number.isFinite);
    if (!ys.length) return null;
    const half = (bottom - top) / Math.max(1, axis.categories.length) / 2;
    return [Math.min(...ys) - half, Math.max(...ys) + half];
  }

  function drawBrush(ctx, axis, scale, x) {
    let span = null;
    if (drag && data.axes[drag.axis] === axis) span = [Math.min(drag.y0, drag.y1), Math.max(drag.y0, drag.y1)];
    else {
      const brush = data.brushes.find((b) => b.axis === axis.name);
      if (brush) span = brushSpan(axis, scale, brush);
    }
    if (!span) return;
    ctx.fillStyle = "rgba(56, 189, 248, 0.22)";
    ctx.strokeStyle = "#38bdf8";
    ctx.lineWidth = 1;
    ctx.fillRect(x - 8, span[0], 16, span[1] - span[0]);
    ctx.strokeRect(x - 8, span[0], 16, span[1] - span[0]);
  }

  function brushOf(d) {
    const axis = data.axes[d.axis];
    const scale = geometry.scales[d.axis];
    if (axis.kind === "category") {
      const picked = scale.between(d.y0, d.y1).map((i) => axis.categories[i]);
      return picked.length ? setBrush(axis.name, picked) : null;
    }
    if (!axis.extent) return null;
    return rangeBrush(axis.name, scale.fromPx(d.y0), scale.fromPx(d.y1));
  }

  function point(event) {
    const box = canvas.getBoundingClientRect();
    const y = Math.min(geometry.bottom, Math.max(geometry.top, event.clientY - box.top));
    return { x: event.clientX - box.left, y };
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (!geometry || event.button !== 0) return;
    const p = point(event);
    const axis = axisAt(p.x, geometry.xs);
    if (axis < 0) return;
    drag = { axis, y0: p.y, y1: p.y };
    canvas.setPointerCapture(event.pointerId);
    event.preventDefault();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!geometry) return;
    const p = point(event);
    if (!drag) {
      canvas.style.cursor = axisAt(p.x, geometry.xs) >= 0 ? "ns-resize" : "";
      return;
    }
    drag.y1 = p.y;
    if (Math.abs(drag.y1 - drag.y0) >= CLICK_PX) onBrush(data.axes[drag.axis].name, brushOf(drag), false);
  });
  const release = (event) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    if (canvas.hasPointerCapture(event.pointerId)) canvas.releasePointerCapture(event.pointerId);
    const brush = Math.abs(d.y1 - d.y0) < CLICK_PX ? null : brushOf(d);
    onBrush(data.axes[d.axis].name, brush, true);
  };
  canvas.addEventListener("pointerup", release);
  canvas.addEventListener("pointercancel", release);
  addEventListener("resize", () => {
    if (!frame) frame = requestAnimationFrame(draw);
  });

  return {
    /** New data: {axes, values, bins, kept, brushes}; drawn at once (the caller batches). */
    setData(next) {
      data = next;
      draw();
    },
    /** The same runs and axes, another kept set and brushes: drawn at once. */
    setKept(kept, brushes) {
      data = { ...data, kept, brushes };
      geometry.data = data;
      draw();
    },
  };
}
