// chart-axis.js and the time formatting it uses: the x axis a page plots against.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  noteStart,
  originOf,
  parseAxis,
  pointLabel,
  queryAxis,
  runStart,
  tickLabels,
  withAxis,
  windowLabels,
  zoomWindow,
} from "../../src/runwatch/web/js/chart-axis.js";
import { createSource } from "../../src/runwatch/web/js/chart-source.js";
import { formatRelative, formatRelativeTicks, formatWallTicks, formatWallTime } from "../../src/runwatch/web/js/format.js";
import { bestBefore, columnsFromSeries, foldPoint } from "../../src/runwatch/web/js/series-data.js";
import { same } from "./helpers.mjs";

const at = (y, mo, d, h = 0, mi = 0, s = 0) => new Date(y, mo - 1, d, h, mi, s).getTime() / 1000;

test("the address names the axis; anything else is the step, and other parameters stay as written", () => {
  assert.equal(parseAxis("?x=relative"), "relative");
  assert.equal(parseAxis("?runs=a,b&x=wall"), "wall");
  assert.equal(parseAxis("?x=WALL"), "step");
  assert.equal(parseAxis(""), "step");
  assert.equal(withAxis("?runs=a,b", "relative"), "?runs=a,b&x=relative");
  assert.equal(withAxis("?runs=a,b&x=relative", "wall"), "?runs=a,b&x=wall");
  assert.equal(withAxis("?x=wall", "step"), "");
  assert.equal(withAxis("?xs=1&x=wall", "step"), "?xs=1");
  same([queryAxis("step"), queryAxis("relative"), queryAxis("wall")], ["step", "time", "time"]);
});

test("relative time counts from the run's start, else from its creation; other axes from 0", () => {
  assert.equal(runStart({ started_at: 500, created_at: 100 }), 500);
  assert.equal(runStart({ started_at: null, created_at: 100 }), 100);
  assert.equal(originOf("relative", { started_at: null, created_at: 100 }), 100);
  assert.equal(originOf("wall", { started_at: 500, created_at: 100 }), 0);
  assert.equal(originOf("step", { started_at: 500, created_at: 100 }), 0);
});

test("relative times read compactly, trailing zero units left out", () => {
  const cases = [[0, 0, "0s"], [42, 0, "42s"], [90, 0, "1m30s"], [7500, 0, "2h05m"], [7200, 0, "2h"],
    [7230, 0, "2h00m30s"], [273600, 0, "3d04h"], [-5, 0, "-5s"], [59.9996, 3, "1m"], [61.25, 2, "1m01.25s"],
    [0.005, 3, "0.005s"], [-0.0001, 0, "0s"]];
  for (const [seconds, digits, text] of cases) assert.equal(formatRelative(seconds, digits), text, `${seconds}`);
});

test("relative ticks are distinct at every spacing, down to a millisecond", () => {
  same(formatRelativeTicks([0, 30, 60, 90], 30), ["0s", "30s", "1m", "1m30s"]);
  same(formatRelativeTicks([3600, 3900, 4200], 300), ["1h", "1h05m", "1h10m"]);
  same(formatRelativeTicks([0.5, 1, 1.5], 0.5), ["0.5s", "1s", "1.5s"]);
  same(formatRelativeTicks([100.001, 100.002, 100.003], 0.001), ["1m40.001s", "1m40.002s", "1m40.003s"]);
  same(formatRelativeTicks([10.25, 10.5], 0.25), ["10.25s", "10.5s"]);
  // A spacing too coarse for the ticks ("10s" twice): labels get finer until they differ.
  same(formatRelativeTicks([10.2, 10.4], 1), ["10.2s", "10.4s"]);
});

test("wall times read as local dates and times, carrying a rounded-up fraction into the second", () => {
  const t = at(2024, 5, 1, 14, 3, 27);
  assert.equal(formatWallTime(t), "2024-05-01 14:03:27");
  assert.equal(formatWallTime(t + 0.25, 2), "2024-05-01 14:03:27.25");
  assert.equal(formatWallTime(t + 0.99996, 3), "2024-05-01 14:03:28.000");
  assert.equal(formatWallTime(t, -1), "2024-05-01 14:03");
  assert.equal(formatWallTime(t, -2), "2024-05-01");
});

test("wall ticks keep the short labels while they differ, else add the year or the fraction", () => {
  same(formatWallTicks([at(2024, 5, 1, 14, 3), at(2024, 5, 1, 14, 4)], 60), ["May 1 14:03", "14:04"]);
  // Yearly ticks: "Jan 1" thrice would say nothing.
  same(formatWallTicks([at(2023, 1, 1), at(2024, 1, 1), at(2025, 1, 1)], 365 * 86400), ["2023-01-01", "2024-01-01", "2025-01-01"]);
  const t = at(2024, 5, 1, 14, 3, 27);
  const fine = formatWallTicks([t, t + 0.0001, t + 0.0002], 0.0001);
  assert.equal(new Set(fine).size, 3, fine.join(" | "));
});

