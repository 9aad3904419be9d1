// rules-format.js: the Alerts page's rules and outcomes in words, and a rule from the form.
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  describeCondition,
  describeOutcome,
  ruleFromFields,
} from "../../src/runwatch/web/js/rules-format.js";
import { same } from "./helpers.mjs";

test("describeCondition says what each condition watches", () => {
  const cases = [
    [{ type: "nonfinite", key: "loss" }, "loss is NaN or ±inf"],
    [{ type: "threshold", key: "gn", op: "below", value: 0.1, points: 1 }, "gn below 0.1"],
    [
      { type: "plateau", key: "acc", mode: "max", steps: 100, minutes: null },
      "acc (max) not improving for 100 steps",
    ],
    [{ type: "stalled", minutes: 15 }, "no new data for 15 min while running"],
    [{ type: "status", states: ["failed", "crashed"] }, "status becomes failed or crashed"],
  ];
  for (const [condition, text] of cases) assert.equal(describeCondition(condition), text);
});

test("describeOutcome names the target, the state and the attempts", () => {
  const outcome = {
    type: "webhook", target: "https://h/…", state: "failed", attempts: 4, error: "HTTP 500",
  };
  assert.equal(describeOutcome(outcome), "webhook https://h/…: failed after 4 attempts (HTTP 500)");
});

test("ruleFromFields builds the rule body the API takes", () => {
  const fields = {
    name: "n", type: "plateau", key: "loss", mode: "min", steps: "", minutes: "30",
    level: "error", webhook: "", command: "lower_lr", cancel: true, run: "",
  };
  same(ruleFromFields(fields), {
    name: "n",
    condition: { type: "plateau", key: "loss", mode: "min", minutes: 30 },
    actions: [
      { type: "event", level: "error" },
      { type: "command", kind: "lower_lr" },
      { type: "cancel" },
    ],
  });
});

test("ruleFromFields leaves a blank number out and refuses one that is not decimal", () => {
  // The condition as postJSON sends it (JSON.stringify leaves an undefined field out).
  const threshold = (value, points = "") => JSON.parse(JSON.stringify(ruleFromFields({
    name: "n", type: "threshold", key: "loss", op: "above", value, points, level: "warning",
  }).condition));
  // Only spaces is empty, as "" is: left out, so the server's 400 names the missing value
  // (Number(" ") is 0: it made a "loss above 0" rule).
  same(threshold("   "), { type: "threshold", key: "loss", op: "above" });
  same(threshold(""), { type: "threshold", key: "loss", op: "above" });
  same(threshold(" -1.5e-3 ", " 3 "), { type: "threshold", key: "loss", op: "above", value: -0.0015, points: 3 });
  same(threshold(".5"), { type: "threshold", key: "loss", op: "above", value: 0.5 });
  for (const bad of ["0x10", "0b1", "0o7", "abc", "1,5", "Infinity", "1e999", "1 2"]) {
    assert.throws(() => threshold(bad), { message: `Value: "${bad}" is not a number (write it in decimal: 10, 0.5, 1e-3)` });
  }
  assert.throws(() => threshold("1", "0x2"), { message: /^Points in a row: "0x2" is not a number/ });
  assert.throws(
    () => ruleFromFields({ name: "s", type: "stalled", minutes: "0x10", level: "warning" }),
    { message: /^Minutes: "0x10" is not a number/ },
  );
});
