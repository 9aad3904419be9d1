// The run page tabs' pure parts: log search, finding the newest log line, artifact sizes and
// digests, and whether a run's metrics came from the SDK.
import assert from "node:assert/strict";
import { test } from "node:test";

import { hasSdkTelemetry } from "../../src/runwatch/web/js/analytics-notice.js";
import { formatBytes, shortSha } from "../../src/runwatch/web/js/artifacts-tab.js";
import { findMatches, findNewestWithin, stripAnsi } from "../../src/runwatch/web/js/logs-tab.js";
import { same } from "./helpers.mjs";

const MATCHES = [
  ["Warning: NaN (nan)", "nan", [[9, 12], [14, 17]]],
  ["aaaa", "aa", [[0, 2], [2, 4]]],
  ["no match", "xyz", []],
  ["anything", "", []],
  ["İstanbul i", "i", [[9, 10]]], // only ASCII letters ignore case, as on the server
  ["ÄRGER ärger", "ärger", [[6, 11]]],
];
for (const [text, query, hits] of MATCHES) {
  test(`findMatches(${JSON.stringify(text)}, ${JSON.stringify(query)})`, () => {
    same(findMatches(text, query), hits);
  });
}

for (const newest of [5001, 9999, 10_001, 37_777, 104_999]) {
  test(`findNewestWithin brackets line ${newest} in few probes`, async () => {
    let probes = 0;
    const exists = async (n) => {
      probes += 1;
      return n <= newest;
    };
    const lo = await findNewestWithin(exists, 5001, 5000);
    assert.ok(lo <= newest && newest < lo + 5000, `${lo} does not bracket ${newest}`);
    assert.ok(probes <= 10, `${probes} probes`);
  });
}

const SIZES = [
  [0, "0 B"],
  [512, "512 B"],
  [28_672, "28.0 KiB"],
  [3_370_000, "3.21 MiB"],
  [null, "—"],
];
for (const [n, text] of SIZES) {
  test(`formatBytes(${n}) is ${text}`, () => {
    assert.equal(formatBytes(n), text);
  });
}

test("shortSha keeps twelve characters", () => {
  const sha = "2f7b68f92a0ee5a22c421c621628033d9fcf47b1d9855775750f06d943d75619";
  assert.equal(shortSha(sha), "2f7b68f92a0e…");
  assert.equal(shortSha(null), "");
});

const TELEMETRY = [
  [[], false],
  [["heartbeat/progress", "sys/cpu_percent"], false],
  [["heartbeat/progress", "loss"], true],
  [["wandb/reward"], true],
];
for (const [keys, sdk] of TELEMETRY) {
  test(`hasSdkTelemetry(${JSON.stringify(keys)}) is ${sdk}`, () => {
    assert.equal(hasSdkTelemetry(keys), sdk);
  });
}

test("log lines lose their terminal escapes and keep their text", () => {
  assert.equal(stripAnsi("\x1b[32mok\x1b[0m"), "ok");
  assert.equal(stripAnsi("\x1b[1;31mERROR\x1b[m: disk \x1b[38;5;208mfull\x1b[39m"), "ERROR: disk full");
  assert.equal(stripAnsi("\x1b[2K\x1b[1Gepoch 3 [=====>   ] 60%"), "epoch 3 [=====>   ] 60%");
  assert.equal(stripAnsi("\x1b]8;;https://x.test\x07link\x1b]8;;\x07 done"), "link done");
  assert.equal(stripAnsi("\x1b]0;title\x1b\\text\x1b(B\x1b7"), "text");
  assert.equal(stripAnsi("\x9b31mred\x9b0m"), "red");
  // Text that only looks like an escape stays as it is.
  assert.equal(stripAnsi("[32m is not an escape <b>&amp;"), "[32m is not an escape <b>&amp;");
});
