// One metric's chart, for one run (run page) or several overlaid (compare page): a uPlot line per
// run with a min–max band where the data is bucketed (a bar per bucket, see chart-bands.js). Drag to zoom re-queries /metrics for
// the window at the chart's pixel resolution; double-click goes back to the full range. Live points
// fold into whatever resolution is on screen (no refetch); never more than MAX_POINTS x-values per
// run. Per-chart tools: EMA smoothing, log-scale y, best-so-far overlay. The x axis is the step,
// the time since each run's start or the wall-clock time (chart-axis.js), chosen per page.
//
// State a test (or a person in devtools) can read without globals: data-* attributes on the chart
// element, and a "chart-inspect" CustomEvent whose `detail` object the chart fills with its data.

import { DURATION_INCRS, STEP_INCRS, pointLabel, tickLabels, windowLabels } from "./chart-axis.js";
import { bandColor, bandRects } from "./chart-bands.js";
import * as chartControls from "./chart-controls.js";
import { createSource } from "./chart-source.js";
import { node } from "./dom.js";
import { formatCount, formatTick, formatTicks, formatValue, hashIndex } from "./format.js";
import * as columns from "./series-data.js";

export { MAX_POINTS } from "./series-data.js";

export const PALETTE = [
  "#2dd4bf", "#a78bfa", "#fbbf24", "#38bdf8", "#f472b6",
  "#a3e635", "#fb923c", "#818cf8", "#4ade80", "#e879f9",
];
const HEIGHT = 180;
const AXIS = "#7d8796";
const GRID = "rgba(148, 163, 184, 0.09)";
const MIN_DRAG_PX = 3;
const FAINT = { stroke: "transparent", width: 0, points: { show: false } };

/** The colour a metric key always gets on the run page. */
export function colorForKey(key) {
  return PALETTE[hashIndex(key, PALETTE.length)];
}

/** "#rrggbb" with an alpha channel. */
function withAlpha(hex, alpha) {
  return `${hex}${Math.round(alpha * 255).toString(16).padStart(2, "0")}`;
}

/** The y axis's width: wide enough for its longest label (distinct labels can be long). */
function fitLabels(u, values) {
  const longest = values ? Math.max(0, ...values.map((v) => String(v).length)) : 0;
  return Math.min(120, Math.max(52, 12 + 7 * longest));
}

function axis(size) {
  return {
    stroke: AXIS,
    font: "11px ui-sans-serif, system-ui, sans-serif",
    size,
    gap: 4,
    grid: { stroke: GRID, width: 1 },
    ticks: { stroke: GRID, width: 1, size: 3 },
    values: tickValues,
  };
}

/** Tick labels: precision from the spacing; a log axis's decades each read on their own. */
function tickValues(u, ticks, axisIdx, space, incr) {
  if (u.scales[u.axes[axisIdx].scale].distr !== 3) return formatTicks(ticks, incr);
  const own = ticks.map(formatTick);
  const shown = own.filter(Boolean); // uPlot leaves some log ticks unlabelled (null)
  return new Set(shown).size === shown.length ? own : formatTicks(ticks);
}

/** The x axis's options for uPlot: nice spacings and distinct labels for the axis chosen. */
function xAxis(name) {
  const values = (u, ticks, axisIdx, space, incr) => tickLabels(name, ticks, incr);
  if (name === "relative") return { ...axis(26), space: 60, incrs: DURATION_INCRS, values };
  // uPlot's time scale places ticks on round local times (minutes, midnights, months); the
  // spacings between its own (1 min, then 5) are added so a narrow chart still gets two ticks.
  if (name === "wall") return { ...axis(26), space: 80, incrs: DURATION_INCRS, values };
  return { ...axis(26), incrs: STEP_INCRS };
}

