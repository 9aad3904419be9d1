// A distribution chart's pure geometry: drawable steps, extents, band outlines, hover lookup
// and one histogram's bars.
import assert from "node:assert/strict";
import { test } from "node:test";

import { bandPath, bars, drawable, emptyNote, extents, nearestIndex } from "../../src/runwatch/web/js/distribution-data.js";
import { same } from "./helpers.mjs";

const P = (lo, hi) => [lo, lo + 1, lo + 2, lo + 3, (lo + hi) / 2, hi - 3, hi - 2, hi - 1, hi];

test("empty histograms (null percentiles) are not drawn", () => {
  const steps = [{ step: 1, percentiles: P(0, 10) }, { step: 2, percentiles: Array(9).fill(null) }];
  same(drawable(steps).map((s) => s.step), [1]);
  same(drawable(undefined), []);
});

test("extents cover every series; a single step or a flat value is padded", () => {
  const a = [{ step: 0, percentiles: P(-5, 10) }, { step: 100, percentiles: P(0, 20) }];
  const b = [{ step: 50, percentiles: P(-8, 4) }];
  same(extents([a, b]), { x0: 0, x1: 100, y0: -8, y1: 20 });
  same(extents([[{ step: 7, percentiles: Array(9).fill(3) }]]), { x0: 6, x1: 8, y0: 2, y1: 4 });
  assert.equal(extents([[]]), null);
});

test("a band's outline goes along the upper percentile and back along the lower", () => {
  const steps = [{ step: 0, percentiles: P(0, 10) }, { step: 10, percentiles: P(2, 12) }];
  const path = bandPath(steps, 0, 8, (x) => x * 2, (y) => -y);
  same([...path], [0, -10, 20, -12, 20, -2, 0, 0]);
});

test("the hovered step is the nearest kept one (the earlier on a tie)", () => {
  const steps = [0, 10, 20, 40].map((step) => ({ step }));
  assert.equal(nearestIndex(steps, -5), 0);
  assert.equal(nearestIndex(steps, 14), 1);
  assert.equal(nearestIndex(steps, 15), 1);
  assert.equal(nearestIndex(steps, 16), 2);
  assert.equal(nearestIndex(steps, 99), 3);
  assert.equal(nearestIndex([], 3), -1);
});

test("a histogram's bars pair each count with its bin", () => {
  same(bars([0, 1, 2, 4], [3, 9, 1]), { bars: [{ x0: 0, x1: 1, count: 3 }, { x0: 1, x1: 2, count: 9 }, { x0: 2, x1: 4, count: 1 }], top: 9 });
});

test("an empty chart says why: one step, no finite values, nothing yet", () => {
  const empty = { step: 3, percentiles: Array(9).fill(null) };
  const one = [{ step: 12_000, percentiles: P(0, 10) }];
  assert.equal(emptyNote([one], [one]), "one step (12,000): bands need two or more; hover for its histogram");
  const other = [{ step: 5, percentiles: P(0, 10) }];
  assert.equal(emptyNote([one, other], [one, other]), "one step per run: bands need two or more; hover for its histogram");
  assert.equal(emptyNote([[empty, { ...empty, step: 4 }]], [[]]), "no finite values: every step is empty, NaN or ±inf");
  assert.equal(emptyNote([[]], [[]]), "no steps yet");
  const two = [...one, { step: 12_001, percentiles: P(0, 10) }];
  assert.equal(emptyNote([two, []], [two, []]), null);
});
