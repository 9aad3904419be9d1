// series-data.js: columns from the API's series, live points folded in, caps, EMA and bests.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  bestBefore,
  bestDirection,
  capColumns,
  columnsFromSeries,
  ema,
  finiteIndices,
  foldPoint,
  loneIndices,
  positiveOnly,
  runningBest,
} from "../../src/runwatch/web/js/series-data.js";
import { approx, same } from "./helpers.mjs";

const BUCKETS = {
  mode: "buckets",
  width: 10,
  x: [0, 10, 20],
  min: [1, 2, "nan"],
  max: [3, 4, "nan"],
  mean: [2, 3, "nan"],
  count: [10, 10, 2],
  last: [2, 3, "nan"],
};

/** columnsFromSeries, then foldPoint for each [x, value]. */
function fold(series, points) {
  const cols = columnsFromSeries(series);
  for (const [x, v] of points) foldPoint(cols, x, v);
  return cols;
}

test("live points fold into aligned buckets", () => {
  const cols = fold(BUCKETS, [
    [25, 7],
    [29, "inf"],
    [21, 1],
    [30, 5],
    [5, 0.5],
  ]);
  approx(cols.y[0], (2 * 10 + 0.5) / 11);
  same(cols, {
    mode: "buckets",
    width: 10,
    x: [0, 10, 20, 30], // 25, 29 and 21 joined the NaN bucket at 20; 30 opened a new one
    y: [cols.y[0], 3, 4, 5], // means over finite values only
    lo: [0.5, 2, 1, 5],
    hi: [3, 4, 7, 5],
    count: [11, 10, 5, 1], // inf counts as a point, not as a value
    nf: [11, 10, 2, 1],
    last: [2, 3, 1, 5], // a late point in an old bucket is not its newest
    step: [null, null, null, null], // a bucket's step is not one number
    end: 30,
  });
});

test("raw columns take live points in step order", () => {
  const raw = { mode: "raw", x: [1, 2, 4], value: [1, "nan", 4] };
  const cols = fold(raw, [
    [5, 5],
    [3, 3],
  ]);
  same(cols.x, [1, 2, 3, 4, 5]);
  same(cols.y, [1, null, 3, 4, 5]);
  same(cols.lo, [null, null, null, null, null]); // no band for raw points
});

test("a step logged again replaces the raw point at it, as the server's reads do", () => {
  const raw = { mode: "raw", x: [1, 2, 3], value: [1, 2, 3] };
  const cols = fold(raw, [
    [2, 20], // a resumed run goes on from step 2
    [3, "nan"],
    [4, 40],
  ]);
  same(cols.x, [1, 2, 3, 4]);
  same(cols.y, [1, 20, null, 40]);
  same([cols.nf, cols.last], [[1, 1, 0, 1], [1, 20, NaN, 40]]);
  // On the time axis a point carries its step: two at one time are two points.
  const timed = columnsFromSeries({ mode: "raw", x: [10], value: [1], step: [1] });
  foldPoint(timed, 10, 2, 2);
  same(timed.x, [10, 10]);
});

/** Columns from ``series``, capped at ``max`` buckets. */
function capped(series, max) {
  return capColumns(columnsFromSeries(series), max);
}

test("the cap turns raw points into exact power-of-two buckets", () => {
  const n = 5003;
  const x = Array.from({ length: n }, (_, i) => i);
  const raw = { mode: "raw", x, value: x.map((i) => i % 7) };
  const cols = capped(raw, 5000);
  assert.equal(cols.mode, "buckets");
  assert.equal(cols.width, 2);
  assert.equal(cols.x.length, 2502);
  assert.equal(
    cols.count.reduce((a, b) => a + b, 0),
    n,
  );
  same(cols.lo.slice(0, 2), [0, 2]);
  same(cols.hi.slice(0, 2), [1, 3]);
  same(cols.y.slice(0, 2), [0.5, 2.5]);
  assert.equal(cols.last.at(-1), (n - 1) % 7);
});

test("the cap doubles the bucket width exactly", () => {
  const cols = capped(BUCKETS, 2);
  assert.equal(cols.width, 20);
  same(cols.x, [0, 20]);
  same(cols.count, [20, 2]);
  same(cols.y, [2.5, null]); // the all-NaN bucket stays a gap
  same(cols.lo, [1, null]);
  same(cols.hi, [4, null]);
});

test("EMA matches TensorBoard's and keeps gaps", () => {
  const out = ema([1, null, 3, 5], 0.5);
  assert.equal(out[0], 1); // debiased: the first value is itself
  same(out[1], null);
  approx(out[2], (0.5 * 0.5 + 0.5 * 3) / (1 - 0.25));
  same(ema([1, 2], 0), [1, 2]);
});

const DIRECTIONS = [
  ["loss", "min"],
  ["val/Loss", "min"],
  ["error_rate", "min"],
  ["acc", "max"],
  ["reward", "max"],
];
for (const [key, direction] of DIRECTIONS) {
  test(`the best of ${key} is its ${direction}`, () => {
    assert.equal(bestDirection(key), direction);
  });
}

test("the running best uses the band of buckets", () => {
  const cols = columnsFromSeries(BUCKETS);
  same(
    [
      runningBest(cols, "min"),
      runningBest(cols, "max", 3.5),
      bestBefore(cols, "min", 20),
      bestBefore(cols, "min", 19),
    ],
    [[1, 1, 1], [3.5, 4, 4], 1, 1],
  );
});

test("log-scale values drop zero and negatives", () => {
  same(positiveOnly([1, 0, -1, null, 2.5]), [1, null, null, null, 2.5]);
});

test("bucketed columns take the finite counts the wire sends", () => {
  const cols = columnsFromSeries({ ...BUCKETS, finite: [9, 10, 0], last_x: [9, 19, 21] });
  same(cols.nf, [9, 10, 0]); // bucket 0 holds a NaN beside nine values: still a gap
  same(cols.end, 21);
  foldPoint(cols, 5, "nan");
  same([cols.count[0], cols.nf[0]], [11, 9]);
});

test("lone values are the ones with a gap or the data's end on both sides", () => {
  same(loneIndices([1, null, 2, null, 3, 4, null, 5]), [0, 2, 7]);
  same(loneIndices([null, 1, 2, null]), []);
  same(loneIndices([7]), [0]);
  // undefined (no point of this run at that x) is spanned over, not a gap
  same(loneIndices([null, undefined, 1, undefined, null, 2, undefined, 3]), [2]);
  // a window's edges look past it for the neighbours
  same(loneIndices([1, 2, null, 3, null], 1, 3), [3]);
});

test("finite indices skip gaps and missing points", () => {
  same(finiteIndices([1, null, undefined, 2, 3], 1, 4), [3, 4]);
});
