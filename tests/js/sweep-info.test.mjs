// sweep-info.js, sweep-best.js and sweep-form.js: a sweep's parameters as config fields, its metric
// and goal, the best-so-far chart's columns, and the New-sweep form's configuration.
import assert from "node:assert/strict";
import { test } from "node:test";

import { bestColumns } from "../../src/runwatch/web/js/sweep-best.js";
import { buildConfig, emptyRow, parseValues, rowsFromTemplate } from "../../src/runwatch/web/js/sweep-form.js";
import { countItems, logParameterFields, metricOf, parameterFields } from "../../src/runwatch/web/js/sweep-info.js";
import { same } from "./helpers.mjs";

test("parameters are config fields, nested ones by their path, odd keys quoted", () => {
  const parameters = {
    lr: { min: 0.001, max: 0.1 },
    opt: { parameters: { name: { values: ["adam"] }, "beta/1": { value: 0.9 } } },
  };
  same(parameterFields(parameters), ["config.lr", "config.opt.name", 'config.opt["beta/1"]']);
  same(parameterFields(undefined), []);
});

test("parameters drawn from a log distribution are the ones whose axes start as log", () => {
  const parameters = {
    lr: { distribution: "log_uniform_values", min: 1e-5, max: 0.1 },
    wd: { distribution: "q_log_uniform_values", min: 1e-6, max: 1e-2, q: 1e-6 },
    layers: { distribution: "int_uniform", min: 1, max: 8 },
    opt: { parameters: { eps: { distribution: "inv_log_uniform_values", min: 1e-8, max: 1e-4 }, name: { values: ["adam"] } } },
    plain: 3,
  };
  same([...logParameterFields(parameters)], ["config.lr", "config.wd", "config.opt.eps"]);
  same([...logParameterFields(undefined)], []);
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

test("the New-sweep form: values typed as JSON scalars or text, blanks left out", () => {
  same(parseValues("1, 2.5, -3e-4, adam, true, null, , <b>x</b>"), [1, 2.5, -3e-4, "adam", true, null, "<b>x</b>"]);
  const form = {
    project: " p ", name: "", method: "random", metric: { name: "loss", goal: "minimize" }, runCap: "7",
    rows: [
      emptyRow("lr", { kind: "distribution", distribution: "log_uniform_values", min: "1e-4", max: "" }),
      emptyRow("opt", { values: "adam, sgd" }),
      emptyRow(" "),
      emptyRow("odd", { kind: "distribution", min: "abc", max: "2" }),
    ],
  };
  same(buildConfig(form).problems, []);
  same(buildConfig(form).config, {
    method: "random", parameters: {
      lr: { distribution: "log_uniform_values", min: 1e-4 },
      opt: { values: ["adam", "sgd"] },
      odd: { distribution: "uniform", min: "abc", max: 2 },
    },
    project: "p", metric: { name: "loss", goal: "minimize" }, run_cap: 7,
  });
});

test("the New-sweep form: numbers as people type them; hex, dotted versions and overflow stay text", () => {
  same(parseValues(".5, -.5, 1e-3, 1E3, +2,  3 , 5., -0.25e+2"), [0.5, -0.5, 0.001, 1000, 2, 3, 5, -25]);
  same(parseValues("1.2.3, 0x10, 1e999, Infinity, NaN, ., -, 1e, e3, 1_000, True"), [
    "1.2.3", "0x10", "1e999", "Infinity", "NaN", ".", "-", "1e", "e3", "1_000", "True",
  ]);
  const form = { project: "", name: "", method: "random", metric: { name: "", goal: "minimize" }, runCap: "" };
  const bounds = buildConfig({ ...form, rows: [emptyRow("x", { kind: "distribution", min: " .5 ", max: "0x10" })] });
  same(bounds.config.parameters, { x: { distribution: "uniform", min: 0.5, max: "0x10" } });
});

test("the New-sweep form: a repeated or missing name names its row and sends nothing", () => {
  const form = { project: "", name: "", method: "random", metric: { name: "", goal: "minimize" }, runCap: "" };
  const rows = [
    emptyRow("lr", { values: "1, 2" }),
    emptyRow(" lr ", { values: "3, 4" }),
    emptyRow("", { values: "5" }),
    emptyRow(" ", { kind: "distribution", max: "1" }),
    emptyRow("", { kind: "distribution", values: "left over from values" }), // blank as shown
    emptyRow(""),
    emptyRow("lr", { kind: "distribution", min: "0", max: "1" }),
  ];
  same(buildConfig({ ...form, rows }), {
    config: null,
    problems: [
      { row: 1, message: "parameter 2: lr is also the name of parameter 1" },
      { row: 2, message: "parameter 3: has no name" },
      { row: 3, message: "parameter 4: has no name" },
      { row: 6, message: "parameter 7: lr is also the name of parameter 1" },
    ],
  });
});

test("a run template's numbers become distributions and its choices values; the rest is not swept", () => {
  const template = {
    params: [
      { name: "lr", type: "float", min: 0.001, max: 1 },
      { name: "epochs", type: "int", min: 1, max: 9 },
      { name: "seed", type: "int", default: 3 },
      { name: "model", type: "choice", choices: ["mlp", "cnn", "big"], unavailable: ["big"] },
      { name: "data", type: "file" },
      { name: "note", type: "string" },
    ],
  };
  same(rowsFromTemplate(template).map((r) => [r.name, r.kind, r.distribution, r.min, r.max, r.values]), [
    ["lr", "distribution", "uniform", "0.001", "1", ""],
    ["epochs", "distribution", "int_uniform", "1", "9", ""],
    ["seed", "values", "uniform", "", "", "3"],
    ["model", "values", "uniform", "", "", "mlp, cnn"],
  ]);
});

test("trials are counted in groups (stopped early its own), other statuses under their names", () => {
  same(countItems({ succeeded: 3, stopped_early: 2, crashed: 1, failed: 1, claimed: 1, cancelled: 1 }), [
    ["claimed", "claimed", 1],
    ["running", "running", 0],
    ["finished", "finished", 3],
    ["stopped_early", "stopped early", 2],
    ["failed", "failed/crashed", 2],
    ["cancelled", "cancelled", 1],
  ]);
  same(countItems({}).map(([key, , n]) => [key, n]), [["claimed", 0], ["running", 0], ["finished", 0], ["stopped_early", 0], ["failed", 0]]);
});
