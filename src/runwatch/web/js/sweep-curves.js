// Each chosen run's curve of one metric in one canvas chart (x = step), coloured like the other
// views; "best so far" draws each run's running best instead. Series are fetched bucketed
// (MAX_POINTS a run), at most CONCURRENCY at a time, cached per run (CACHE_MAX runs), and
// fetched again when the run has logged since (at most every REFRESH_MS). The canvas carries
// data-drawn (curves drawn) and data-waiting (series not fetched yet).

import { describeError } from "./api.js";
import { node } from "./dom.js";
import { formatTick } from "./format.js";
import { BINS, GRID, INK, binColour, fitCanvas, fitText } from "./sweep-canvas.js";
import { extent, numberScale, ticksFor } from "./sweep-scales.js";
import { bestSoFar, seriesXY } from "./sweep-series.js";

export const MAX_POINTS = 200;
export const CONCURRENCY = 4;
export const CACHE_MAX = 400;
const REFRESH_MS = 3000;
const HEIGHT = 320;
const MARGIN = { left: 60, right: 16, top: 14, bottom: 30 };

/** Mount in `root`; `load(runId, key)` resolves to the /metrics series of that key. */
export function mount(root, { load, onError }) {
  const canvas = node("canvas", "sweep-canvas curves-canvas");
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "each run's curve of the chosen metric");
  root.append(canvas);
  const cache = new Map(); // run id -> {metric, updated, at, xy}
  const queue = [];
  const queued = new Set();
  let active = 0;
  let view = null; // {runs, metric, best, direction, bins (Map id -> bin), yLog}
  let frame = 0;
  let recheck = null;

  const redraw = () => {
    if (!frame) frame = requestAnimationFrame(draw);
  };

  function fresh(run) {
    const hit = cache.get(run.id);
    return hit && hit.metric === view.metric && hit.updated === run.last_update;
  }

  function want() {
    if (!view || !view.metric) return;
    let soonest = Infinity;
    for (const run of view.runs) {
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
      const run = queue.shift();
      const metric = view.metric;
      active += 1;
      load(run.id, metric)
        .then((series) => {
          cache.delete(run.id); // re-insert: the Map's order is the eviction order
          cache.set(run.id, { metric, updated: run.last_update, at: performance.now(), xy: seriesXY(series) });
          evict();
          onError("");
        })
        .catch((err) => onError(`Curves: ${describeError(err)}`))
        .finally(() => {
          active -= 1;
          queued.delete(run.id);
          redraw();
          pump();
        });
    }
    canvas.dataset.waiting = String(queue.length + active);
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
    for (const run of view.runs) {
      const hit = cache.get(run.id);
      if (!hit || hit.metric !== view.metric || !hit.xy.x.length) continue;
      const y = view.best ? bestSoFar(hit.xy.y, view.direction) : hit.xy.y;
      out.push({ run, x: hit.xy.x, y });
    }
    return out;
  }

  function draw() {
    frame = 0;
    if (!view) return;
    const { ctx, width } = fitCanvas(canvas, HEIGHT);
    const box = { left: MARGIN.left, right: width - MARGIN.right, top: MARGIN.top, bottom: HEIGHT - MARGIN.bottom };
    const lines = curves();
    const xr = extent(lines.flatMap((c) => c.x));
    const yr = extent(lines.flatMap((c) => c.y), view.yLog ? "log" : "linear");
    ctx.strokeStyle = GRID;
    ctx.strokeRect(box.left, box.top, box.right - box.left, box.bottom - box.top);
    canvas.dataset.drawn = "0";
    canvas.dataset.waiting = String(queue.length + active);
    if (!xr || !yr) return;
    const sx = numberScale(xr[0], xr[1], box.left, box.right);
    const sy = numberScale(yr[0], yr[1], box.bottom, box.top, view.yLog ? "log" : "linear");
    drawTicks(ctx, sx, sy, box);
    // Worst first, so the best runs' lines end up on top.
    const groups = Array.from({ length: BINS + 1 }, () => []);
    for (const c of lines) groups[(view.bins.get(c.run.id) ?? -1) + 1].push(c);
    ctx.lineWidth = 1.25;
    ctx.globalAlpha = Math.min(0.95, Math.max(0.35, 6 / Math.sqrt(lines.length)));
    groups.forEach((group, g) => {
      if (!group.length) return;
      ctx.strokeStyle = binColour(g - 1);
      ctx.beginPath();
      for (const c of group) {
        let pen = false;
        for (let i = 0; i < c.x.length; i++) {
          const y = sy.toPx(c.y[i]);
          if (y !== y) {
            pen = false;
            continue;
          }
          if (pen) ctx.lineTo(sx.toPx(c.x[i]), y);
          else ctx.moveTo(sx.toPx(c.x[i]), y);
          pen = true;
        }
      }
      ctx.stroke();
    });
    ctx.globalAlpha = 1;
    canvas.dataset.drawn = String(lines.length);
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
      want();
      redraw();
    },
  };
}