/**
 * Build the chart inside `root`.
 *
 * opts.key    the metric key (title, default best-so-far direction)
 * opts.traces [{id, label, color}]: one per run drawn in this chart
 *             (origin: what the axis subtracts from this run's x; see chart-axis.js originOf)
 * opts.load(id, {start, end, maxPoints, x}) -> Promise<{series, seq?}>: one run's Series for
 *             the range (start/end null for the full range); see chart-source.js.
 * opts.axis   "step" (default), "relative" or "wall"
 *
 * Returns {setSeries(id, series), noteLatest(id, step, raw), append(id, steps, values, seq, ts),
 * setAxis(name, origins), setOrigin(id, origin), destroy()}.
 */
export function mount(root, { key, traces: specs, load, axis: axisName = "step" }) {
  const multi = specs.length > 1;
  root.classList.add("chart");
  root.dataset.key = key;
  root.dataset.window = "full";
  root.dataset.axis = axisName;
  root.dataset.traces = String(specs.length);
  // One run: the key's colour tints the chart's tools; several: each run has its own colour.
  if (!multi) root.style.setProperty("--series-color", specs[0].color);
  const plotEl = node("div", "chart-plot");
  const source = createSource({ traces: specs, load, pixels: () => plotEl.clientWidth, onChange: schedule, axis: axisName });
  const traces = source.traces;

  const head = node("div", "chart-head");
  const title = node("span", "chart-key", key);
  title.title = key;
  const gaps = node("span", "chart-gaps", "");
  gaps.hidden = true;
  gaps.title = "non-finite values (NaN, ±inf) are drawn as gaps";
  const zoomChip = node("button", "chart-zoom");
  zoomChip.type = "button";
  zoomChip.hidden = true;
  zoomChip.title = "Zoomed in: click (or double-click the chart) to show the full range";
  const note = node("span", "chart-note", "");
  note.hidden = true;
  const readout = node("span", "chart-readout");
  const where = node("span", "chart-where", "");
  const value = node("span", "chart-value", multi ? "" : "—");
  readout.append(where, value);
  head.append(title, gaps, zoomChip, note, readout);
  const tools = node("div");
  const legend = node("div", "chart-legend");
  const legendValues = new Map();
  for (const t of traces) {
    const item = node("span", "legend-item");
    item.dataset.run = t.id;
    item.style.setProperty("--swatch", t.color);
    const name = node("span", "legend-name", t.label);
    name.title = `${t.label} · ${t.id}`;
    const v = node("span", "legend-value", "—");
    item.append(node("span", "legend-swatch"), name, v);
    legend.append(item);
    legendValues.set(t.id, v);
  }
  legend.hidden = !multi;
  root.append(head, tools, legend, plotEl);

  let plot = null;
  let layout = "";
  let offsets = []; // per trace, the uPlot series index of its main line
  let drawnBands = []; // per trace, the band's rectangles as last drawn (device pixels)
  let drawnX = []; // per trace, its x values as drawn (shifted by its origin)
  let frame = 0;
  let onScreen = false; // the observer reports the first state right after layout

  const controls = chartControls.mount(tools, key, () => schedule());
  const settings = controls.settings;

  function layoutKey() {
    return `${source.axis}|${settings.smoothing > 0}|${settings.best}|${settings.dir}|${settings.log}`;
  }

  function seriesOf(t) {
    const smooth = settings.smoothing > 0;
    const list = [
      {
        label: t.label,
        stroke: smooth ? withAlpha(t.color, 0.3) : t.color,
        width: smooth ? 1 : 1.6,
        spanGaps: false,
        // uPlot shows markers only where points are sparse; a value between two gaps has no
        // line segment, so it keeps its marker at any density (else it would not be drawn at all).
        points: smooth ? { show: false, filter: lonePoints } : { size: 5, fill: t.color, filter: lonePoints },
      },
      { label: `${t.label} max`, ...FAINT },
      { label: `${t.label} min`, ...FAINT },
    ];
    if (smooth) {
      list.push({ label: `${t.label} smoothed`, stroke: t.color, width: 1.8, spanGaps: false, points: { show: false } });
    }
    if (settings.best) {
      list.push({
        label: `${t.label} best ${settings.dir}`,
        stroke: multi ? t.color : "#e2e8f0",
        width: 1.2,
        dash: [5, 4],
        spanGaps: true,
        paths: uPlot.paths.stepped({ align: 1 }),
        points: { show: false },
      });
    }
    return list;
  }

  /**
   * uPlot's points.filter: every marker when uPlot shows them, else the markers of values no
   * line reaches: lone values between gaps, and all of them when every point is at one step
   * (uPlot's line then has no length, and it hides markers as if they were dense).
   */
  function lonePoints(u, si, show) {
    if (show) return null;
    const [i0, i1] = u.series[0].idxs;
    const xs = u.data[0];
    const lone = xs[i0] === xs[i1] ? columns.finiteIndices(u.data[si], i0, i1) : columns.loneIndices(u.data[si], i0, i1);
    return lone.length ? lone : null;
  }

  function columnsOf(t) {
    const c = t.cols;
    const fix = settings.log ? columns.positiveOnly : (v) => v;
    const out = [fix(c.y), fix(c.hi), fix(c.lo)];
    if (settings.smoothing > 0) out.push(fix(columns.ema(c.y, settings.smoothing)));
    if (settings.best) out.push(fix(columns.runningBest(c, settings.dir, t.seed[settings.dir])));
    return out;
  }

  function plotData() {
    drawnX = traces.map((t) => (t.origin ? t.cols.x.map((x) => x - t.origin) : t.cols.x));
    if (!multi) return [drawnX[0], ...columnsOf(traces[0])];
    // One x column for all runs: where a run has no point at an x, uPlot.join leaves `undefined`
    // (spanned over), while real gaps stay null (drawn as gaps).
    return uPlot.join(traces.map((t, k) => [drawnX[k], ...columnsOf(t)]));
  }

  function create() {
    const series = [{}];
    offsets = [];
    for (const t of traces) {
      offsets.push(series.length);
      series.push(...seriesOf(t));
    }
    layout = layoutKey();
    plot = new uPlot(
      {
        width: Math.max(200, plotEl.clientWidth),
        height: HEIGHT,
        padding: [10, 12, 0, 2],
        legend: { show: false },
        cursor: { drag: { x: true, y: false, setScale: false }, points: { size: 7 } },
        scales: { x: { time: source.axis === "wall", range: xRange }, y: settings.log ? { distr: 3, log: 10 } : {} },
        axes: [xAxis(source.axis), axis(fitLabels)],
        series,
        // Bands go under the grid and the lines: drawn right after the canvas is cleared.
        hooks: { setCursor: [onCursor], setSelect: [onSelect], drawClear: [drawBands] },
      },
      plotData(),
      plotEl,
    );
    if (source.view) plot.setScale("x", { min: source.view[0], max: source.view[1] });
    else widenOneStep();
  }

  /**
   * uPlot refuses a zero-width x range, so a key whose points all sit at one step would draw
   * nothing (no line, dot or axes): show a step either side of it.
   */
  function widenOneStep() {
    const xs = plot.data[0];
    const n = xs.length;
    if (n > 1 && xs[0] === xs[n - 1]) plot.setScale("x", { min: xs[0] - 1, max: xs[0] + 1 });
  }

  /** The full range reaches the newest point, which lies past the last bucket's first x. */
  function xRange(u, min, max) {
    if (min === null || max === null) return [min, max];
    let end = max;
    for (const t of traces) if (t.cols.end !== null && t.cols.end - t.origin > end) end = t.cols.end - t.origin;
    return [min, end];
  }

  function drawBands(u) {
    const ctx = u.ctx;
    const fix = settings.log ? columns.positiveOnly : (v) => v;
    const toY = (v) => u.valToPos(v, "y", true);
    drawnBands = traces.map((t) => {
      if (t.cols.mode !== "buckets") return [];
      // Buckets are aligned in the run's own x (steps, unix seconds): placed there, then shifted.
      const o = t.origin;
      const toX = (v) => u.valToPos(v - o, "x", true);
      const range = [u.scales.x.min + o, u.scales.x.max + o];
      const rects = bandRects(t.cols.x, fix(t.cols.lo), fix(t.cols.hi), t.cols.width, toX, toY, u.bbox, range);
      ctx.fillStyle = bandColor(t.color, settings.smoothing > 0 ? 0.3 : 0.5);
      for (const [l, top, w, h] of rects) ctx.fillRect(l, top, w, h);
      return rects;
    });
  }

  /** The value a run's line shows at uPlot index i (the smoothed one when smoothing is on). */
  function lineValue(u, k, i) {
    const column = u.data[offsets[k] + (settings.smoothing > 0 ? 3 : 0)];
    return column ? column[i] : undefined;
  }

  function describe(v) {
    if (v === undefined) return "—";
    return v === null ? "gap" : formatValue(v);
  }

  function showLatest() {
    const lead = traces.reduce((a, t) => (t.lastX !== undefined && (a === null || t.lastX > a.lastX) ? t : a), null);
    // The exact step, as the run header shows it (a tick's "200k" would round 199,999 up).
    where.textContent = lead ? `step ${formatCount(lead.lastX)}` : "";
    if (!multi) value.textContent = lead ? formatValue(lead.lastValue) : "—";
    // A run that stopped before the step in the header says its own last step beside its value.
    for (const t of traces) {
      if (t.lastX === undefined) legendValues.get(t.id).textContent = "no data";
      else {
        const own = multi && t.lastX !== lead.lastX ? ` · step ${formatCount(t.lastX)}` : "";
        legendValues.get(t.id).textContent = formatValue(t.lastValue) + own;
      }
    }
  }

  /** A run's step at drawn x (on a time axis: known for raw points, not for buckets), or null. */
  function stepAt(k, x) {
    const xs = drawnX[k];
    const j = columns.upperBound(xs, x) - 1;
    return j >= 0 && xs[j] === x ? traces[k].cols.step[j] ?? null : null;
  }

  function onCursor(u) {
    const i = u.cursor.idx;
    if (i === null || i === undefined || i >= u.data[0].length) {
      showLatest();
      return;
    }
    const x = u.data[0][i];
    const name = source.axis;
    const at = pointLabel(name, x, u.scales.x.max - u.scales.x.min);
    // On a time axis the step is said too: beside the time for one run, per run in the legend.
    const stepOf = (k) => {
      const step = name === "step" ? null : stepAt(k, x);
      return step === null ? "" : ` · step ${formatCount(step)}`;
    };
    where.textContent = multi ? at : at + stepOf(0);
    if (!multi) value.textContent = describe(lineValue(u, 0, i));
    traces.forEach((t, k) => {
      const v = lineValue(u, k, i);
      legendValues.get(t.id).textContent = describe(v) + (multi && v !== undefined ? stepOf(k) : "");
    });
  }

  function onSelect(u) {
    const { left, width } = u.select;
    if (width <= 0) return;
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    if (width < MIN_DRAG_PX) return;
    zoomTo(u.posToVal(left, "x"), u.posToVal(left + width, "x"));
  }

  function zoomTo(lo, hi) {
    source.zoomTo(lo, hi);
    const [start, end] = source.view;
    const [from, to] = windowLabels(source.axis, start, end); // distinct even for a narrow window
    zoomChip.textContent = `${from} – ${to}  ×`;
    zoomChip.hidden = false;
  }

  function reset() {
    if (source.reset()) zoomChip.hidden = true;
  }

  function writeState() {
    root.dataset.points = String(traces.reduce((n, t) => n + t.cols.x.length, 0));
    const modes = new Set(traces.filter((t) => t.cols.x.length).map((t) => t.cols.mode));
    root.dataset.mode = modes.size > 1 ? "mixed" : [...modes][0] || "raw";
    const bucketed = traces.find((t) => t.cols.mode === "buckets");
    root.dataset.width = bucketed ? String(bucketed.cols.width) : "";
    const shown = source.shown;
    root.dataset.window = shown ? `${shown[0]},${shown[1]}` : "full";
    root.dataset.loading = String(source.loading);
    note.textContent = source.error ? `could not load: ${source.error.message}` : "";
    note.hidden = !source.error;
    root.dataset.smoothing = String(settings.smoothing);
    root.dataset.log = String(settings.log);
    root.dataset.best = settings.best ? settings.dir : "off";
    // Non-finite points, not empty buckets: a bucket mixing NaN with values still holds gaps.
    let holes = 0;
    for (const t of traces) for (let i = 0; i < t.cols.count.length; i++) holes += t.cols.count[i] - t.cols.nf[i];
    gaps.hidden = holes === 0;
    gaps.textContent = `${holes} gap${holes === 1 ? "" : "s"}`;
  }

  function flush() {
    frame = 0;
    writeState();
    showLatest();
    if (!onScreen) return; // off-screen charts keep their data current but skip the drawing
    if (plot && layoutKey() !== layout) {
      plot.destroy();
      plot = null;
    }
    const view = source.view;
    if (!plot) create();
    else if (view) {
      const d = plotData();
      plot.batch(() => {
        plot.setData(d, false);
        plot.setScale("x", { min: view[0], max: view[1] }); // re-ranges y over the window
      });
    } else {
      plot.setData(plotData(), true);
      widenOneStep();
    }
    root.dataset.series = String(plot.series.length - 1);
  }

  function schedule() {
    // Many messages can land in one frame; draw once per animation frame.
    if (!frame) frame = requestAnimationFrame(flush);
  }

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

  // uPlot's own double-click re-ranges x over the data it has; then the full range is fetched.
  plotEl.addEventListener("dblclick", reset);
  zoomChip.addEventListener("click", reset);

  root.addEventListener("chart-inspect", (event) => {
    Object.assign(event.detail, {
      key,
      axis: source.axis,
      window: source.shown,
      view: source.view,
      traces: traces.map((t) => ({
        id: t.id,
        origin: t.origin,
        step: t.cols.step.slice(),
        mode: t.cols.mode,
        width: t.cols.width,
        x: t.cols.x.slice(),
        y: t.cols.y.slice(),
        lo: t.cols.lo.slice(),
        hi: t.cols.hi.slice(),
        count: t.cols.count.slice(),
        last: t.cols.last.slice(),
      })),
      series: plot ? plot.series.slice(1).map((s) => s.label) : [],
      data: plot ? plot.data.map((c) => Array.from(c)) : null,
      // Per trace, the band's bars as drawn: [left, top, width, height] in canvas pixels.
      bands: plot ? drawnBands.map((rects) => rects.map((r) => r.slice())) : [],
      bbox: plot ? { ...plot.bbox } : null,
      // The tick labels as last drawn on the canvas, per axis (x first).
      ticks: plot ? plot.axes.map((a) => (a._values ? a._values.slice() : [])) : [],
      scales: plot ? { x: { ...plot.scales.x }, y: { ...plot.scales.y } } : null,
    });
  });

  return {
    /** Replace a run's data with a full-range Series (hydration, or re-hydration after a reset). */
    setSeries: source.setSeries,
    /** The newest point of a run, when known better than a bucketed Series can tell. */
    noteLatest: source.noteLatest,
    /** Live points of one run (steps, values, seq, wall times), folded into the resolution on screen. */
    append: source.append,
    /** Plot against another x axis (origins: run id -> origin): the full range is fetched. */
    setAxis(name, origins) {
      zoomChip.hidden = true;
      root.dataset.axis = name;
      source.setAxis(name, origins);
    },
    /** A run's origin on the relative axis changed (it started after the page opened). */
    setOrigin(id, origin) {
      if (source.setOrigin(id, origin)) zoomChip.hidden = true;
    },
    destroy() {
      source.close();
      resizer.disconnect();
      watcher.disconnect();
      cancelAnimationFrame(frame);
      if (plot) plot.destroy();
      root.replaceChildren();
    },
  };
}
