// format.js: how values, durations, times, configs, payloads, cells and vitals read.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  describePayload,
  flattenConfig,
  formatAgo,
  formatCell,
  formatDuration,
  formatValue,
  formatVital,
  toPlotValue,
  vitalLabel,
} from "../../src/runwatch/web/js/format.js";
import { same } from "./helpers.mjs";

const VALUES = [
  [0.5, "0.5"],
  [1 / 3, "0.3333"],
  [42, "42"],
  [0.1 + 0.2, "0.3"],
  [0.000123, "1.23e-4"],
  [12_345_678.9, "1.23e7"],
  ["nan", "NaN"],
  [null, "NaN"],
  ["inf", "+∞"],
  ["-inf", "\u2212∞"], // a real minus sign
];
for (const [raw, text] of VALUES) {
  test(`formatValue(${JSON.stringify(raw)}) is ${text}`, () => {
    assert.equal(formatValue(raw), text);
  });
}

test("plot values turn non-finite into gaps", () => {
  const values = [1.5, "nan", "inf", "-inf", null, 0];
  same(values.map((v) => toPlotValue(v)), [1.5, null, null, null, null, 0]);
});

const DURATIONS = [
  [0, "0s"],
  [59.9, "59s"],
  [61, "1m 01s"],
  [3725, "1h 02m"],
  [90_000, "1d 01h"],
  [null, "—"],
];
for (const [seconds, text] of DURATIONS) {
  test(`formatDuration(${seconds}) is ${text}`, () => {
    assert.equal(formatDuration(seconds), text);
  });
}

const AGES = [
  [0.2, "just now"],
  [3.5, "3 s ago"],
  [300, "5 min ago"],
  [7200, "2 h ago"],
];
for (const [ago, text] of AGES) {
  test(`formatAgo of ${ago} s is ${text}`, () => {
    assert.equal(formatAgo(1000, 1000 + ago), text);
  });
}

test("flattenConfig sorts and joins nested keys", () => {
  const config = {
    opt: { name: "adam", betas: [0.9, 0.99] },
    lr: 0.001,
    empty: {},
    s: "<b>",
  };
  same(flattenConfig(config), [
    ["empty", "{}"],
    ["lr", "0.001"],
    ["opt.betas", "[0.9,0.99]"],
    ["opt.name", "adam"],
    ["s", "<b>"],
  ]);
});

test("describePayload skips nulls and truncates", () => {
  const payload = { a: 1, b: null, c: "x y", d: { e: 2 } };
  assert.equal(describePayload(payload), 'a=1  c=x y  d={"e":2}');
  const long = describePayload({ k: "v".repeat(500) }, 50);
  assert.equal(long.length, 50);
  assert.ok(long.endsWith("…"));
});

const CELLS = [
  [42, "42"],
  [-7, "-7"],
  [0, "0"],
  [0.5, "0.5000"],
  [1 / 3, "0.3333"],
  [-2.71828, "-2.7183"],
  [0.0001, "0.0001"],
  [0.00009876, "9.88e-5"],
  [-3e-9, "-3.00e-9"],
  ["text", "text"],
  [true, "true"],
  [null, "—"],
  [{ a: 1 }, '{"a":1}'],
];
for (const [value, text] of CELLS) {
  test(`formatCell(${JSON.stringify(value)}) is ${text}`, () => {
    assert.equal(formatCell(value), text);
  });
}

const VITALS = [
  ["sys/cpu_percent", 42.54, "42.5%"],
  ["sys/cpu_percent", 100, "100%"],
  ["sys/gpu1_util", 7, "7.0%"],
  ["sys/rss_mb", 87.34, "87.3 MB"],
  ["sys/rss_mb", 1234.4, "1,234 MB"],
  ["sys/records_per_s", 123.456, "123/s"],
  ["sys/records_per_s", 45_678, "45.7k/s"],
  ["sys/sdk_queue", 3, "3"],
  ["loss", 0.123456, "0.1235"],
  ["sys/cpu_percent", "nan", "NaN"],
];
for (const [key, value, text] of VITALS) {
  test(`formatVital(${key}, ${JSON.stringify(value)}) is ${text}`, () => {
    assert.equal(formatVital(key, value), text);
  });
}

const LABELS = [
  ["sys/cpu_percent", "cpu"],
  ["sys/gpu0_mem_mb", "gpu0 mem"],
  ["sys/gpu0_util", "gpu0"],
  ["sys/records_per_s", "records"],
  ["sys/sdk_queue", "sdk queue"],
  ["train/loss", "train/loss"],
  ["sys/_mb", " mb"],
];
for (const [key, label] of LABELS) {
  test(`vitalLabel(${key}) is ${JSON.stringify(label)}`, () => {
    assert.equal(vitalLabel(key), label);
  });
}
