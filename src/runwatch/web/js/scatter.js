// Point sets as a canvas scatter: coloured by `cluster` (else `label`), a legend, and a tooltip
// with the hovered point's fields (as text). A `replace` message clears the set; otherwise new
// points are appended and only the newest `cap` are held, whatever the producer sends. The
// element's `data-count` is the number of points held for the set on show, `data-version` the
// version of that set it shows.

import { node } from "./dom.js";
import { formatCount, formatScalar, formatTick, hashIndex } from "./format.js";

export const DEFAULT_CAP = 4000; // the server's default FIFO cap
export const HARD_CAP = 50_000; // never more than this per set, even if a producer asks
const MAX_SETS = 16;
const MAX_LEGEND = 12;
const MAX_TIP_FIELDS = 14;
const HOVER_PX = 10;
const PALETTE = [
  "#2dd4bf", "#a78bfa", "#fbbf24", "#38bdf8", "#f472b6",
  "#a3e635", "#fb923c", "#818cf8", "#4ade80", "#e879f9",
];
const OTHER = "#94a3b8";
export const MARGIN = { left: 44, right: 10, top: 10, bottom: 22 }; // plot area inside the canvas

/** A point's colour group: its cluster, else its label, else null. */
export function groupOf(point) {
  const g = point.cluster ?? point.label;
  return g === undefined || g === null ? null : formatScalar(g);
}

/** Round tick values (1, 2 or 5 × 10^k apart) inside [lo, hi], about `count` of them. */
export function niceTicks(lo, hi, count = 5) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) || 10 * mag;
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  return ticks;
}

/** The set after a `points_set` message: replaced, or appended keeping the newest `cap`. */
export function applyPointsSet(held, msg) {
  const cap = Math.min(HARD_CAP, Math.max(1, msg.cap || DEFAULT_CAP));
  const incoming = msg.points || [];
  const next = msg.replace ? incoming.slice(-cap) : held.concat(incoming.slice(-cap)).slice(-cap);
  return { points: next, cap };
}

function finite(v) {
  return typeof v === "number" && Number.isFinite(v);
}

