// sweep-info.js and sweep-best.js: a sweep's parameters as config fields, its metric and goal,
// and the best-so-far chart's columns.
import assert from "node:assert/strict";
import { test } from "node:test";

import { bestColumns } from "../../src/runwatch/web/js/sweep-best.js";
import { metricOf, parameterFields } from "../../src/runwatch/web/js/sweep-info.js";
import { same } from "./helpers.mjs";

test("parameters are config fields, nested ones by their path, odd keys quoted", () => {
  const parameters = {
    lr: { min: 0.001, max: 0.1 },
    opt: { parameters: { name: { values: ["adam"] }, "beta/1": { value: 0.9 } } },
  };
  same(parameterFields(parameters), ["config.lr", "config.opt.name", 'config.opt["beta/1"]']);
  same(parameterFields(undefined), []);
});

test("the metric's goal is its direction; minimize when absent; none without a name", () => {
  same(metricOf({ spec: { metric: { name: "val/acc", goal: "maximize" } } }), {
    name: "val/acc", goal: "maximize", field: 'summary["val/acc"]', direction: "max",
  });
  assert.equal(metricOf({ spec: { metric: { name: "loss" } } }).direction, "min");
  assert.equal(metricOf({ spec: {} }), null);
  assert.equal(metricOf({ spec: { metric: { goal: "maximize" } } }), null);
});

test("best so far: runs by when they ended (else last reported), non-numbers left out", () => {
  const runs = [
    { summary: { score: 5 }, ended_at: 30, last_update: 30, created_at: 1 },
    { summary: { score: 7 }, ended_at: 10, last_update: 10, created_at: 2 },
    { summary: { score: "nan" }, ended_at: 5, created_at: 3 },
    { summary: {}, ended_at: 6, created_at: 4 },
    { summary: { score: 3 }, ended_at: null, last_update: 40, created_at: 5 },
  ];
  same(bestColumns(runs, { name: "score", direction: "min" }), [[10, 30, 40], [7, 5, 3], [7, 5, 3]]);
  same(bestColumns(runs, { name: "score", direction: "max" }), [[10, 30, 40], [7, 5, 3], [7, 7, 7]]);
});
