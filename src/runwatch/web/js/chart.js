// One metric's chart: a uPlot line (mean/value) with a faint min–max band, hydrated from a
// Series and grown in place by live points. Never holds more than MAX_POINTS x-values.

import { formatTick, formatValue, hashIndex, toPlotValue } from "./format.js";

export const MAX_POINTS = 5000;
const HEIGHT = 180;
const PALETTE = [
  "#2dd4bf", "#a78bfa", "#fbbf24", "#38bdf8", "#f472b6",
  "#a3e635", "#fb923c", "#818cf8", "#4ade80", "#e879f9",
];
const AXIS = "#7d8796";
const GRID = "rgba(148, 163, 184, 0.09)";

// Steps are whole numbers: never put a tick at step 0.5.
const STEP_INCRS = [1, 2, 5].flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9].map((p) => m * p)).sort((a, b) => a - b);

const minOf = (a, b) => (a === null ? b : b === null ? a : Math.min(a, b));
const maxOf = (a, b) => (a === null ? b : b === null ? a : Math.max(a, b));

/**
 * Bound a chart's columns: merge the older half pairwise, keep the newer half untouched.
 *
 * Each merged pair becomes one point at the pair's first x, whose line value is the mean of the
 * pair's finite values (null if both are gaps) and whose band is the pair's min–max envelope. So
 * recent data stays at full resolution, older data gets coarser each time the cap is hit (roughly
 * log-spaced history), and spikes survive in the band. Mutates nothing; returns new columns.
 */
export function decimate({ x, y, lo, hi }) {
  const merged = Math.floor(x.length / 2) & ~1; // an even count, so every point has a partner
  const out = { x: [], y: [], lo: [], hi: [] };
  for (let i = 0; i < merged; i += 2) {
    const a = y[i];
    const b = y[i + 1];
    out.x.push(x[i]);
    out.y.push(a === null ? b : b === null ? a : (a + b) / 2);
    out.lo.push(minOf(lo[i] ?? a, lo[i + 1] ?? b));
    out.hi.push(maxOf(hi[i] ?? a, hi[i + 1] ?? b));
  }
  return {
    x: out.x.concat(x.slice(merged)),
    y: out.y.concat(y.slice(merged)),
    lo: out.lo.concat(lo.slice(merged)),
    hi: out.hi.concat(hi.slice(merged)),
  };
}

/** Columns from a /state or /metrics Series (raw: values; buckets: mean with a min/max band). */
export function columnsFromSeries(series) {
  const x = series.x.slice();
  if (series.mode === "buckets") {
    return { x, y: series.mean.map(toPlotValue), lo: series.min.map(toPlotValue), hi: series.max.map(toPlotValue) };
  }
  return { x, y: series.value.map(toPlotValue), lo: x.map(() => null), hi: x.map(() => null) };
}

