// The Media view's pure parts: raw arrays decoded little-endian, heatmap and label colours,
// the cell under the cursor, slider keys, a key's kept steps as the listing and live messages
// tell them, and the bounded LRU cache of decoded images.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  LruCache,
  answerAfter,
  arrowStep,
  cappedText,
  cellAt,
  covers,
  decodeRaw,
  extendKept,
  finiteRange,
  heatmapPixels,
  labelColor,
  labelPixels,
  mergeKept,
  offScaleKinds,
  scaleOf,
} from "../../src/runwatch/web/js/media-data.js";
import { same } from "./helpers.mjs";

function littleEndian(Type, values) {
  const view = new DataView(new ArrayBuffer(values.length * 4));
  values.forEach((v, i) => (Type === "f32" ? view.setFloat32(i * 4, v, true) : view.setInt32(i * 4, v, true)));
  return view.buffer;
}

test("raw blobs decode little-endian, and a wrong size is refused", () => {
  same([...decodeRaw(littleEndian("f32", [1.5, -2, 0.25, 8]), "application/x-runwatch-f32", 2, 2)], [1.5, -2, 0.25, 8]);
  same([...decodeRaw(littleEndian("i32", [0, 5, 70000, -1]), "application/x-runwatch-i32", 4, 1)], [0, 5, 70000, -1]);
  assert.throws(() => decodeRaw(new ArrayBuffer(12), "application/x-runwatch-f32", 2, 2), /2×2 array is 16 bytes/);
  assert.throws(() => decodeRaw(new ArrayBuffer(4), "image/png", 1, 1), /not a raw array/);
});

test("a heatmap's scale is the producer's vmin/vmax, else the finite data range", () => {
  same(finiteRange([3, NaN, -1, Infinity, 2]), [-1, 3]);
  assert.ok(finiteRange([NaN]).every(Number.isNaN));
  same(scaleOf(new Float32Array([1, 2, 3]), null, null), [1, 3]);
  same(scaleOf(new Float32Array([1, 2, 3]), 0, 10), [0, 10]);
});

test("heatmap pixels run from the ramp's dark end to its bright end; NaN is a grey gap", () => {
  const px = heatmapPixels(new Float32Array([0, 1, NaN]), 0, 1);
  same([...px.slice(0, 4)], [68, 1, 84, 255]);
  same([...px.slice(4, 8)], [253, 231, 37, 255]);
  same([...px.slice(8, 12)], [40, 44, 52, 255]);
  same([...heatmapPixels(new Float32Array([5, 9]), 5, 5).slice(0, 4)], [68, 1, 84, 255]); // flat
});

test("+inf and −inf cells have colours of their own, apart from NaN's grey and the ramp", () => {
  const px = heatmapPixels(new Float32Array([Infinity, -Infinity, NaN]), 0, 1);
  same([...px.slice(0, 4)], [255, 40, 40, 255]);
  same([...px.slice(4, 8)], [240, 240, 240, 255]);
  same([...px.slice(8, 12)], [40, 44, 52, 255]);
  same(offScaleKinds(new Float32Array([-Infinity, 1, NaN, -Infinity])), ["nan", "neg"]);
  same(offScaleKinds(new Float32Array([0, 1])), []);
});

test("each entity has its own stable colour; 0 is transparent background", () => {
  same(labelColor(0), [0, 0, 0, 0]);
  assert.notDeepEqual(labelColor(5), labelColor(6));
  same(labelColor(47), labelColor(47));
  const px = labelPixels(new Int32Array([0, 5, 5, 6]));
  same([...px.slice(0, 4)], [0, 0, 0, 0]);
  same([...px.slice(4, 8)], labelColor(5));
  same([...px.slice(8, 12)], labelColor(5));
  same([...px.slice(12, 16)], labelColor(6));
});

test("the cell under the cursor scales from CSS pixels to the array", () => {
  same(cellAt(0, 0, 200, 100, 4, 2), { col: 0, row: 0, index: 0 });
  same(cellAt(199.9, 99.9, 200, 100, 4, 2), { col: 3, row: 1, index: 7 });
  same(cellAt(120, 10, 200, 100, 4, 2), { col: 2, row: 0, index: 2 });
  assert.equal(cellAt(-1, 0, 200, 100, 4, 2), null);
  assert.equal(cellAt(200, 0, 200, 100, 4, 2), null);
});

test("arrow keys go to the kept neighbour, Home/End to the ends, within the range", () => {
  const shown = { prev: 40, next: 64 };
  assert.equal(arrowStep("ArrowLeft", shown, 50, 0, 100), 40);
  assert.equal(arrowStep("ArrowRight", shown, 50, 0, 100), 64);
  assert.equal(arrowStep("ArrowRight", { prev: 90, next: null }, 99, 0, 100), 100);
  assert.equal(arrowStep("ArrowLeft", null, 0, 0, 100), 0);
  assert.equal(arrowStep("Home", shown, 50, 3, 100), 3);
  assert.equal(arrowStep("End", shown, 50, 3, 100), 100);
  assert.equal(arrowStep("a", shown, 50, 0, 100), null);
});

