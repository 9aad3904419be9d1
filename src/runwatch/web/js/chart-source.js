// What one chart shows, without the drawing: each run's columns, the zoom window, and the
// /metrics queries that fill them. A zoom asks the server for the window at the chart's pixel
// resolution; a reset asks for the full range again. Live points fold into the columns on screen
// (never a refetch), and points that arrive while a query is in flight are folded into its answer.
//
// On a time axis the columns hold unix seconds (what /metrics?x=time returns, and every live
// point's ts); a trace's `origin` (its run's start on the relative axis, else 0) is subtracted
// only where x meets the screen: the zoom window is in drawn x, each run's query is shifted back.

import { queryAxis, zoomWindow } from "./chart-axis.js";
import * as columns from "./series-data.js";

const MAX_QUERY_POINTS = 20000; // the server's limit for max_points
const PENDING_CAP = 20000; // live points remembered per run while a query is in flight

/** Whether live point `x` lies after everything in `cols` (so a fresh answer cannot hold it). */
function isNewer(cols, x) {
  const n = cols.x.length;
  if (n === 0) return true;
  if (cols.mode === "buckets") return Math.floor(x / cols.width) > Math.floor(cols.x[n - 1] / cols.width);
  return x > cols.x[n - 1];
}

/**
 * opts.traces    [{id, label, color, origin?}]: one per run (origin: see above, default 0)
 * opts.load(id, {start, end, maxPoints, x}) -> Promise<{series, seq?}>: one run's Series for the
 *                range (start/end null: the full range) by `x` ("step" or "time"); `seq`, when
 *                the server sends it, is the live seq the answer is current to, so in-flight
 *                live points fold in exactly.
 * opts.axis      "step" (default), "relative" or "wall" (see chart-axis.js)
 * opts.pixels()  the chart's width in CSS pixels (the resolution to ask for)
 * opts.onChange() after anything that changes what is drawn (or whether a query is running)
 */
