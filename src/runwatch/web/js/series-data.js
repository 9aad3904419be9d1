// A chart's data as plain columns: a /metrics Series turned into columns, live points folded
// into the displayed resolution, coarsening under the per-chart cap, and the derived lines
// (EMA smoothing, best so far). Pure functions: no DOM, no globals.
//
// Columns: {mode, width, x, y, lo, hi, count, nf, last, step, end}
//   mode   "raw" (one point per x) or "buckets" (aligned: bucket b covers [b*width, (b+1)*width))
//   x      the point's x, or the first x in the bucket (sorted ascending)
//   y      value / bucket mean over finite values; null where there is no finite value (a gap)
//   lo, hi bucket min / max (null in raw mode, where the line is the whole story)
//   count  points in the bucket (non-finite ones included); nf the finite ones among them
//   last   the value of the bucket's newest point (a number, NaN and ±Infinity kept)
//   step   a raw point's step when x is a time (null when unknown, and for every bucket)
//   end    the greatest x of any point (inside the last bucket, past its first x), or null

import { toNumber, toPlotValue } from "./format.js";

export const MAX_POINTS = 5000;

const minOf = (a, b) => (a === null ? b : b === null ? a : Math.min(a, b));
const maxOf = (a, b) => (a === null ? b : b === null ? a : Math.max(a, b));

/** Columns with nothing in them (a key a run has not logged yet). */
export function emptyColumns() {
  return { mode: "raw", width: null, x: [], y: [], lo: [], hi: [], count: [], nf: [], last: [], step: [], end: null };
}

/** Columns from a /state or /metrics Series (raw: values; buckets: mean with a min/max band). */
export function columnsFromSeries(series) {
  if (!series) return emptyColumns();
  if (series.mode === "buckets") {
    const y = series.mean.map(toPlotValue);
    const count = series.count.slice();
    return {
      mode: "buckets",
      width: series.width,
      x: series.x.slice(),
      y,
      lo: series.min.map(toPlotValue),
      hi: series.max.map(toPlotValue),
      count,
      // NaN and ±inf are counted apart from the finite values (a Series without `finite`:
      // a bucket with a finite mean is taken as all finite).
      nf: series.finite ? series.finite.slice() : y.map((m, i) => (m === null ? 0 : count[i])),
      last: series.last.map(toNumber),
      step: y.map(() => null),
      end: lastX(series.last_x ?? series.x),
    };
  }
  const y = series.value.map(toPlotValue);
  return {
    mode: "raw",
    width: null,
    x: series.x.slice(),
    y,
    lo: y.map(() => null),
    hi: y.map(() => null),
    count: y.map(() => 1),
    nf: y.map((v) => (v === null ? 0 : 1)),
    last: series.value.map(toNumber),
    step: series.step ? series.step.slice() : y.map(() => null),
    end: lastX(series.x),
  };
}

function lastX(xs) {
  let end = null;
  for (const x of xs) end = maxOf(end, x);
  return end;
}