test("page keys go a tenth of the range, and at least to the kept neighbour", () => {
  assert.equal(arrowStep("PageDown", { prev: 180, next: null }, 190, 0, 190), 171); // 170 is nearest
  assert.equal(arrowStep("PageUp", { prev: 0, next: 10 }, 0, 0, 190), 19);
  assert.equal(arrowStep("PageDown", { prev: 100, next: null }, 190, 0, 190), 100); // sparse steps
  assert.equal(arrowStep("PageUp", { prev: 0, next: 100 }, 0, 0, 190), 100);
  assert.equal(arrowStep("PageDown", { prev: 0, next: 10 }, 5, 0, 190), 0);
  assert.equal(arrowStep("PageDown", null, 3, 0, 4), 2);
});

test("the LRU cache keeps at most its entries and bytes, evicting the least recently used", () => {
  const evicted = [];
  const cache = new LruCache({ maxEntries: 3, maxBytes: 100, onEvict: (v) => evicted.push(v) });
  cache.set("a", "A", 10);
  cache.set("b", "B", 10);
  cache.set("c", "C", 10);
  assert.equal(cache.get("a"), "A"); // a is now the most recently used
  cache.set("d", "D", 10);
  same(evicted, ["B"]);
  assert.equal(cache.size, 3);
  cache.set("e", "E", 85); // past the byte cap: c, then a go
  same(evicted, ["B", "C", "A"]);
  assert.equal(cache.bytes, 95);
  cache.set("huge", "H", 500); // alone over the cap: it stays, everything else goes
  same([...cache.map.keys()], ["huge"]);
  assert.equal(cache.bytes, 500);
  cache.set("huge", "H2", 5); // replaced: the old value is freed
  assert.equal(evicted.at(-1), "H");
  assert.equal(cache.get("missing"), undefined);
});

test("an answer covers the steps whose nearest kept step is its item (ties go earlier)", () => {
  const answer = { item: { step: 10 }, prev: 4, next: 20 };
  assert.equal(covers(answer, 10), true);
  assert.equal(covers(answer, 8), true);
  assert.equal(covers(answer, 7), false); // 7 is as near 4 as 10: the earlier wins
  assert.equal(covers(answer, 15), true); // a tie between 10 and 20: 10
  assert.equal(covers(answer, 16), false);
  assert.equal(covers({ item: { step: 10 }, prev: null, next: null }, -1e9), true);
});

test("a live step keeps the remembered answers it leaves true, the last one gaining it as next", () => {
  const last = { item: { step: 40 }, prev: 32, next: null };
  const mid = { item: { step: 32 }, prev: 16, next: 40 };
  const msg = (step, dropped = []) => ({ step, dropped });
  same(answerAfter(last, msg(48), 40), { item: { step: 40 }, prev: 32, next: 48 });
  assert.equal(answerAfter(mid, msg(48), 40), mid); // untouched: asked nothing again
  same(answerAfter({ item: { step: 5 }, prev: null, next: null }, msg(6), 5), { item: { step: 5 }, prev: null, next: 6 });
  // A dropped step: its own answer, and those it was a neighbour of, are asked afresh.
  assert.equal(answerAfter(mid, msg(48, [16]), 40), null);
  assert.equal(answerAfter(mid, msg(48, [32]), 40), null);
  assert.equal(answerAfter(last, msg(48, [32]), 40), null);
  same(answerAfter(last, msg(48, [3]), 40), { item: { step: 40 }, prev: 32, next: 48 }); // a drop elsewhere
  // A step logged again, or late, may sit anywhere: every answer is asked afresh.
  assert.equal(answerAfter(last, msg(40), 40), null);
  assert.equal(answerAfter(mid, msg(20), 40), null);
});

test("a key's kept steps: the listing wins, live messages it was read before extend it once", () => {
  const listed = { first_step: 0, last_step: 41, count: 42 };
  const at = (step, dropped = []) => ({ step, dropped });
  // Heard before the listing answered: 41 (the listing holds it) and 42, 43 (it does not).
  same(mergeKept(listed, [at(41), at(42), at(43, [5])]), { first: 0, last: 43, count: 43 });
  same(mergeKept(listed, []), { first: 0, last: 41, count: 42 });
  // After it: a new step counts, less what it dropped; an old one (drops and all) is counted.
  const kept = mergeKept(listed, []);
  same(extendKept(kept, at(42, [3, 4])), { first: 0, last: 42, count: 41 });
  same(extendKept(kept, at(41, [3])), kept);
  same(extendKept(kept, at(40)), kept);
  // Made from one live message before any listing: one kept step, then the next.
  const alone = { first: 50, last: 50, count: 1 };
  same(extendKept(alone, at(51)), { first: 50, last: 51, count: 2 });
});

test("a capped section says how many of its keys it draws, once it is full", () => {
  assert.equal(cappedText(200, 200, 370, "image keys"), "showing 200 of 370 image keys (the first in key order)");
  assert.equal(cappedText(200, 200, 200, "image keys"), "");
  assert.equal(cappedText(0, 200, 370, "image keys"), ""); // still filling up
});
