// sweep-*.js: fields, scales, ticks, brushes and their query text, best-so-far, hit-testing.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  brushKeeps,
  brushParam,
  brushQuery,
  buildAxis,
  categoryKey,
  filterRuns,
  queryValue,
  rangeBrush,
  readBrushParam,
  readBrushParams,
  roundBound,
  selectionQuery,
  setBrush,
} from "../../src/runwatch/web/js/sweep-brush.js";
import { fieldKind, fieldName, parseField, pickerFields, readField } from "../../src/runwatch/web/js/sweep-fields.js";
import { axisAt, axisPositions, pointIndex } from "../../src/runwatch/web/js/sweep-hit.js";
import { categoryScale, extent, linearTicks, logTicks, numberScale, rampColor } from "../../src/runwatch/web/js/sweep-scales.js";
import { bestRuns, bestSoFar, lowerIsBetter, pointsPerCurve, seriesXY } from "../../src/runwatch/web/js/sweep-series.js";
import { approx, same } from "./helpers.mjs";

const RUN = {
  config: { lr: 0.001, opt: "adam", optim: { "beta/1": 0.9 }, layers: [64, 64] },
  summary: { acc: 0.91, "train/loss": "nan" },
  extremes: { acc: { min: 0.1, max: 0.95 } },
};

test("field names parse as the query language writes them", () => {
  same(parseField("config.lr"), { doc: "config", keys: ["lr"], stat: null });
  same(parseField('config.optim["beta/1"]'), { doc: "config", keys: ["optim", "beta/1"], stat: null });
  same(parseField("summary.acc"), { doc: "summary", keys: ["acc"], stat: "last" });
  same(parseField('summary["train/loss"].min'), { doc: "summary", keys: ["train/loss"], stat: "min" });
  same(parseField("summary.acc.last"), { doc: "summary", keys: ["acc"], stat: "last" });
  assert.equal(parseField("summary.a.b"), null);
  assert.equal(parseField("name"), null);
  assert.equal(parseField("config"), null);
  assert.equal(parseField('config["open'), null);
  assert.equal(fieldName("summary", ["train/loss"], "max"), 'summary["train/loss"].max');
  assert.equal(fieldName("config", ["optim", "lr"]), "config.optim.lr");
});

test("fields read a run's value the way the server compares it", () => {
  assert.equal(readField(RUN, parseField("config.lr")), 0.001);
  assert.equal(readField(RUN, parseField('config.optim["beta/1"]')), 0.9);
  assert.equal(readField(RUN, parseField("config.lr.x")), undefined);
  assert.equal(readField(RUN, parseField('config.layers["0"]')), undefined); // keys name members only
  assert.equal(readField(RUN, parseField("summary.acc.max")), 0.95);
  assert.equal(readField(RUN, parseField('summary["train/loss"]')), "nan");
  assert.equal(readField(RUN, parseField("summary.nope.min")), undefined);
  assert.equal(readField({}, parseField("config.lr")), undefined);
});

test("an axis is numeric when only numbers (and non-finite markers) are there", () => {
  assert.equal(fieldKind([1, undefined, null, "nan", 2]), "number");
  assert.equal(fieldKind([1, "auto"]), "category");
  assert.equal(fieldKind([true, false]), "category");
  assert.equal(fieldKind([undefined, null]), null);
});

test("the picker lists config fields and each summary's last, min and max", () => {
  same(pickerFields({ config: { "config.b": 3, "config.a": 3, "config.c": 9 }, summary: { 'summary["x/y"]': 2 } }), {
    config: ["config.c", "config.a", "config.b"],
    summary: ['summary["x/y"]', 'summary["x/y"].min', 'summary["x/y"].max'],
  });
});

test("linear scales map both ways; log scales place positive numbers only", () => {
  const s = numberScale(0, 10, 100, 0);
  assert.equal(s.toPx(0), 100);
  assert.equal(s.toPx(10), 0);
  assert.equal(s.toPx(2.5), 75);
  assert.equal(s.fromPx(50), 5);
  assert.ok(Number.isNaN(s.toPx("nan")));
  const g = numberScale(1e-4, 1e-1, 0, 300, "log");
  approx(g.toPx(1e-3), 100);
  approx(g.fromPx(200), 1e-2);
  assert.ok(Number.isNaN(g.toPx(0)));
  assert.ok(Number.isNaN(g.toPx(-1)));
  const flat = numberScale(3, 3, 0, 100);
  assert.equal(flat.toPx(3), 50);
  same(extent([3, "x", -1, null, 7]), [-1, 7]);
  same(extent([3, -1, 0, 7], "log"), [3, 7]);
  assert.equal(extent(["a"]), null);
});

