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
