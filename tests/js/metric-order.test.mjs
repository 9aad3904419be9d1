// metric-order.js: the user's metric keys before the SDK's sys/* vitals, each group in key order.
import assert from "node:assert/strict";
import { test } from "node:test";

import { compareMetricKeys, firstMetricKeys, isSystemKey } from "../../src/runwatch/web/js/metric-order.js";

const KEYS = ["sys/rss_mb", "val/acc", "loss", "sys/cpu_percent", "zeta", "throughput", "sys/records_per_s", "Sys/x", "system"];

test("the user's keys come first, then the system's, each in key order", () => {
  assert.deepEqual([...KEYS].sort(compareMetricKeys), [
    "Sys/x", "loss", "system", "throughput", "val/acc", "zeta",
    "sys/cpu_percent", "sys/records_per_s", "sys/rss_mb",
  ]);
});

test("only the sys/ prefix marks a system key", () => {
  assert.deepEqual(KEYS.filter(isSystemKey), ["sys/rss_mb", "sys/cpu_percent", "sys/records_per_s"]);
});

test("the first n keys fill with system keys only when the user's run out", () => {
  assert.deepEqual(firstMetricKeys(KEYS, 3), ["Sys/x", "loss", "system"]);
  assert.deepEqual(firstMetricKeys(["sys/rss_mb", "loss", "sys/cpu_percent"], 3), ["loss", "sys/cpu_percent", "sys/rss_mb"]);
  assert.deepEqual(firstMetricKeys(["sys/rss_mb"], 3), ["sys/rss_mb"]);
  assert.deepEqual(firstMetricKeys([], 3), []);
});
