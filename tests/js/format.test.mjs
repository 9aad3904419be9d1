// format.js: how values, durations, times, configs, payloads, cells and vitals read.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  describePayload,
  flattenConfig,
  formatAgo,
  formatBytes,
  formatCell,
  formatDuration,
  formatTick,
  formatTicks,
  formatTimeTicks,
  formatValue,
  formatVital,
  isByteKey,
  shortDuration,
  summaryText,
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

test("summary values show text as text, numbers and stored non-finite numbers as numbers", () => {
  assert.equal(summaryText("p5"), "p5");
  assert.equal(summaryText(0.123456), "0.1235");
  assert.equal(summaryText("nan"), "NaN");
  assert.equal(summaryText("inf"), "+∞");
  assert.equal(summaryText("-inf"), "\u2212∞");
  assert.equal(summaryText(true), "true");
  assert.equal(summaryText("a".repeat(40)), `${"a".repeat(23)}…`);
  assert.equal(summaryText("warmup then cosine", 10), "warmup th…");
  // Words an object has by inheritance are text too (they crashed formatValue).
  assert.equal(summaryText("constructor"), "constructor");
  assert.equal(summaryText("toString"), "toString");
  assert.equal(formatValue("constructor"), "NaN");
});

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

const BYTES = [
  [0, "0 B"],
  [512, "512 B"],
  [1536, "1.5 KB"],
  [1000, "1.0 KB"], // never a four-digit "1000 B"
  [87.3 * 1024 ** 2, "87.3 MB"],
  [3.2e9, "3.0 GB"],
  [-2048, "-2.0 KB"],
  [5 * 1024 ** 4, "5.0 TB"],
  ["nan", "NaN"],
];
for (const [value, text] of BYTES) {
  test(`formatBytes(${JSON.stringify(value)}) is ${text}`, () => {
    assert.equal(formatBytes(value), text);
  });
}

test("byte-valued vitals are shown in KB/MB/GB and named without the unit", () => {
  assert.equal(formatVital("sys/mem_bytes", 3.2e9), "3.0 GB");
  assert.equal(formatVital("sys/disk_read_bytes", 12_345_678), "11.8 MB");
  assert.equal(formatVital("sys/rss", 123_456_789), "118 MB");
  assert.equal(formatVital("rss", 2048), "2.0 KB");
  assert.equal(formatVital("sys/rss_mb", 87.34), "87.3 MB"); // already in MB: unchanged
  assert.equal(vitalLabel("sys/mem_bytes"), "mem");
  assert.equal(vitalLabel("sys/disk_read_bytes"), "disk read");
  assert.ok(isByteKey("sys/rss") && isByteKey("worker.rss") && !isByteKey("sys/rss_mb") && !isByteKey("press"));
});

// Tick labels: [ticks, spacing] -> what the axis shows; every label distinct.
const TICKS = [
  [[776_000, 776_500, 777_000, 777_500, 778_000, 778_500, 779_000], 500,
    ["776.0k", "776.5k", "777.0k", "777.5k", "778.0k", "778.5k", "779.0k"]],
  [[776_000, 776_002, 776_004], 2, ["776000", "776002", "776004"]],
  [[0, 500_000, 1_000_000, 1_500_000, 2_000_000], 500_000, ["0", "0.5M", "1.0M", "1.5M", "2.0M"]],
  [[0, 50_000, 100_000, 150_000], 50_000, ["0", "50k", "100k", "150k"]],
  [[-100, -50, 0, 50, 100], 50, ["-100", "-50", "0", "50", "100"]],
  [[-0.2, -0.1, 0, 0.1, 0.2], 0.1, ["-0.2", "-0.1", "0", "0.1", "0.2"]],
  [[0.5, 0.50001, 0.50002], 0.00001, ["0.50000", "0.50001", "0.50002"]],
  [[1e-4, 2e-4, 3e-4], 1e-4, ["1.0e-4", "2.0e-4", "3.0e-4"]],
  [[3_200_000_000, 3_200_000_002, 3_200_000_004], 2, ["3200000000", "3200000002", "3200000004"]],
  [[1e9, 1.5e9, 2e9], 5e8, ["1.0G", "1.5G", "2.0G"]],
  // Quarter spacings show their second digit rather than rounding it away (0.3, 0.8).
  [[0, 0.25, 0.5, 0.75, 1], 0.25, ["0", "0.25", "0.50", "0.75", "1.00"]],
  [[0, 2.5, 5, 7.5, 10], 2.5, ["0", "2.5", "5.0", "7.5", "10.0"]],
  [[0, 25_000, 50_000, 75_000], 25_000, ["0", "25k", "50k", "75k"]],
  [[0, 2500, 5000, 7500, 10_000], 2500, ["0", "2.5k", "5.0k", "7.5k", "10.0k"]],
  [[2.5e-4, 5e-4, 7.5e-4], 2.5e-4, ["2.5e-4", "5.0e-4", "7.5e-4"]],
  [[0.00025, 0.0005, 0.00075, 0.001], 0.00025, ["0.00025", "0.00050", "0.00075", "0.00100"]],
];
for (const [ticks, incr, labels] of TICKS) {
  test(`formatTicks(${ticks}, ${incr}) is ${labels}`, () => {
    assert.deepEqual(formatTicks(ticks, incr), labels);
    assert.deepEqual(formatTicks(ticks), labels); // the spacing found from the ticks themselves
  });
}

