// Pure geometry of a distribution chart (TensorBoard's "distributions"): the percentile bands
// over steps, the value range, the step under the cursor, and one step's histogram as bars.
// No DOM here, so node --test checks it (tests/js/distribution-data.test.mjs).

// The server's nine percentiles (0, 6.68, 15.87, 30.85, 50, 69.15, 84.13, 93.32, 100) pair up
// from the outside in: min–max, ±2σ, ±1σ, ±0.5σ; index 4 is the median.
export const BAND_PAIRS = [
  [0, 8],
  [1, 7],
  [2, 6],
  [3, 5],
];
export const MEDIAN = 4;

/** The steps that have percentiles (an empty histogram has none), oldest first. */
export function drawable(steps) {
  return (steps || []).filter((s) => Array.isArray(s.percentiles) && s.percentiles.every((p) => typeof p === "number"));
}

/**
 * Why a chart has nothing to draw, or null when it has bands: `raw` and `shown` are each
 * series' steps as fetched and as drawable. Bands need two steps with finite values.
 */
export function emptyNote(raw, shown) {
  const most = Math.max(0, ...shown.map((s) => s.length));
  if (most > 1) return null;
  if (most === 1) {
    const steps = [...new Set(shown.filter((s) => s.length).map((s) => s[0].step))];
    const which = steps.length === 1 ? `one step (${steps[0].toLocaleString("en-US")})` : "one step per run";
    return `${which}: bands need two or more; hover for its histogram`;
  }
  if (raw.some((s) => s && s.length)) return "no finite values: every step is empty, NaN or ±inf";
  return "no steps yet";
}

/** [min, max] over every series' steps: step range and value range (padded when flat). */
export function extents(seriesList) {
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (const steps of seriesList) {
    for (const s of steps) {
      if (s.step < x0) x0 = s.step;
      if (s.step > x1) x1 = s.step;
      const p = s.percentiles;
      if (p[0] < y0) y0 = p[0];
      if (p[p.length - 1] > y1) y1 = p[p.length - 1];
    }
  }
  if (x0 > x1) return null;
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  return { x0, x1, y0, y1 };
}

/** One band's outline: along the upper percentile left to right, back along the lower one;
 * [x, y] pairs in whatever space `px`/`py` map to. */
export function bandPath(steps, lower, upper, px, py) {
  const out = new Float64Array(steps.length * 4);
  const n = steps.length;
  for (let i = 0; i < n; i++) {
    const s = steps[i];
    out[i * 2] = px(s.step);
    out[i * 2 + 1] = py(s.percentiles[upper]);
    const j = 2 * n - 1 - i;
    out[j * 2] = px(s.step);
    out[j * 2 + 1] = py(s.percentiles[lower]);
  }
  return out;
}

/** The index of the step nearest `step` in steps sorted by step (-1 when there are none). */
export function nearestIndex(steps, step) {
  if (!steps.length) return -1;
  let lo = 0;
  let hi = steps.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (steps[mid].step < step) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && step - steps[lo - 1].step <= steps[lo].step - step) return lo - 1;
  return lo;
}

/** One histogram's bars: {x0, x1, count} per bin and the tallest count. */
export function bars(edges, counts) {
  const out = [];
  let top = 0;
  for (let i = 0; i < counts.length && i + 1 < edges.length; i++) {
    out.push({ x0: edges[i], x1: edges[i + 1], count: counts[i] });
    if (counts[i] > top) top = counts[i];
  }
  return { bars: out, top };
}
