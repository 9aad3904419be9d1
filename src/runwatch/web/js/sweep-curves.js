// Each chosen run's curve of one metric in one canvas chart (x = step), coloured like the other
// views; "best so far" draws each run's running best instead. Series are fetched bucketed
// (pointsPerCurve: fewer points a run the more runs), BATCH runs a request (GET /run-curves), at most CONCURRENCY requests at a
// time, the runs in the order given (the best first); cached per run (CACHE_MAX runs), and
// fetched again when the run has logged since (at most every REFRESH_MS). The canvas carries
// data-wanted (runs to draw), data-drawn (curves drawn), data-waiting (series not fetched yet),
// data-y-range (the values drawn: [lo, hi], null for none) and data-draw-ms (the last draw's
// canvas work).

import { describeError } from "./api.js";
import { node } from "./dom.js";
import { formatTick } from "./format.js";
import { BINS, GRID, INK, INSET, binColour, fitCanvas, fitText } from "./sweep-canvas.js";
import { extent, numberScale, ticksFor } from "./sweep-scales.js";
import { bestSoFar, pointsPerCurve, seriesXY } from "./sweep-series.js";

export const BATCH = 100; // the server's limit of runs per /run-curves request
export const CONCURRENCY = 2;
export const MAX_CURVES = 10_000; // curves drawn at most (the sweep page's runs)
export const CACHE_MAX = MAX_CURVES + 2_000;
const REFRESH_MS = 3000;
const PROGRESS_MS = 500; // while series arrive, the curves are redrawn at most this often
const HEIGHT = 320;
const MARGIN = { left: 60, right: 16, top: 14, bottom: 30 };

/** Mount in `root`; `load(runIds, key, maxPoints)` resolves to {run id: the /run-curves series
 * of key}. */
