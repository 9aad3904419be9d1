// A histogram key drawn as TensorBoard's distributions: over the steps, bands between the
// percentiles (min–max, ±2σ, ±1σ, ±0.5σ) around the median, on one canvas; hovering a step
// draws that step's histogram below. One series per run (the compare page overlays several).
// Live histograms refetch the key at most once per REFETCH_MS.

import { describeError } from "./api.js";
import * as dist from "./distribution-data.js";
import { node } from "./dom.js";
import { formatCount, formatTick } from "./format.js";
import { coalesce } from "./refetch.js";

export const REFETCH_MS = 2000;
export const MAX_STEPS = 1000; // per series and fetch: the server thins evenly to this
const HEIGHT = 170;
const HIST_HEIGHT = 80;
const PAD = { l: 44, r: 8, t: 8, b: 18 };
const ALPHAS = [0.16, 0.26, 0.38, 0.52]; // outer band to inner band

function sized(canvas, width, height) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(width * dpr);
  const h = Math.round(height * dpr);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return ctx;
}

function rgba(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/**
 * Mount in `el`. `series`: [{id, label, color}]; `load(id)` resolves to the server's
 * `…/histograms/{key}` answer for that series.
 */
export function mount(el, { key, series, load }) {
  el.classList.add("panel", "dist-panel");
  el.dataset.key = key;
  const head = node("div", "panel-head");
  const title = node("h3", "dist-key", key);
  title.title = key;
  const sub = node("span", "panel-sub dist-sub");
  head.append(title, sub);
  const canvas = node("canvas", "dist-canvas");
  const hist = node("canvas", "dist-hist");
  const readout = node("div", "dist-readout");
  const status = node("p", "dist-status");
  status.hidden = true;
  const note = node("p", "dist-note"); // why the chart is empty, when it is
  note.hidden = true;
  el.append(head, canvas, note, readout, hist, status);
  hist.hidden = true;

  const data = new Map(series.map((s) => [s.id, []])); // id -> drawable steps
  let box = null; // {x0, x1, y0, y1} of the drawn chart
  let hover = null; // the hovered step
  let width = 0;

  const plotW = () => width - PAD.l - PAD.r;
  const plotH = HEIGHT - PAD.t - PAD.b;
  const px = (x) => PAD.l + ((x - box.x0) / (box.x1 - box.x0)) * plotW();
  const py = (y) => PAD.t + plotH - ((y - box.y0) / (box.y1 - box.y0)) * plotH;

  function draw() {
    width = Math.max(120, canvas.clientWidth);
    const ctx = sized(canvas, width, HEIGHT);
    box = dist.extents([...data.values()]);
    if (!box) return;
    ctx.font = "10.5px ui-sans-serif, system-ui, sans-serif";
    ctx.fillStyle = "#7d8796";
    ctx.strokeStyle = "rgba(148, 163, 184, 0.09)";
    ctx.textAlign = "right";
    for (const [v, base] of [[box.y1, "top"], [(box.y0 + box.y1) / 2, "middle"], [box.y0, "bottom"]]) {
      const y = Math.round(py(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(PAD.l, y);
      ctx.lineTo(PAD.l + plotW(), y);
      ctx.stroke();
      ctx.textBaseline = base;
      ctx.fillText(formatTick(v), PAD.l - 6, y);
    }
    ctx.textBaseline = "bottom";
    ctx.textAlign = "left";
    ctx.fillText(formatCount(box.x0), PAD.l, HEIGHT);
    ctx.textAlign = "right";
    ctx.fillText(formatCount(box.x1), PAD.l + plotW(), HEIGHT);
    const several = series.length > 1;
    for (const s of series) {
      const steps = data.get(s.id);
      if (!steps.length) continue;
      dist.BAND_PAIRS.forEach(([lo, hi], i) => {
        const path = dist.bandPath(steps, lo, hi, px, py);
        ctx.fillStyle = rgba(s.color, several ? ALPHAS[i] * 0.6 : ALPHAS[i]);
        ctx.beginPath();
        ctx.moveTo(path[0], path[1]);
        for (let k = 2; k < path.length; k += 2) ctx.lineTo(path[k], path[k + 1]);
        ctx.closePath();
        ctx.fill();
      });
      ctx.strokeStyle = s.color;
      ctx.lineWidth = 1.25;
      ctx.beginPath();
      steps.forEach((st, k) => (k ? ctx.lineTo(px(st.step), py(st.percentiles[dist.MEDIAN])) : ctx.moveTo(px(st.step), py(st.percentiles[dist.MEDIAN]))));
      ctx.stroke();
    }
    if (hover !== null) {
      const x = Math.round(px(hover)) + 0.5;
      ctx.strokeStyle = "rgba(223, 229, 236, 0.5)";
      ctx.beginPath();
      ctx.moveTo(x, PAD.t);
      ctx.lineTo(x, PAD.t + plotH);
      ctx.stroke();
    }
  }

  /** The hovered step's histogram of each series, overlaid. */
  function drawHistogram() {
    const picks = series
      .map((s) => {
        const steps = data.get(s.id);
        const i = dist.nearestIndex(steps, hover);
        return i < 0 ? null : { s, step: steps[i] };
      })
      .filter(Boolean);
    hist.hidden = !picks.length;
    if (!picks.length) return;
    const ctx = sized(hist, width, HIST_HEIGHT);
    let x0 = Infinity;
    let x1 = -Infinity;
    let top = 0;
    const all = picks.map((p) => {
      const b = dist.bars(p.step.edges, p.step.counts);
      x0 = Math.min(x0, p.step.edges[0]);
      x1 = Math.max(x1, p.step.edges[p.step.edges.length - 1]);
      top = Math.max(top, b.top);
      return { ...p, ...b };
    });
    if (x1 <= x0) x1 = x0 + 1;
    const hx = (v) => PAD.l + ((v - x0) / (x1 - x0)) * plotW();
    const h = HIST_HEIGHT - 14;
    for (const p of all) {
      ctx.fillStyle = rgba(p.s.color, all.length > 1 ? 0.45 : 0.7);
      for (const b of p.bars) {
        const bh = top ? (b.count / top) * h : 0;
        ctx.fillRect(hx(b.x0), h - bh, Math.max(1, hx(b.x1) - hx(b.x0) - 0.5), bh);
      }
    }
    ctx.font = "10.5px ui-sans-serif, system-ui, sans-serif";
    ctx.fillStyle = "#7d8796";
    ctx.textBaseline = "bottom";
    ctx.textAlign = "left";
    ctx.fillText(formatTick(x0), PAD.l, HIST_HEIGHT);
    ctx.textAlign = "right";
    ctx.fillText(formatTick(x1), PAD.l + plotW(), HIST_HEIGHT);
    const first = all[0].step;
    readout.textContent = all
      .map((p) => `${prefix(p.s.label)}step ${formatCount(p.step.step)} · median ${formatTick(p.step.percentiles[dist.MEDIAN])} · n ${formatCount(p.step.counts.reduce((a, b) => a + b, 0))}`)
      .join("  |  ");
    readout.dataset.step = String(first.step);
  }

  const prefix = (label) => (series.length > 1 ? `${label}: ` : "");

  canvas.addEventListener("pointermove", (event) => {
    if (!box) return;
    const rect = canvas.getBoundingClientRect();
    const x = event.clientX - rect.left;
    hover = box.x0 + ((x - PAD.l) / plotW()) * (box.x1 - box.x0);
    const steps = data.get(series[0].id);
    const i = dist.nearestIndex(steps, hover);
    if (i >= 0) hover = steps[i].step;
    draw();
    drawHistogram();
  });
  canvas.addEventListener("pointerleave", () => {
    hover = null;
    readout.textContent = "";
    hist.hidden = true;
    draw();
  });
  new ResizeObserver(() => {
    if (canvas.clientWidth && Math.max(120, canvas.clientWidth) !== width) draw();
  }).observe(el);

  async function fetchAll() {
    const started = performance.now();
    const answers = await Promise.allSettled(series.map((s) => load(s.id)));
    const problems = [];
    const raw = [];
    let kept = 0;
    answers.forEach((a, i) => {
      if (a.status === "fulfilled") {
        raw.push(a.value.steps);
        data.set(series[i].id, dist.drawable(a.value.steps));
        kept += a.value.in_range;
      } else if (!(a.reason && a.reason.status === 404)) problems.push(describeError(a.reason));
    });
    status.textContent = problems.length ? `Could not load: ${problems.join("; ")}` : "";
    status.hidden = !problems.length;
    const why = dist.emptyNote(raw, [...data.values()]);
    note.textContent = why || "";
    note.hidden = !why;
    sub.textContent = `${formatCount(kept)} step${kept === 1 ? "" : "s"}`;
    el.dataset.steps = String(Math.max(...[...data.values()].map((d) => d.length)));
    const drawing = performance.now();
    draw();
    if (hover !== null) drawHistogram();
    // How long the fetch and the draw took, for the benchmark (benchmarks/media.py).
    el.dataset.fetchMs = (drawing - started).toFixed(1);
    el.dataset.drawMs = (performance.now() - drawing).toFixed(1);
    el.dataset.drawn = String(Number(el.dataset.drawn || 0) + 1);
  }

  // Fetched again as live histograms arrive: at most once per REFETCH_MS, the last one kept.
  const refetch = coalesce(fetchAll, REFETCH_MS);
  const ready = refetch.now();
  return { key, refresh: refetch.poke, ready };
}