test("ticks past the G suffix's range read as exponents, not as 1e+291G", () => {
  // run.histogram("h", [-1e300, 0, 1e300]): a distribution's axis ends.
  assert.equal(formatTick(1e300), "1e300");
  assert.equal(formatTick(-1e300), "-1e300");
  assert.equal(formatTick(1.234e15), "1.23e15");
  assert.equal(formatTick(5e11), "500G");
  assert.equal(formatTick(-Number.MAX_VALUE), "-1.8e308");
  assert.deepEqual(formatTicks([-1e300, 0, 1e300]), ["-1e300", "0", "1e300"]);
  assert.deepEqual(formatTicks([1e12, 2e12, 3e12], 1e12), ["1.0e12", "2.0e12", "3.0e12"]);
  const near = formatTicks([1.5e20, 1.5e20 + 1e17, 1.5e20 + 2e17], 1e17);
  assert.equal(new Set(near).size, 3, near.join(" "));
  for (const label of near) assert.match(label, /^\d\.\d+e20$/);
});

test("tick labels are distinct at every zoom of a long run", () => {
  for (const [lo, incr] of [[776_000, 500], [776_000, 200], [776_000, 1], [1_999_000, 100], [0.1, 0.0002], [12_345, 5]]) {
    const ticks = Array.from({ length: 8 }, (_, i) => lo + i * incr);
    const labels = formatTicks(ticks, incr);
    assert.equal(new Set(labels).size, labels.length, labels.join(" "));
  }
  assert.deepEqual(formatTicks([null, 1, 2], 1), ["", "1", "2"]);
});

test("tick labels read as their ticks, without float noise", () => {
  // uPlot's ticks are sums of the spacing, so they carry float noise: 0.1 * 3 = 0.30000000000000004.
  for (const incr of [0.1, 0.2, 0.25, 0.5, 2.5, 0.025, 25, 0.0025]) {
    const ticks = Array.from({ length: 9 }, (_, i) => -2 * incr + i * incr);
    const labels = formatTicks(ticks, incr);
    assert.equal(new Set(labels).size, labels.length, labels.join(" "));
    labels.forEach((label, i) => {
      assert.ok(Math.abs(Number(label) - ticks[i]) < incr * 1e-6, `${label} for ${ticks[i]}`);
      assert.ok(label.length <= 8, `${label} is short`);
    });
  }
  assert.deepEqual(formatTicks([0.1, 0.2, 0.30000000000000004], 0.1), ["0.1", "0.2", "0.3"]);
});

test("time ticks are one short line each, naming the day once and at each change of day", () => {
  const at = (day, h, m, s = 0) => new Date(2026, 11, day, h, m, s).getTime() / 1000;
  const minutes = [at(6, 8, 57), at(6, 8, 58), at(6, 8, 59), at(6, 9, 0)];
  assert.deepEqual(formatTimeTicks(minutes, 60), ["Dec 6 08:57", "08:58", "08:59", "09:00"]);
  const hours = [at(6, 18, 0), at(6, 21, 0), at(7, 0, 0), at(7, 3, 0)];
  assert.deepEqual(formatTimeTicks(hours, 3 * 3600), ["Dec 6 18:00", "21:00", "Dec 7 00:00", "03:00"]);
  const seconds = [at(6, 8, 57, 10), at(6, 8, 57, 20)];
  assert.deepEqual(formatTimeTicks(seconds, 10), ["Dec 6 08:57:10", "08:57:20"]);
  const tenths = [at(6, 8, 57, 10) + 0.5, at(6, 8, 57, 10) + 0.7];
  assert.deepEqual(formatTimeTicks(tenths, 0.2), ["Dec 6 08:57:10.5", "08:57:10.7"]);
  assert.deepEqual(formatTimeTicks([at(6, 0, 0), at(8, 0, 0), null], 2 * 86400), ["Dec 6", "Dec 8", ""]);
  // One line each, short enough for the 110 px the axis keeps between its ticks (11 px font).
  const widest = formatTimeTicks([at(16, 8, 57, 10) + 0.5, at(16, 8, 57, 10) + 0.7], 0.2);
  for (const label of [...widest, ...formatTimeTicks(hours, 3 * 3600)]) assert.ok(!label.includes("\n") && label.length <= 17, label);
});

const SHORT_DURATIONS = [
  [0.85, "850ms"],
  [3.5, "3.5s"],
  [0.0004, "0.4ms"],
  [42.06, "42.1s"],
  [125, "2m 05s"],
  [7440, "2h 04m"],
  [-1, null],
  [NaN, null],
];
for (const [seconds, text] of SHORT_DURATIONS) {
  test(`shortDuration(${seconds}) is ${text}`, () => {
    assert.equal(shortDuration(seconds), text);
  });
}

test("describePayload shortens durations by their key's unit", () => {
  assert.equal(describePayload({ duration_ms: 3500 }), "duration=3.5s");
  assert.equal(describePayload({ duration_ms: 850 }), "duration=850ms");
  assert.equal(describePayload({ fit_seconds: 125, elapsed_s: 2 }), "fit=2m 05s  elapsed=2s");
  // Not durations: rates, other units, values that are not numbers of time.
  assert.equal(describePayload({ records_per_s: 5, n: 850, x_ms: "soon", y_ms: -1 }), "records_per_s=5  n=850  x_ms=soon  y_ms=-1");
});