export function mount(root, { load, onError }) {
  const canvas = node("canvas", "sweep-canvas curves-canvas");
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "each run's curve of the chosen metric");
  root.append(canvas);
  const cache = new Map(); // run id -> {metric, updated, at, xy, best: {direction, y}}
  const queue = [];
  const queued = new Set(); // ids queued or being fetched
  let active = 0;
  let view = null; // {runs, metric, best, direction, bins (Map id -> bin), yLog}
  let frame = 0;
  let recheck = null;
  let lastDraw = 0;
  let progress = null;

  const redraw = () => {
    if (!frame) frame = requestAnimationFrame(draw);
  };

  /** A batch arrived: draw now once the last one is in, else at most every PROGRESS_MS (each
   * draw is of every curve so far: drawing per batch would redraw 10,000 curves 100 times). */
  function redrawProgress() {
    const wait = queued.size ? lastDraw + PROGRESS_MS - performance.now() : 0;
    if (wait <= 0) {
      clearTimeout(progress);
      progress = null;
      redraw();
    } else if (!progress) {
      progress = setTimeout(() => {
        progress = null;
        redraw();
      }, wait);
    }
  }

  function fresh(run) {
    const hit = cache.get(run.id);
    return hit && hit.metric === view.metric && hit.updated === run.last_update;
  }

  function want() {
    if (!view || !view.metric) return;
    let soonest = Infinity;
    for (const run of view.runs.slice(0, MAX_CURVES)) {
      if (fresh(run) || queued.has(run.id)) continue;
      const hit = cache.get(run.id);
      const wait = hit && hit.metric === view.metric ? hit.at + REFRESH_MS - performance.now() : 0;
      if (wait > 0) {
        soonest = Math.min(soonest, wait);
        continue;
      }
      queued.add(run.id);
      queue.push(run);
    }
    clearTimeout(recheck);
    if (soonest < Infinity) recheck = setTimeout(want, soonest);
    pump();
  }

  function pump() {
    while (active < CONCURRENCY && queue.length) {
      const batch = queue.splice(0, BATCH);
      const metric = view.metric;
      active += 1;
      load(
        batch.map((run) => run.id),
        metric,
        pointsPerCurve(Math.min(view.runs.length, MAX_CURVES)),
      )
        .then((series) => {
          const at = performance.now();
          for (const run of batch) {
            cache.delete(run.id); // re-insert: the Map's order is the eviction order
            cache.set(run.id, { metric, updated: run.last_update, at, xy: seriesXY(series[run.id]) });
          }
          evict();
          onError("");
        })
        .catch((err) => onError(`Curves: ${describeError(err)}`))
        .finally(() => {
          active -= 1;
          for (const run of batch) queued.delete(run.id);
          redrawProgress();
          pump();
        });
    }
    canvas.dataset.waiting = String(queued.size);
  }

  function evict() {
    if (cache.size <= CACHE_MAX) return;
    const keep = new Set(view.runs.map((r) => r.id));
    for (const id of cache.keys()) {
      if (cache.size <= CACHE_MAX) break;
      if (!keep.has(id)) cache.delete(id);
    }
  }

  function curves() {
    const out = [];
    for (const run of view.runs.slice(0, MAX_CURVES)) {
      const hit = cache.get(run.id);
      if (!hit || hit.metric !== view.metric || !hit.xy.x.length) continue;
      out.push({ run, x: hit.xy.x, y: view.best ? runningBest(hit) : hit.xy.y });
    }
    return out;
  }

  /** The curve's best so far in the view's direction, kept with it (a toggle computes none). */
  function runningBest(hit) {
    if (hit.best?.direction !== view.direction) hit.best = { direction: view.direction, y: bestSoFar(hit.xy.y, view.direction) };
    return hit.best.y;
  }

  function draw() {
    frame = 0;
    if (!view) return;
    const started = performance.now();
    lastDraw = started;
    const { ctx, width } = fitCanvas(canvas, HEIGHT);
    const box = { left: MARGIN.left, right: width - MARGIN.right, top: MARGIN.top, bottom: HEIGHT - MARGIN.bottom };
    const lines = curves();
    const xr = extentOf(lines, "x", "linear");
    const yr = extentOf(lines, "y", view.yLog ? "log" : "linear");
    ctx.strokeStyle = GRID;
    ctx.strokeRect(box.left, box.top, box.right - box.left, box.bottom - box.top);
    canvas.dataset.drawn = "0";
    canvas.dataset.waiting = String(queued.size);
    canvas.dataset.yRange = JSON.stringify(yr);
    if (!xr || !yr) return;
    const sx = numberScale(xr[0], xr[1], box.left, box.right);
    // Inset, as the scatter's: the highest and lowest curves are drawn inside the frame, not on it.
    const sy = numberScale(yr[0], yr[1], box.bottom - INSET, box.top + INSET, view.yLog ? "log" : "linear");
    drawTicks(ctx, sx, sy, box);
    // Worst first, so the best runs' lines end up on top.
    const groups = Array.from({ length: BINS + 1 }, () => []);
    for (const c of lines) groups[(view.bins.get(c.run.id) ?? -1) + 1].push(c);
    // A hairline: a software rasterizer (no GPU) strokes a million segments 1 px wide in about
    // 150 ms, 1.25 px wide in about 2 s.
    ctx.lineWidth = 1;
    ctx.globalAlpha = Math.min(0.95, Math.max(0.35, 6 / Math.sqrt(lines.length)));
    // The scales' arithmetic inline: a draw places up to a million points.
    const [x0, kx, left] = [sx.domain[0], (sx.range[1] - sx.range[0]) / (sx.domain[1] - sx.domain[0]), sx.range[0]];
    const [y0, ky, bottom] = [sy.domain[0], (sy.range[1] - sy.range[0]) / (sy.domain[1] - sy.domain[0]), sy.range[0]];
    const yPx = view.yLog ? (y) => sy.toPx(y) : (y) => (y === null ? NaN : bottom + (y - y0) * ky);
    groups.forEach((group, g) => {
      if (!group.length) return;
      ctx.strokeStyle = binColour(g - 1);
      ctx.beginPath();
      for (const c of group) {
        let pen = false;
        for (let i = 0; i < c.x.length; i++) {
          const y = yPx(c.y[i]);
          if (y !== y) {
            pen = false;
            continue;
          }
          const x = left + (c.x[i] - x0) * kx;
          if (pen) ctx.lineTo(x, y);
          else ctx.moveTo(x, y);
          pen = true;
        }
      }
      ctx.stroke();
    });
    ctx.globalAlpha = 1;
    canvas.dataset.drawn = String(lines.length);
    canvas.dataset.drawMs = (performance.now() - started).toFixed(2);
  }

  /** The extent of every line's `axis` ("x" or "y") values, without one array of them all
   * (10,000 curves hold millions of points). */
  function extentOf(lines, axis, kind) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const line of lines) {
      const e = extent(line[axis], kind);
      if (e && e[0] < lo) lo = e[0];
      if (e && e[1] > hi) hi = e[1];
    }
    return lo <= hi ? [lo, hi] : null;
  }

  function drawTicks(ctx, sx, sy, box) {
    ctx.font = "11px ui-sans-serif, system-ui, sans-serif";
    ctx.fillStyle = INK;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const v of ticksFor(sy, 5)) ctx.fillText(fitText(ctx, formatTick(v), MARGIN.left - 8), box.left - 5, sy.toPx(v));
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const v of ticksFor(sx, 6)) ctx.fillText(formatTick(v), sx.toPx(v), box.bottom + 4);
  }

  addEventListener("resize", redraw);

  return {
    /** Show {runs, metric, best, direction, bins, yLog}: cached curves at once, the rest as
     * they arrive. */
    setView(next) {
      if (view && next.metric !== view.metric) {
        queue.length = 0; // series of the old metric not fetched yet are not wanted any more
        queued.clear();
      }
      view = next;
      canvas.dataset.wanted = String(Math.min(view.runs.length, MAX_CURVES));
      want();
      redraw();
    },
  };
}
