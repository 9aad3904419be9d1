// Curves of many runs: which runs to draw (the best by a summary), and a curve's best-so-far.
// Pure: no DOM.

import { isNumber } from "./sweep-fields.js";

/** The running best of `ys` ("min" or "max"): each point is the best value up to it. Points
 * that are not numbers keep their place (as null) and do not change the best. */
export function bestSoFar(ys, direction = "min") {
  const out = new Array(ys.length);
  let best = null;
  for (let i = 0; i < ys.length; i++) {
    const y = ys[i];
    if (isNumber(y) && (best === null || (direction === "min" ? y < best : y > best))) best = y;
    out[i] = isNumber(y) ? best : null;
  }
  return out;
}

// Points (or buckets) fetched per curve: POINT_BUDGET over the curves drawn, within
// [MIN_POINTS, MAX_POINTS]. A canvas strokes every segment, so the budget bounds a draw of many
// curves (10,000 curves of 50 points: about 150 ms to the pixels, benchmarks/sweep_views.py)
// while a small sweep's curves keep their detail.
export const MAX_POINTS = 200;
export const MIN_POINTS = 50;
export const POINT_BUDGET = 500_000;

/** How many points to fetch per curve when `curves` curves are drawn. */
export function pointsPerCurve(curves) {
  return Math.max(MIN_POINTS, Math.min(MAX_POINTS, Math.floor(POINT_BUDGET / Math.max(1, curves))));
}

/** The `n` runs with the best value (lowest for "min"), best first; runs without a number
 * come after all the others, newest first among themselves (their order in `runs`). */
export function bestRuns(runs, valueOf, direction, n) {
  const ranked = runs.map((run, i) => ({ run, i, v: valueOf(run) }));
  const sign = direction === "min" ? 1 : -1;
  ranked.sort((a, b) => {
    const an = isNumber(a.v);
    const bn = isNumber(b.v);
    if (an !== bn) return an ? -1 : 1;
    if (an && a.v !== b.v) return sign * (a.v - b.v);
    return a.i - b.i;
  });
  return ranked.slice(0, n).map((r) => r.run);
}

/** Whether lower is better for a metric, guessed from its name (loss, error, …): the default
 * direction of "best". */
export function lowerIsBetter(name) {
  return /loss|err|mse|mae|rmse|perplex|ppl|time|latency|regret|cost/i.test(name);
}

/** x and y columns from a /metrics series (raw points, or bucket means), y as numbers or null. */
export function seriesXY(series) {
  if (!series) return { x: [], y: [] };
  const ys = series.mode === "buckets" ? series.mean : series.value;
  return { x: series.x.slice(), y: ys.map((v) => (isNumber(v) ? v : null)) };
}