/** Mount in `el`; `onChange({count, sets})` hears every change (to show or hide the panel). */
export function mount(el, { onChange } = {}) {
  el.classList.add("scatter");
  const bar = node("div", "scatter-bar");
  const picker = node("select", "scatter-set");
  picker.setAttribute("aria-label", "point set");
  const info = node("span", "scatter-info");
  bar.append(picker, info);
  const stage = node("div", "scatter-stage");
  const canvas = node("canvas", "scatter-canvas");
  const tip = node("div", "scatter-tip");
  tip.hidden = true;
  stage.append(canvas, tip);
  const legend = node("ul", "scatter-legend");
  el.append(bar, stage, legend);

  const sets = new Map(); // name -> { points, cap, version }
  let shown = null;
  let frame = 0;
  let layout = null; // screen positions of the drawn points, for hovering
  let hoverAt = null;

  function current() {
    return shown === null ? null : sets.get(shown);
  }

  function colorsFor(points) {
    const groups = new Map(); // group -> count, in order of first appearance
    for (const p of points) {
      const g = groupOf(p);
      groups.set(g, (groups.get(g) || 0) + 1);
    }
    const named = [...groups.keys()].filter((g) => g !== null);
    const color = new Map();
    named.forEach((g, i) => color.set(g, i < PALETTE.length ? PALETTE[i] : PALETTE[hashIndex(g, PALETTE.length)]));
    color.set(null, named.length ? OTHER : PALETTE[0]);
    return { groups, color };
  }

  function renderLegend(groups, color) {
    legend.replaceChildren();
    const entries = [...groups.entries()].filter(([g]) => g !== null);
    for (const [g, n] of entries.slice(0, MAX_LEGEND)) {
      const li = node("li", "scatter-key");
      const swatch = node("span", "scatter-swatch");
      swatch.style.setProperty("--swatch", color.get(g));
      li.append(swatch, node("span", "scatter-key-name", g), node("span", "scatter-key-count", formatCount(n)));
      li.title = `${g}: ${formatCount(n)} points`;
      legend.append(li);
    }
    if (entries.length > MAX_LEGEND) legend.append(node("li", "scatter-key scatter-key-more", `+${entries.length - MAX_LEGEND} more`));
    legend.hidden = entries.length === 0;
  }

  function draw() {
    frame = 0;
    const set = current();
    const points = set ? set.points : [];
    el.dataset.count = String(points.length);
    el.dataset.version = set ? String(set.version) : "";
    el.dataset.set = shown ?? "";
    info.textContent = set ? `${formatCount(points.length)} points · cap ${formatCount(set.cap)}` : "";
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(1, stage.clientWidth);
    const height = Math.max(1, stage.clientHeight);
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const { groups, color } = colorsFor(points);
    renderLegend(groups, color);

    let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
    for (const p of points) {
      if (!finite(p.x) || !finite(p.y)) continue;
      x0 = Math.min(x0, p.x);
      x1 = Math.max(x1, p.x);
      y0 = Math.min(y0, p.y);
      y1 = Math.max(y1, p.y);
    }
    if (x0 > x1) {
      x0 = y0 = -1;
      x1 = y1 = 1;
    }
    const pad = (lo, hi) => {
      const span = hi - lo || Math.abs(lo) || 1;
      return [lo - span * 0.05, hi + span * 0.05];
    };
    [x0, x1] = pad(x0, x1);
    [y0, y1] = pad(y0, y1);
    const plotW = width - MARGIN.left - MARGIN.right;
    const plotH = height - MARGIN.top - MARGIN.bottom;
    const sx = (x) => MARGIN.left + ((x - x0) / (x1 - x0)) * plotW;
    const sy = (y) => MARGIN.top + plotH - ((y - y0) / (y1 - y0)) * plotH;

    // Grid and tick labels at round values.
    ctx.font = "10.5px ui-sans-serif, system-ui, sans-serif";
    ctx.fillStyle = "#7d8796";
    ctx.strokeStyle = "rgba(148, 163, 184, 0.09)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (const vx of niceTicks(x0, x1, Math.max(3, Math.floor(plotW / 80)))) {
      const px = Math.round(sx(vx)) + 0.5;
      ctx.moveTo(px, MARGIN.top);
      ctx.lineTo(px, MARGIN.top + plotH);
      ctx.fillText(formatTick(vx), px, MARGIN.top + plotH + 5);
    }
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const vy of niceTicks(y0, y1, Math.max(3, Math.floor(plotH / 40)))) {
      const py = Math.round(sy(vy)) + 0.5;
      ctx.moveTo(MARGIN.left, py);
      ctx.lineTo(MARGIN.left + plotW, py);
      ctx.fillText(formatTick(vy), MARGIN.left - 6, py);
    }
    ctx.stroke();
    ctx.strokeStyle = "rgba(148, 163, 184, 0.22)";
    ctx.strokeRect(MARGIN.left + 0.5, MARGIN.top + 0.5, plotW - 1, plotH - 1);

    // Points, one path per colour; small sets get bigger dots.
    const r = points.length > 2000 ? 1.8 : points.length > 300 ? 2.4 : 3.2;
    const xs = new Float32Array(points.length);
    const ys = new Float32Array(points.length);
    const byColor = new Map();
    points.forEach((p, i) => {
      if (!finite(p.x) || !finite(p.y)) {
        xs[i] = ys[i] = NaN;
        return;
      }
      xs[i] = sx(p.x);
      ys[i] = sy(p.y);
      const c = color.get(groupOf(p));
      if (!byColor.has(c)) byColor.set(c, []);
      byColor.get(c).push(i);
    });
    ctx.globalAlpha = 0.82;
    for (const [c, idx] of byColor) {
      ctx.fillStyle = c;
      ctx.beginPath();
      for (const i of idx) {
        ctx.moveTo(xs[i] + r, ys[i]);
        ctx.arc(xs[i], ys[i], r, 0, 2 * Math.PI);
      }
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    layout = { xs, ys, points, r };
    if (hoverAt) hover(hoverAt);
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(draw);
  }

  function nearest(mx, my) {
    if (!layout) return -1;
    let best = -1;
    let bestD = HOVER_PX * HOVER_PX;
    const { xs, ys } = layout;
    for (let i = 0; i < xs.length; i++) {
      const dx = xs[i] - mx;
      const dy = ys[i] - my;
      const d = dx * dx + dy * dy;
      if (d <= bestD) {
        bestD = d;
        best = i;
      }
    }
    return best;
  }

  function hover(at) {
    const i = nearest(at.x, at.y);
    if (i < 0) {
      tip.hidden = true;
      delete el.dataset.hover;
      return;
    }
    const p = layout.points[i];
    tip.replaceChildren();
    const entries = Object.entries(p);
    for (const [key, value] of entries.slice(0, MAX_TIP_FIELDS)) {
      const row = node("div", "tip-row");
      row.append(node("span", "tip-key", key), node("span", "tip-value", formatScalar(value)));
      tip.append(row);
    }
    if (entries.length > MAX_TIP_FIELDS) tip.append(node("div", "tip-more", `+${entries.length - MAX_TIP_FIELDS} more fields`));
    tip.hidden = false;
    el.dataset.hover = String(i);
    const w = stage.clientWidth;
    const left = layout.xs[i] + 12 + tip.offsetWidth > w ? layout.xs[i] - 12 - tip.offsetWidth : layout.xs[i] + 12;
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${Math.max(0, layout.ys[i] - 10)}px`;
  }

  let hoverFrame = 0;
  canvas.addEventListener("mousemove", (e) => {
    const box = canvas.getBoundingClientRect();
    hoverAt = { x: e.clientX - box.left, y: e.clientY - box.top };
    if (!hoverFrame) {
      hoverFrame = requestAnimationFrame(() => {
        hoverFrame = 0;
        if (hoverAt) hover(hoverAt);
      });
    }
  });
  canvas.addEventListener("mouseleave", () => {
    hoverAt = null;
    tip.hidden = true;
    delete el.dataset.hover;
  });
  picker.addEventListener("change", () => {
    shown = picker.value;
    tip.hidden = true;
    schedule();
  });
  new ResizeObserver(schedule).observe(stage);

  function setFor(name) {
    if (sets.has(name)) return sets.get(name);
    if (sets.size >= MAX_SETS) return null;
    const set = { points: [], cap: DEFAULT_CAP, version: 0 };
    sets.set(name, set);
    const option = node("option", "", name);
    option.value = name;
    const next = [...picker.options].find((o) => o.value > name);
    picker.insertBefore(option, next || null);
    if (shown === null) {
      shown = name;
      picker.value = name;
    }
    picker.hidden = sets.size < 2;
    return set;
  }

  function changed() {
    if (onChange) onChange({ count: current() ? current().points.length : 0, sets: sets.size });
  }

  el.dataset.count = "0";
  return {
    /** From /state: {name: {version, points}} (the server already holds at most each cap). */
    setSets(all) {
      sets.clear();
      picker.replaceChildren();
      const names = Object.keys(all || {}).sort();
      if (!names.includes(shown)) shown = null;
      for (const name of names) {
        const set = setFor(name);
        if (!set) break;
        const points = all[name].points || [];
        set.cap = Math.min(HARD_CAP, Math.max(DEFAULT_CAP, points.length));
        set.points = points.slice(-set.cap);
        set.version = all[name].version;
      }
      if (shown !== null) picker.value = shown;
      picker.hidden = sets.size < 2;
      changed();
      schedule();
    },
    /** A live `points_set` message. */
    onPointsSet(msg) {
      const set = setFor(msg.name);
      if (!set) return;
      const next = applyPointsSet(set.points, msg);
      set.points = next.points;
      set.cap = next.cap;
      set.version = msg.version;
      if (msg.name === shown) {
        el.dataset.count = String(set.points.length); // at once: the drawing waits for a frame
        el.dataset.version = String(set.version);
        schedule();
      }
      changed();
    },
  };
}