test("each axis labels its ticks, readouts and zoom window in its own terms", () => {
  same(tickLabels("step", [776_000, 777_000], 1000), ["776k", "777k"]);
  same(tickLabels("relative", [60, 120], 60), ["1m", "2m"]);
  assert.equal(pointLabel("step", 1234, 100), "step 1,234");
  assert.equal(pointLabel("relative", 90, 600), "t 1m30s");
  assert.equal(pointLabel("relative", 90.25, 5), "t 1m30.25s");
  assert.equal(pointLabel("wall", at(2024, 5, 1, 14, 3, 27), 600), "2024-05-01 14:03:27");
  const [a, b] = windowLabels("relative", 100.0001, 100.0101);
  assert.notEqual(a, b);
  same(zoomWindow("step", 10.4, 19.2), [10, 20]);
  same(zoomWindow("step", 10.4, 10.6), [10, 11]);
  same(zoomWindow("relative", 10.4, 10.401), [10.4, 10.41]); // never narrower than 10 ms
});

test("the best before a window counts raw points strictly before it, on steps or times", () => {
  const cols = columnsFromSeries({ mode: "raw", x: [1.5, 2.5, 3.5], value: [3, 1, 0] });
  assert.equal(bestBefore(cols, "min", 2.5), 3);
  assert.equal(bestBefore(cols, "min", 2.6), 1);
});

test("raw columns over time keep each point's step; buckets keep none", () => {
  const raw = columnsFromSeries({ mode: "raw", x: [100, 101], value: [1, 2], step: [7, 8] });
  foldPoint(raw, 100.5, 3, 9); // a late point, placed in time order
  same([raw.x, raw.step], [[100, 100.5, 101], [7, 9, 8]]);
  const buckets = columnsFromSeries({
    mode: "buckets", width: 10, x: [100], min: [1], max: [2], mean: [1.5], count: [2], last: [2], last_x: [105],
  });
  foldPoint(buckets, 125, 4, 30);
  same(buckets.step, [null, null]);
});

function timedSource(loads, axis = "relative") {
  return createSource({
    traces: [{ id: "a", label: "a", color: "#000000", origin: 1000 }, { id: "b", label: "b", color: "#000000", origin: 4600 }],
    load: (id, range) => {
      loads.push({ id, ...range });
      return new Promise(() => {}); // never answers: the test reads what was asked
    },
    pixels: () => 600,
    onChange: () => {},
    axis,
  });
}

test("on a time axis live points land at their ts, and each run's zoom query is shifted by its origin", () => {
  const loads = [];
  const source = timedSource(loads);
  source.append("a", [0, 1], [5, 6], 10, [1090, 1120]);
  source.append("b", [0], [7], 11, [4690]);
  same([source.traces[0].cols.x, source.traces[0].cols.step], [[1090, 1120], [0, 1]]);
  same(source.traces[1].cols.x, [4690]);
  same([source.traces[0].lastX, source.traces[0].lastValue], [1, 6]); // the readout's newest step
  source.zoomTo(80, 100);
  same(loads.map((l) => [l.id, l.start, l.end, l.x]), [["a", 1080, 1100, "time"], ["b", 4680, 4700, "time"]]);
  source.append("a", [2, 3], [1, 2], 12, [1095, 1300]); // the second is outside the window
  same(source.traces[0].cols.x, [1090, 1095, 1120]);
});

test("on a time axis a hydration by step asks once for every run's range by time", async () => {
  const loads = [];
  const source = timedSource(loads, "wall");
  source.setSeries("a", { mode: "raw", x: [0, 1, 2], value: [1, 2, 3] });
  source.setSeries("b", { mode: "raw", x: [0], value: [4] });
  same(source.traces[0].cols.x, []); // steps are not times
  same([source.traces[0].lastX, source.traces[0].lastValue], [2, 3]);
  await Promise.resolve();
  same(loads.map((l) => [l.id, l.start, l.end, l.x]), [["a", null, null, "time"], ["b", null, null, "time"]]);
  source.setAxis("step", new Map());
  same(loads.slice(2).map((l) => [l.id, l.x]), [["a", "step"], ["b", "step"]]);
  same(source.traces.map((t) => t.origin), [0, 0]);
});

test("a queued run that starts moves its relative origin to its start, once", () => {
  const run = { created_at: 100, started_at: null };
  assert.equal(originOf("relative", run), 100);
  assert.equal(noteStart(run, { state: "queued", ts: 150 }), false);
  assert.equal(noteStart(run, { state: "running", ts: 160 }), true);
  assert.equal(originOf("relative", run), 160);
  assert.equal(noteStart(run, { state: "running", ts: 170 }), false); // a crashed run's revival
  assert.equal(run.started_at, 160);
});
