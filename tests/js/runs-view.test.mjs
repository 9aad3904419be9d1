// runs-view.js, the pure functions behind the runs list: URL round trip, sort cycle, best of a
// series.
import { test } from "node:test";

import * as v from "../../src/runwatch/web/js/runs-view.js";
import { same } from "./helpers.mjs";

test("the view round-trips through the URL, and a bad one is ignored", () => {
  const view = v.readView("?project=p&status=failed&tag=a%20b&sort=best:asc&metric=acc&best=min");
  same(view, {
    project: "p",
    status: "failed",
    tag: "a b",
    sort: { key: "best", dir: "asc" },
    metric: "acc",
    best: "min",
  });
  same(v.viewQuery(view), "?project=p&status=failed&tag=a+b&sort=best%3Aasc&metric=acc&best=min");
  const bad = v.readView("?sort=nope:asc&best=median");
  same([bad.sort, bad.best], [null, null]);
});

test("a column's sort cycles desc, asc, off", () => {
  same(
    [
      v.nextSort(null, "name"),
      v.nextSort({ key: "name", dir: "desc" }, "name"),
      v.nextSort({ key: "name", dir: "asc" }, "name"),
      v.nextSort({ key: "name", dir: "asc" }, "status"),
    ],
    [{ key: "name", dir: "desc" }, { key: "name", dir: "asc" }, null, { key: "status", dir: "desc" }],
  );
});

test("runs sort by name, status and best", () => {
  const runs = [
    { id: "a", created_at: 1, status: "running", name: "Zed", summary: {} },
    { id: "b", created_at: 2, status: "failed", name: "alpha", summary: {} },
    { id: "c", created_at: 3, status: "running", name: "beta", summary: {} },
  ];
  const bests = { a: 2, b: null, c: NaN };
  const order = (sort) => v.sortRuns(runs, sort, 10, (r) => bests[r.id]).map((r) => r.id);
  const both = (key, first, second) => [order({ key, dir: first }), order({ key, dir: second })];
  // localeCompare: case-insensitive
  same(both("name", "asc", "desc"), [["b", "c", "a"], ["a", "c", "b"]]);
  // ties newest first both ways
  same(both("status", "desc", "asc"), [["c", "a", "b"], ["b", "c", "a"]]);
  // missing (null, NaN) last
  same(both("best", "desc", "asc"), [["a", "c", "b"], ["a", "c", "b"]]);
});

test("the best of a series, and which way is best", () => {
  same(
    [
      v.bestOfSeries({ mode: "raw", x: [1], value: ["inf"] }, "max"),
      v.bestOfSeries({ mode: "raw", x: [1, 2], value: [3, "nan"] }, "min"),
      v.bestOfSeries({ mode: "buckets", x: [0, 8], min: ["nan", -2], max: [5, "inf"] }, "max"),
      v.bestOfSeries({ mode: "buckets", x: [0, 8], min: ["nan", -2], max: [5, 1] }, "min"),
      v.bestOfSeries(undefined, "min"),
    ],
    [null, 3, 5, -2, null],
  );
  same(
    [
      v.bestDir({ metric: "val/loss", best: null }),
      v.bestDir({ metric: "acc", best: null }),
      v.bestDir({ metric: "acc", best: "min" }),
    ],
    ["min", "max", "min"],
  );
});
