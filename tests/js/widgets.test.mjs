// The run page and compare widgets' pure parts: config diffs, event tones, the leaderboard's
// order, scatter point sets and ticks, and the shape a snapshot is drawn as.
import assert from "node:assert/strict";
import { test } from "node:test";

import { diffRows } from "../../src/runwatch/web/js/config-diff.js";
import { toneOfEvent } from "../../src/runwatch/web/js/event-feed.js";
import { columnsOf, sortRows } from "../../src/runwatch/web/js/leaderboard.js";
import { applyPointsSet, groupOf, niceTicks } from "../../src/runwatch/web/js/scatter.js";
import { shapeOf } from "../../src/runwatch/web/js/snapshot-view.js";
import { same } from "./helpers.mjs";

test("config diff rows mark changed and missing keys", () => {
  const configs = [
    { lr: 0.1, model: { depth: 4, act: "relu" } },
    { lr: 0.01, model: { depth: 4 }, warmup: 100 },
    null, // a run without a config
  ];
  same(diffRows(configs), [
    { key: "lr", values: ["0.1", "0.01", null], differs: true },
    { key: "model.act", values: ["relu", null, null], differs: true },
    { key: "model.depth", values: ["4", "4", null], differs: true },
    { key: "warmup", values: [null, "100", null], differs: true },
  ]);
  same(diffRows([{ a: [1, 2] }, { a: [1, 2] }]), [
    { key: "a", values: ["[1,2]", "[1,2]"], differs: false },
  ]);
});

const TONES = [
  [{ kind: "birth", level: "info" }, "ok"],
  [{ kind: "birth", level: "error" }, "bad"],
  [{ kind: "anything", level: "warning" }, "warn"],
  [{ kind: "deprecate", level: "info" }, "muted"],
  [{ kind: "status", level: "info", payload: { state: "running" } }, "status"],
  [{ kind: "status", level: "info", payload: { state: "cancelled" } }, "warn"],
  [{ kind: "custom", level: "info" }, "neutral"],
  // The verb of a kind says how it went.
  [{ kind: "setup.started", level: "info" }, "start"],
  [{ kind: "model.fitted", level: "info" }, "ok"],
  [{ kind: "dataset.created", level: "info" }, "ok"],
  [{ kind: "epoch.finished", level: "info" }, "ok"],
  [{ kind: "x.failed", level: "info" }, "bad"],
  [{ kind: "loader/error", level: "info" }, "bad"],
  [{ kind: "disk.warning", level: "info" }, "warn"],
  [{ kind: "train_started", level: "info" }, "start"],
  [{ kind: "setup.started", level: "error" }, "bad"], // the level still wins
  [{ kind: "model.fitted", level: "warning" }, "warn"],
  [{ kind: "restarted.count", level: "info" }, "neutral"], // the verb is the last word
];
for (const [event, tone] of TONES) {
  test(`the event ${JSON.stringify(event)} is ${tone}`, () => {
    assert.equal(toneOfEvent(event), tone);
  });
}

test("sortRows: numbers by value, text by locale, missing last", () => {
  const table = [
    { k: 10, s: "b" },
    { k: 9, s: "B" },
    { s: "a" },
    { k: "x", s: null },
    { k: 100, s: "item 10" },
    { k: -1, s: "item 9" },
  ];
  same(
    sortRows(table, "k", "desc").map((r) => r.k),
    ["x", 100, 10, 9, -1, null],
  );
  same(
    sortRows(table, "k", "asc").map((r) => r.k),
    [-1, 9, 10, 100, "x", null],
  );
  same(
    sortRows(table, "s", "asc").map((r) => r.s),
    ["a", "b", "B", "item 9", "item 10", null],
  );
  same(
    columnsOf([
      { b: 1, a: 2 },
      { c: 3, a: 1 },
    ]),
    ["b", "a", "c"],
  );
});

test("applying point sets never holds more than the cap", () => {
  const held = Array.from({ length: 5 }, (_, i) => ({ i }));
  const msg = { points: Array.from({ length: 4 }, (_, i) => ({ i: 100 + i })), replace: false, cap: 6 };
  const after = applyPointsSet(held, msg);
  assert.equal(after.cap, 6);
  same(
    after.points.map((p) => p.i),
    [3, 4, 100, 101, 102, 103],
  );
  const flood = { points: Array.from({ length: 50 }, (_, i) => ({ i })), replace: false, cap: 10 };
  assert.equal(applyPointsSet(held, flood).points.length, 10);
  same(applyPointsSet(held, { points: [{ i: 9 }], replace: true }), { points: [{ i: 9 }], cap: 4000 });
  assert.equal(applyPointsSet([], { points: [], replace: false, cap: 10 ** 9 }).cap, 50_000);
  assert.equal(groupOf({ cluster: 3, label: "x" }), "3");
  assert.equal(groupOf({ label: "x" }), "x");
  same(groupOf({ x: 1 }), null);
});

const TICKS = [
  [-3.581, 11.48, [0, 5, 10]],
  [0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1]],
  [-0.05, 0.05, [-0.04, -0.02, 0, 0.02, 0.04]],
  [3, 3, [3]],
];
for (const [lo, hi, ticks] of TICKS) {
  test(`niceTicks(${lo}, ${hi}) are ${ticks}`, () => {
    same(niceTicks(lo, hi, 5), ticks);
  });
}

const SHAPES = [
  [[1, 2, 3], "line"],
  [[1, null, 3], "line"],
  [
    [
      [1, 2],
      [3, 4],
    ],
    "heatmap",
  ],
  [[[1, 2], [3]], "heatmap"],
  [[], "tree"],
  [[null, null], "tree"],
  [[1, "a"], "tree"],
  [[[1], "a"], "tree"],
  [{ a: [1, 2] }, "tree"],
  ["text", "tree"],
  [[true, false], "tree"],
];
for (const [value, shape] of SHAPES) {
  test(`a snapshot ${JSON.stringify(value)} is drawn as a ${shape}`, () => {
    assert.equal(shapeOf(value), shape);
  });
}
