// chart-bands.js: the min–max band's bars, one per bucket, never thinner than a device pixel.
import assert from "node:assert/strict";
import { test } from "node:test";

import { bandColor, bandRects } from "../../src/runwatch/web/js/chart-bands.js";

// x 0..1000 over 100 device pixels from 10; y -100..100 over 200 pixels from 0 (up is smaller).
const toX = (x) => 10 + x / 10;
const toY = (y) => 100 - y;
const CLIP = { left: 10, top: 0, width: 100, height: 200 };

test("every bucket gets a bar at least one pixel wide and tall, spikes up and down included", () => {
  const xs = [0, 3, 6, 9];
  const lo = [0, -80, 0, 1];
  const hi = [0, 0, 100, 1];
  const rects = bandRects(xs, lo, hi, 3, toX, toY, CLIP, [0, 1000]);
  assert.deepEqual(rects, [
    [10, 100, 1, 1], // a flat bucket: still a pixel
    [10, 100, 1, 80], // down to -80
    [10, 0, 1, 100], // up to 100
    [10, 99, 1, 1],
  ]);
});

test("buckets without values are skipped; a bucket past the window is not drawn", () => {
  const rects = bandRects([0, 100, 2000], [1, null, 1], [2, 5, 1], 100, toX, toY, CLIP, [0, 1000]);
  assert.deepEqual(rects, [[10, 98, 10, 1]]);
});

test("the last, partial bucket stays on the plot at its right edge", () => {
  // The bucket [1000, 1010) starts on the window's last x: drawn one pixel wide inside it.
  const rects = bandRects([1000], [0], [90], 10, toX, toY, CLIP, [0, 1000]);
  assert.deepEqual(rects, [[109, 10, 1, 90]]);
});

test("bars are clipped to the plot vertically", () => {
  const rects = bandRects([0], [-500], [500], 10, toX, toY, CLIP, [0, 1000]);
  assert.deepEqual(rects, [[10, 0, 1, 200]]);
});

test("the band colour is opaque, between the line colour and the panel", () => {
  assert.equal(bandColor("#ffffff", 0.5, "#000000"), "#808080");
  assert.equal(bandColor("#2dd4bf", 1), "#2dd4bf");
  assert.match(bandColor("#2dd4bf"), /^#[0-9a-f]{6}$/);
});
