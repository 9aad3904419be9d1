// What one chart shows, without the drawing: each run's columns, the zoom window, and the
// /metrics queries that fill them. A zoom asks the server for the window at the chart's pixel
// resolution; a reset asks for the full range again. Live points fold into the columns on screen
// (never a refetch), and points that arrive while a query is in flight are folded into its answer.

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
 * opts.traces    [{id, label, color}]: one per run
 * opts.load(id, {start, end, maxPoints}) -> Promise<{series, seq?}>: one run's Series for the
 *                range (start/end null: the full range); `seq`, when the server sends it, is the
 *                live seq the answer is current to, so in-flight live points fold in exactly.
 * opts.pixels()  the chart's width in CSS pixels (the resolution to ask for)
 * opts.onChange() after anything that changes what is drawn (or whether a query is running)
 */
export function createSource({ traces: specs, load, pixels, onChange }) {
  const traces = specs.map((s) => ({
    ...s,
    cols: columns.emptyColumns(),
    lastX: undefined, // the newest point seen, for readouts (whatever the window)
    lastValue: undefined,
    pending: null, // live points seen while a query is in flight
    seed: { min: null, max: null }, // the best value before the zoom window
  }));
  const byId = new Map(traces.map((t) => [t.id, t]));
  let view = null; // null: the full range; [lo, hi]: the zoom window asked for (inclusive steps)
  let shown = null; // the window the columns were loaded for
  let queryGen = 0;
  let loading = false;
  let error = null; // why the last query failed, if it did

  async function query() {
    const gen = ++queryGen;
    const win = view;
    const maxPoints = Math.max(32, Math.min(MAX_QUERY_POINTS, Math.round(pixels() || 600)));
    const range = { start: win ? win[0] : null, end: win ? win[1] : null, maxPoints };
    for (const t of traces) t.pending = [];
    loading = true;
    onChange();
    const answers = await Promise.all(
      traces.map((t) => load(t.id, range).then((answer) => ({ t, answer }), (error) => ({ t, error }))),
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
        if (!columns.inWindow(win, p.x)) continue;
        const missing = typeof seq === "number" && typeof p.seq === "number" ? p.seq > seq : isNewer(cols, p.x);
        if (missing) columns.foldPoint(cols, p.x, p.v);
      }
      t.cols = columns.capColumns(cols);
    }
    shown = win;
    loading = false;
    onChange();
  }

  return {
    traces,
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
      const start = Math.floor(lo);
      const end = Math.max(start + 1, Math.ceil(hi));
      // The best-so-far line inside the window starts from the best before it.
      for (const t of traces) {
        for (const dir of ["min", "max"]) t.seed[dir] = columns.bestBefore(t.cols, dir, start, t.seed[dir]);
      }
      view = [start, end];
      query();
    },
    /** Back to the full range, fetched again (it includes live points that fell outside the window). */
    reset() {
      if (!view) return false;
      view = null;
      for (const t of traces) t.seed = { min: null, max: null };
      query();
      return true;
    },
    /** Replace a run's data with a full-range Series (hydration, or re-hydration after a reset). */
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
    /** Live points of one run (steps ascending within a message; late ones are placed in order). */
    append(id, steps, values, seq) {
      const t = byId.get(id);
      if (!t) return;
      for (let i = 0; i < steps.length; i++) {
        const x = steps[i];
        if (t.lastX === undefined || x >= t.lastX) {
          t.lastX = x;
          t.lastValue = values[i];
        }
        if (t.pending) t.pending.push({ x, v: values[i], seq });
        // Zoomed in: points outside the window are not this view's business (reset refetches).
        if (columns.inWindow(view, x)) columns.foldPoint(t.cols, x, values[i]);
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