test("categories sit in the middle of their slots; a pixel range selects those inside", () => {
  const c = categoryScale(4, 0, 400);
  same([0, 1, 2, 3].map(c.toPx), [50, 150, 250, 350]);
  same(c.between(260, 120), [1, 2]);
  assert.ok(Number.isNaN(c.toPx(4)));
});

test("ticks are round and inside the range", () => {
  same(linearTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  same(linearTicks(-0.3, 0.25, 5), [-0.2, 0, 0.2]);
  same(linearTicks(-0.3, 0.25, 10), [-0.3, -0.2, -0.1, 0, 0.1, 0.2]);
  same(linearTicks(5, 5), [5]);
  same(logTicks(1e-4, 1e-1), [1e-4, 1e-3, 1e-2, 1e-1]);
  same(logTicks(0.15, 3), [0.2, 0.5, 1, 2]);
  assert.ok(logTicks(1e-12, 1e12, 8).length <= 8);
  same(logTicks(0, 1), []);
});

test("the colour ramp runs from blue to yellow and clamps", () => {
  assert.equal(rampColor(0), "rgb(45, 113, 142)");
  assert.equal(rampColor(1), "rgb(253, 231, 37)");
  assert.equal(rampColor(7), rampColor(1));
  assert.equal(rampColor(NaN), rampColor(0));
});

test("category axes keep value types apart and put (none) last", () => {
  const runs = [{ config: { opt: "sgd" } }, { config: { opt: 1 } }, { config: {} }, { config: { opt: "adam" } }, { config: { opt: [1] } }];
  const axis = buildAxis("config.opt", parseField("config.opt"), runs);
  assert.equal(axis.kind, "category");
  same(axis.categories.map((c) => c.label), ["1", "adam", "sgd", "(none)"]);
  assert.equal(categoryKey([1]), null);
  assert.notEqual(categoryKey(1), categoryKey("1"));
  const num = buildAxis("config.lr", parseField("config.lr"), [{ config: { lr: 0.1 } }, { config: { lr: 0 } }], "log");
  same(num.extent, [0.1, 0.1]);
});

test("bounds round outward to four significant digits", () => {
  assert.equal(roundBound(0.123456, "down"), 0.1234);
  assert.equal(roundBound(0.123456, "up"), 0.1235);
  assert.equal(roundBound(-0.123456, "down"), -0.1235);
  assert.equal(roundBound(123456, "up"), 123500);
  assert.equal(roundBound(0, "up"), 0);
  same(rangeBrush("config.lr", 0.5, 0.25), { axis: "config.lr", kind: "range", lo: 0.25, hi: 0.5 });
});

test("a brush keeps numbers in its range or values of its categories, and says so as a query", () => {
  const r = rangeBrush("summary.acc", 0.8, 0.9);
  assert.ok(brushKeeps(r, 0.8) && brushKeeps(r, 0.9) && brushKeeps(r, 0.85));
  assert.ok(!brushKeeps(r, 0.95) && !brushKeeps(r, "0.85") && !brushKeeps(r, undefined) && !brushKeeps(r, true));
  same(brushQuery(r), { text: "summary.acc >= 0.8 and summary.acc <= 0.9", conditions: 2 });
  const s = setBrush("config.opt", [{ key: "s:adam", value: "adam" }, { key: "n:1", value: 1 }, { key: "null", value: null }]);
  assert.ok(brushKeeps(s, "adam") && brushKeeps(s, 1) && brushKeeps(s, undefined) && brushKeeps(s, null));
  assert.ok(!brushKeeps(s, "1") && !brushKeeps(s, [1]) && !brushKeeps(s, "sgd"));
  same(brushQuery(s), { text: '(config.opt in ("adam", 1) or config.opt == null)', conditions: 3 });
  same(brushQuery(setBrush("config.opt", [{ key: 's:a"b', value: 'a"b' }])), { text: 'config.opt == "a\\"b"', conditions: 1 });
});

test("brushes AND together, over the page's own query", () => {
  const runs = [
    { config: { lr: 0.1, opt: "adam" } },
    { config: { lr: 0.01, opt: "adam" } },
    { config: { lr: 0.01, opt: "sgd" } },
  ];
  const fields = new Map([["config.lr", parseField("config.lr")], ["config.opt", parseField("config.opt")]]);
  const brushes = [rangeBrush("config.lr", 0.005, 0.05), setBrush("config.opt", [{ key: "s:adam", value: "adam" }])];
  assert.equal(filterRuns(runs, brushes, fields).length, 1);
  assert.equal(filterRuns(runs, [], fields).length, 3);
  same(selectionQuery('status == "succeeded" or x', brushes), {
    text: '(status == "succeeded" or x) and config.lr >= 0.005 and config.lr <= 0.05 and config.opt == "adam"',
    conditions: 3,
  });
  same(selectionQuery("a == 1", []), { text: "a == 1", conditions: 0 });
  same(selectionQuery("", []), { text: "", conditions: 0 });
});

test("brushes round-trip through URL parameters; anything else is left out", () => {
  const r = rangeBrush('summary["train/loss"]', 1.2345e-7, 0.5);
  const s = setBrush("config.opt", [{ key: "s:a,\"b", value: 'a,"b' }, { key: "n:1", value: 1 }, { key: "b:true", value: true }, { key: "null", value: null }]);
  same(readBrushParam(brushParam(r)), r);
  same(readBrushParam(brushParam(s)), s);
  same(brushParam(r), '["summary[\\"train/loss\\"]",1.234e-7,0.5]');
  for (const bad of ["", "x", "[]", '["nope", 1, 2]', '["config.lr", 2, 1]', '["config.lr", 1, "2"]', '["config.lr", []]', '["config.lr", [[1]]]', '["config.lr", [{}]]', '{"axis": "config.lr"}']) {
    same(readBrushParam(bad), null);
  }
  const params = new URLSearchParams();
  for (const text of [brushParam(r), "junk", brushParam(rangeBrush("config.lr", 1, 2)), brushParam(rangeBrush("config.lr", 3, 4))]) params.append("brush", text);
  same(readBrushParams(params), [r, rangeBrush("config.lr", 3, 4)]);
});

test("query values read back as the same numbers and strings", () => {
  assert.equal(queryValue(1e-7), "1e-7");
  assert.equal(queryValue(1.5e21), "1.5e+21");
  assert.equal(queryValue(-0), "0");
  assert.equal(queryValue("tab\there"), '"tab\\there"');
  assert.equal(queryValue(false), "false");
  assert.equal(queryValue(null), "null");
});

test("best so far keeps the running best and the gaps", () => {
  same(bestSoFar([3, 1, null, 2, 0.5]), [3, 1, null, 1, 0.5]);
  same(bestSoFar([1, 3, 2], "max"), [1, 3, 3]);
  same(bestSoFar([]), []);
});

test("the best runs come first; runs without a value last, in their order", () => {
  const runs = [{ v: 3 }, { v: null }, { v: 1 }, { v: "nan" }, { v: 2 }];
  same(bestRuns(runs, (r) => r.v, "min", 4).map((r) => r.v), [1, 2, 3, null]);
  same(bestRuns(runs, (r) => r.v, "max", 2).map((r) => r.v), [3, 2]);
  assert.ok(lowerIsBetter("train/loss") && !lowerIsBetter("acc"));
});

test("series become x/y columns: raw values or bucket means", () => {
  same(seriesXY({ mode: "raw", x: [1, 2], value: [0.5, "nan"] }), { x: [1, 2], y: [0.5, null] });
  same(seriesXY({ mode: "buckets", x: [0], mean: [2], min: [1], max: [3] }), { x: [0], y: [2] });
  same(seriesXY(undefined), { x: [], y: [] });
});

test("the more curves drawn, the fewer points each, within bounds", () => {
  same([0, 1, 2500, 5000, 10_000, 1e6].map(pointsPerCurve), [200, 200, 200, 100, 50, 50]);
});

test("the nearest point is found within the radius only", () => {
  const idx = pointIndex([10, 50, 52, NaN], [10, 50, 51, 0], 16);
  assert.equal(idx.nearest(49, 49), 1);
  assert.equal(idx.nearest(53, 52), 2);
  assert.equal(idx.nearest(200, 200), -1);
  assert.equal(idx.nearest(10, 17, 8), 0);
  assert.equal(idx.nearest(10, 19, 8), -1);
});

test("axes stand evenly; the one under the pointer is found", () => {
  same(axisPositions(3, 0, 100), [0, 50, 100]);
  same(axisPositions(1, 0, 100), [50]);
  assert.equal(axisAt(48, [0, 50, 100]), 1);
  assert.equal(axisAt(25, [0, 50, 100]), -1);
});
