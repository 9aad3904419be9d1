// Which summary values the Latest values panel shows as text.
import assert from "node:assert/strict";
import { test } from "node:test";

import { isSummaryText } from "../../src/runwatch/web/js/latest-values.js";

test("a non-finite number's spelling is a number only on a key that has points", () => {
  const numeric = new Set(["gap", "loss"]);
  assert.equal(isSummaryText("gap", "nan", numeric), false); // a NaN point
  assert.equal(isSummaryText("loss", "-inf", numeric), false);
  assert.equal(isSummaryText("note", "nan", numeric), true); // the three letters, logged as text
  assert.equal(isSummaryText("model", "gpt-4o", numeric), true);
  assert.equal(isSummaryText("loss", "diverged", numeric), true); // a text after the numbers
  assert.equal(isSummaryText("loss", 0.5, numeric), false);
});