function lastWire(series) {
  const col = series.mode === "buckets" ? series.last : series.value;
  return col && col.length ? col[col.length - 1] : undefined;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Build the chart for `key` inside `root`; returns {setSeries, append, destroy}. */
export function mount(root, key) {
  const color = PALETTE[hashIndex(key, PALETTE.length)];
  root.classList.add("chart");
  root.dataset.key = key;
  root.dataset.points = "0";
  root.style.setProperty("--series-color", color);

  const head = el("div", "chart-head");
  const title = el("span", "chart-key", key);
  title.title = key;
  const readout = el("span", "chart-readout");
  const value = el("span", "chart-value", "—");
  const where = el("span", "chart-where", "");
  readout.append(where, value);
  const gaps = el("span", "chart-gaps", "");
  gaps.hidden = true;
  head.append(title, gaps, readout);
  const plotEl = el("div", "chart-plot");
  root.append(head, plotEl);

  let cols = { x: [], y: [], lo: [], hi: [] };
  let lastRaw;
  let lastStep;
  let plot = null;
  let frame = 0;
  let following = true; // false after a drag-zoom: live data must not yank the view away

  function showLatest() {
    where.textContent = lastStep === undefined ? "" : `step ${formatTick(lastStep)}`;
    value.textContent = lastRaw === undefined ? "—" : formatValue(lastRaw);
  }

  function onCursor(u) {
    const i = u.cursor.idx;
    if (i === null || i === undefined || i >= cols.x.length) {
      showLatest();
      return;
    }
    where.textContent = `step ${formatTick(cols.x[i])}`;
    value.textContent = cols.y[i] === null ? "gap" : formatValue(cols.y[i]);
  }

  function create() {
    const width = Math.max(200, plotEl.clientWidth);
    const faint = { stroke: "transparent", width: 0, points: { show: false } };
    plot = new uPlot(
      {
        width,
        height: HEIGHT,
        padding: [10, 12, 0, 2],
        legend: { show: false },
        cursor: { drag: { x: true, y: false }, points: { size: 7, fill: color } },
        scales: { x: { time: false } },
        axes: [{ ...axis(26), incrs: STEP_INCRS }, axis(52)],
        series: [
          {},
          // uPlot's default shows point markers only when points are sparse (a lone value
          // between gaps stays visible).
          { label: key, stroke: color, width: 1.6, spanGaps: false, points: { size: 5, fill: color } },
          { label: "max", ...faint },
          { label: "min", ...faint },
        ],
        bands: [{ series: [2, 3], fill: `${color}2e` }],
        hooks: {
          setCursor: [onCursor],
          setSelect: [
            (u) => {
              if (u.select.width > 0) following = false;
            },
          ],
        },
      },
      data(),
      plotEl,
    );
    // uPlot's double-click resets the zoom; resume following live data then too.
    plotEl.addEventListener("dblclick", () => {
      following = true;
      flush();
    });
  }

  function data() {
    return [cols.x, cols.y, cols.hi, cols.lo];
  }

  function flush() {
    frame = 0;
    // Off-screen charts keep their data current but skip the drawing until scrolled into view.
    if (onScreen && !plot) create();
    else if (onScreen) plot.setData(data(), following);
    root.dataset.points = String(cols.x.length);
    let holes = 0;
    for (const v of cols.y) if (v === null) holes++;
    gaps.hidden = holes === 0;
    gaps.textContent = `${holes} gap${holes === 1 ? "" : "s"}`;
    gaps.title = "non-finite values (NaN, ±inf) are drawn as gaps";
    showLatest();
  }

  function schedule() {
    // Many messages can land in one frame; draw once per animation frame.
    if (!frame) frame = requestAnimationFrame(flush);
  }

  function bound() {
    while (cols.x.length > MAX_POINTS) cols = decimate(cols);
  }

  let onScreen = false; // the observer reports the first state right after layout
  const watcher = new IntersectionObserver(
    ([entry]) => {
      onScreen = entry.isIntersecting;
      if (onScreen) schedule();
    },
    { rootMargin: "200px" },
  );
  watcher.observe(root);

  const resizer = new ResizeObserver(() => {
    if (plot && plotEl.clientWidth > 0 && Math.abs(plot.width - plotEl.clientWidth) > 1) {
      plot.setSize({ width: plotEl.clientWidth, height: HEIGHT });
    }
  });
  resizer.observe(plotEl);

  return {
    /** Replace everything with a Series (on hydration or re-hydration after a reset). */
    setSeries(series) {
      cols = columnsFromSeries(series);
      bound();
      lastRaw = lastWire(series);
      lastStep = series.x.length ? series.x[series.x.length - 1] : undefined;
      schedule();
    },
    /** Append live points (steps ascending within a message; out-of-order ones are inserted). */
    append(steps, values) {
      for (let i = 0; i < steps.length; i++) {
        const x = steps[i];
        const y = toPlotValue(values[i]);
        const n = cols.x.length;
        if (n === 0 || x >= cols.x[n - 1]) {
          cols.x.push(x);
          cols.y.push(y);
          cols.lo.push(null);
          cols.hi.push(null);
        } else {
          const at = upperBound(cols.x, x);
          cols.x.splice(at, 0, x);
          cols.y.splice(at, 0, y);
          cols.lo.splice(at, 0, null);
          cols.hi.splice(at, 0, null);
        }
        if (lastStep === undefined || x >= lastStep) {
          lastStep = x;
          lastRaw = values[i];
        }
      }
      bound();
      schedule();
    },
    destroy() {
      resizer.disconnect();
      watcher.disconnect();
      cancelAnimationFrame(frame);
      if (plot) plot.destroy();
      root.replaceChildren();
    },
  };
}

function axis(size) {
  return {
    stroke: AXIS,
    font: "11px ui-sans-serif, system-ui, sans-serif",
    size,
    gap: 4,
    grid: { stroke: GRID, width: 1 },
    ticks: { stroke: GRID, width: 1, size: 3 },
    values: (u, ticks) => ticks.map(formatTick),
  };
}

function upperBound(sorted, x) {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