export function createSource({ traces: specs, load, pixels, onChange, axis = "step" }) {
  const traces = specs.map((s) => ({
    ...s,
    origin: s.origin ?? 0,
    cols: columns.emptyColumns(),
    lastX: undefined, // the newest point's step, for readouts (whatever the window and axis)
    lastValue: undefined,
    pending: null, // live points seen while a query is in flight
    seed: { min: null, max: null }, // the best value before the zoom window
  }));
  const byId = new Map(traces.map((t) => [t.id, t]));
  let axisName = axis;
  let view = null; // null: the full range; [lo, hi]: the zoom window asked for (inclusive, drawn x)
  let shown = null; // the window the columns were loaded for
  let queryGen = 0;
  let loading = false;
  let error = null; // why the last query failed, if it did
  let queued = false; // a full-range query is due (several runs' hydrations ask for one)

  async function query() {
    const gen = ++queryGen;
    const win = view;
    const x = queryAxis(axisName);
    const maxPoints = Math.max(32, Math.min(MAX_QUERY_POINTS, Math.round(pixels() || 600)));
    const rangeOf = (t) => ({ start: win ? win[0] + t.origin : null, end: win ? win[1] + t.origin : null, maxPoints, x });
    for (const t of traces) t.pending = [];
    loading = true;
    onChange();
    const answers = await Promise.all(
      traces.map((t) => load(t.id, rangeOf(t)).then((answer) => ({ t, answer }), (error) => ({ t, error }))),
    );
    if (gen !== queryGen) return; // a newer query owns the pending buffers now
    error = null;
    for (const { t, answer, error: failure } of answers) {
      const pending = t.pending;
      t.pending = null;
      if (failure) {
        error = failure;
        continue;
      }
      const cols = columns.columnsFromSeries(answer.series);
      const seq = answer.seq;
      for (const p of pending) {
        const px = x === "step" ? p.step : p.ts;
        if (!columns.inWindow(win, px - t.origin)) continue;
        const missing = typeof seq === "number" && typeof p.seq === "number" ? p.seq > seq : isNewer(cols, px);
        if (missing) columns.foldPoint(cols, px, p.v, x === "step" ? null : p.step);
      }
      t.cols = columns.capColumns(cols);
    }
    shown = win;
    loading = false;
    onChange();
  }

  /** Back to the full range, fetched again (it includes live points that fell outside the window). */
  function reset() {
    if (!view) return false;
    view = null;
    for (const t of traces) t.seed = { min: null, max: null };
    query();
    return true;
  }

  function queryFullRangeSoon() {
    if (queued) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      query();
    });
  }

  return {
    traces,
    /** The axis's name: "step", "relative" or "wall". */
    get axis() {
      return axisName;
    },
    /** The window asked for (null: full range), and the one the data on screen belongs to. */
    get view() {
      return view;
    },
    get shown() {
      return shown;
    },
    get loading() {
      return loading;
    },
    get error() {
      return error;
    },
    /** Zoom to [lo, hi]: shown at once on the data at hand, then re-queried finer. */
    zoomTo(lo, hi) {
      const [start, end] = zoomWindow(axisName, lo, hi);
      // The best-so-far line inside the window starts from the best before it.
      for (const t of traces) {
        for (const dir of ["min", "max"]) t.seed[dir] = columns.bestBefore(t.cols, dir, start + t.origin, t.seed[dir]);
      }
      view = [start, end];
      query();
    },
    reset,
    /**
     * Switch to another x axis (origins: run id -> origin, see chart-axis.js originOf): the full
     * range on it is fetched; the zoom window, which meant x on the old axis, is dropped.
     */
    setAxis(name, origins) {
      axisName = name;
      view = null;
      shown = null;
      for (const t of traces) {
        t.origin = origins.get(t.id) ?? 0;
        t.cols = columns.emptyColumns();
        t.seed = { min: null, max: null };
      }
      query();
    },
    /**
     * A run's origin changed (it started after the page opened): drawn x moves, and a zoom
     * window (drawn x) is dropped for the full range. Returns whether it was.
     */
    setOrigin(id, origin) {
      const t = byId.get(id);
      if (!t || t.origin === origin) return false;
      t.origin = origin;
      const zoomed = reset();
      if (!zoomed) onChange();
      return zoomed;
    },
    /**
     * A run's full-range Series by step (hydration, or re-hydration after a reset): on the step
     * axis its data; on a time axis only its newest point, and the range by time is fetched.
     */
    setSeries(id, series) {
      const t = byId.get(id);
      if (!t) return;
      const n = series && series.x ? series.x.length : 0;
      if (n) {
        // A bucket's x is its first step; its newest point is at last_x.
        const xs = series.mode === "buckets" && series.last_x ? series.last_x : series.x;
        t.lastX = xs[n - 1];
        t.lastValue = (series.mode === "buckets" ? series.last : series.value)[n - 1];
      }
      if (queryAxis(axisName) === "time") {
        queryFullRangeSoon(); // once for every run hydrated now; a zoom window is kept
        return;
      }
      if (view) {
        query(); // zoomed in: keep the window, refresh what is in it
        return;
      }
      t.cols = columns.capColumns(columns.columnsFromSeries(series));
      onChange();
    },
    /** The newest point of a run, when known better than a bucketed Series can tell. */
    noteLatest(id, x, raw) {
      const t = byId.get(id);
      if (!t || (t.lastX !== undefined && x < t.lastX)) return;
      t.lastX = x;
      t.lastValue = raw;
      onChange();
    },
    /**
     * Live points of one run (steps ascending within a message; late ones are placed in order),
     * with their wall times `ts` (unix seconds; what a time axis plots them at).
     */
    append(id, steps, values, seq, ts) {
      const t = byId.get(id);
      if (!t) return;
      const timed = queryAxis(axisName) === "time";
      for (let i = 0; i < steps.length; i++) {
        const step = steps[i];
        const x = timed ? ts[i] : step;
        if (t.lastX === undefined || step >= t.lastX) {
          t.lastX = step;
          t.lastValue = values[i];
        }
        if (t.pending) t.pending.push({ step, ts: ts ? ts[i] : null, v: values[i], seq });
        // Zoomed in: points outside the window are not this view's business (reset refetches).
        if (columns.inWindow(view, x - t.origin)) columns.foldPoint(t.cols, x, values[i], timed ? step : null);
      }
      if (t.pending && t.pending.length > PENDING_CAP) t.pending.splice(0, t.pending.length - PENDING_CAP);
      t.cols = columns.capColumns(t.cols);
      onChange();
    },
    /** Drop the answers of queries still in flight. */
    close() {
      queryGen++;
    },
  };
}