/** The first index whose x is greater than `x` (x sorted ascending). */
export function upperBound(sorted, x) {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index whose bucket (floor(x / width)) is at least `bucket`. */
function bucketBound(cols, bucket) {
  let lo = 0;
  let hi = cols.x.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (Math.floor(cols.x[mid] / cols.width) < bucket) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertAt(cols, at, x, raw, step) {
  const v = toNumber(raw);
  const y = Number.isFinite(v) ? v : null;
  const band = cols.mode === "buckets" ? y : null;
  cols.x.splice(at, 0, x);
  cols.y.splice(at, 0, y);
  cols.lo.splice(at, 0, band);
  cols.hi.splice(at, 0, band);
  cols.count.splice(at, 0, 1);
  cols.nf.splice(at, 0, y === null ? 0 : 1);
  cols.last.splice(at, 0, v);
  cols.step.splice(at, 0, cols.mode === "buckets" ? null : step);
  cols.end = maxOf(cols.end ?? null, x);
}

function replaceAt(cols, i, raw) {
  const v = toNumber(raw);
  const y = Number.isFinite(v) ? v : null;
  cols.y[i] = y;
  cols.nf[i] = y === null ? 0 : 1;
  cols.last[i] = v;
}

/**
 * Fold one live point into `cols` in place, at the resolution they show: raw columns get a
 * point (appended, or inserted in x order when late; on the step axis, one at a step they hold
 * replaces that point); bucketed columns update the bucket
 * floor(x / width) — min, max, mean over finite values, count, last — or open it. `step`: the
 * point's step, kept by raw columns (a bucket's step is not one number).
 */
export function foldPoint(cols, x, raw, step = null) {
  const n = cols.x.length;
  if (cols.mode !== "buckets") {
    const at = n === 0 || x >= cols.x[n - 1] ? n : upperBound(cols.x, x);
    // A step logged again (a resumed run) replaces the point at it, as the server's reads do.
    if (step === null && at > 0 && cols.x[at - 1] === x) replaceAt(cols, at - 1, raw);
    else insertAt(cols, at, x, raw, step);
    return;
  }
  const width = cols.width;
  const bucket = Math.floor(x / width);
  if (n === 0 || Math.floor(cols.x[n - 1] / width) < bucket) {
    insertAt(cols, n, x, raw, null); // the usual case: a new bucket at the end
    return;
  }
  const i = Math.floor(cols.x[n - 1] / width) === bucket ? n - 1 : bucketBound(cols, bucket);
  if (Math.floor(cols.x[i] / width) !== bucket) {
    insertAt(cols, i, x, raw, null); // a late point whose bucket was empty
    return;
  }
  const v = toNumber(raw);
  cols.end = maxOf(cols.end ?? null, x);
  cols.count[i] += 1;
  if (x < cols.x[i]) cols.x[i] = x; // still the same bucket: order is kept
  // Live points come in step order, so a point for the newest bucket is its newest point; one
  // for an older bucket is late and does not replace that bucket's last value.
  else if (i === n - 1) cols.last[i] = v;
  if (Number.isFinite(v)) {
    const nf = cols.nf[i];
    cols.y[i] = nf === 0 || cols.y[i] === null ? v : cols.y[i] + (v - cols.y[i]) / (nf + 1);
    cols.lo[i] = minOf(cols.lo[i], v);
    cols.hi[i] = maxOf(cols.hi[i], v);
    cols.nf[i] = nf + 1;
  }
}

/**
 * The columns merged into aligned buckets of `width` (a multiple of the current width when
 * bucketed, so merging is exact: min of mins, max of maxes, finite-weighted mean, summed counts).
 * Returns new columns; `cols` is not changed.
 */
export function rebucket(cols, width) {
  const out = { mode: "buckets", width, x: [], y: [], lo: [], hi: [], count: [], nf: [], last: [], step: [], end: cols.end ?? null };
  let bucket = null;
  let sum = 0;
  for (let i = 0; i < cols.x.length; i++) {
    const b = Math.floor(cols.x[i] / width);
    const y = cols.y[i];
    const lo = cols.lo[i] ?? y;
    const hi = cols.hi[i] ?? y;
    const nf = y === null ? 0 : cols.nf[i];
    const j = out.x.length - 1;
    if (b !== bucket) {
      if (j >= 0) out.y[j] = out.nf[j] ? sum / out.nf[j] : null;
      bucket = b;
      sum = 0;
      out.x.push(cols.x[i]);
      out.y.push(null);
      out.lo.push(lo);
      out.hi.push(hi);
      out.count.push(cols.count[i]);
      out.nf.push(nf);
      out.last.push(cols.last[i]);
      out.step.push(null);
    } else {
      out.lo[j] = minOf(out.lo[j], lo);
      out.hi[j] = maxOf(out.hi[j], hi);
      out.count[j] += cols.count[i];
      out.nf[j] += nf;
      out.last[j] = cols.last[i];
    }
    if (nf) sum += y * nf;
  }
  const j = out.x.length - 1;
  if (j >= 0) out.y[j] = out.nf[j] ? sum / out.nf[j] : null;
  return out;
}

function bucketCount(x, width) {
  let n = 0;
  let last = null;
  for (const v of x) {
    const b = Math.floor(v / width);
    if (b !== last) n++;
    last = b;
  }
  return n;
}

/**
 * Keep at most `cap` entries: raw columns become buckets of the smallest power-of-two width
 * that fits; bucketed columns double their width until they fit. Returns `cols` itself when it
 * already fits, else new columns.
 */
export function capColumns(cols, cap = MAX_POINTS) {
  if (cols.x.length <= cap) return cols;
  let width = cols.mode === "buckets" ? cols.width * 2 : 1;
  while (bucketCount(cols.x, width) > cap) width *= 2;
  return rebucket(cols, width);
}

/** Whether x is inside an inclusive [lo, hi] window (null: the full range). */
export function inWindow(window, x) {
  return !window || (x >= window[0] && x <= window[1]);
}

/**
 * TensorBoard's smoothing: an exponential moving average with weight `w` (0 = off), debiased so
 * the first points are not pulled towards zero. Gaps stay gaps and do not reset the average.
 */
export function ema(values, w) {
  if (!(w > 0)) return values.slice();
  const out = new Array(values.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      out[i] = v;
      continue;
    }
    last = last * w + (1 - w) * v;
    n += 1;
    out[i] = last / (1 - w ** n);
  }
  return out;
}

/** "min" for keys that read as losses or errors, "max" for everything else (accuracy, reward). */
export function bestDirection(key) {
  return /loss|err/i.test(key) ? "min" : "max";
}

/**
 * The best value so far at each index: a running min or max. Bucketed columns use their band
 * (the best point inside a bucket, not its mean). `seed` is the best before the first index.
 */
export function runningBest(cols, dir, seed = null) {
  const band = dir === "min" ? cols.lo : cols.hi;
  const pick = dir === "min" ? minOf : maxOf;
  const out = new Array(cols.x.length);
  let best = seed;
  for (let i = 0; i < cols.x.length; i++) {
    const v = band[i] ?? cols.y[i];
    if (v !== null && v !== undefined) best = pick(best, v);
    out[i] = best;
  }
  return out;
}

/** The best value among entries lying wholly before `x` (a zoom window's start), or `seed`. */
export function bestBefore(cols, dir, x, seed = null) {
  const band = dir === "min" ? cols.lo : cols.hi;
  const pick = dir === "min" ? minOf : maxOf;
  let best = seed;
  for (let i = 0; i < cols.x.length; i++) {
    // A raw point lies before x when its x is less (steps or times alike); a bucket, when it ends by x.
    const past = cols.mode === "buckets" ? (Math.floor(cols.x[i] / cols.width) + 1) * cols.width > x : cols.x[i] >= x;
    if (past) break;
    const v = band[i] ?? cols.y[i];
    if (v !== null && v !== undefined) best = pick(best, v);
  }
  return best;
}

/**
 * The indices in [i0, i1] of values no line segment reaches: a value whose nearest neighbours
 * on both sides are gaps (null) or the data's ends. `undefined` (a run with no point at that x
 * on a shared x column) is spanned over by the line, so it is skipped, not taken as a gap.
 */
export function loneIndices(values, i0 = 0, i1 = values.length - 1) {
  const out = [];
  const near = (from, step) => {
    for (let j = from; j >= 0 && j < values.length; j += step) if (values[j] !== undefined) return values[j];
    return null;
  };
  let prev = near(i0 - 1, -1);
  for (let i = i0; i <= i1; i++) {
    const v = values[i];
    if (v === undefined) continue;
    if (v !== null && prev === null && near(i + 1, 1) === null) out.push(i);
    prev = v;
  }
  return out;
}

/** The indices in [i0, i1] that hold a value (not a gap, not a missing point). */
export function finiteIndices(values, i0 = 0, i1 = values.length - 1) {
  const out = [];
  for (let i = i0; i <= i1; i++) if (values[i] !== null && values[i] !== undefined) out.push(i);
  return out;
}

/** Values for a log-scale axis: zero and negative values cannot be drawn there, so they are gaps. */
export function positiveOnly(values) {
  return values.map((v) => (v === null || v === undefined || v > 0 ? v : null));
}
