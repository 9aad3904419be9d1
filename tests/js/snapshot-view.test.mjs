// snapshot-view.js: the line chart's left margin fits its widest tick label.
import assert from "node:assert/strict";
import { test } from "node:test";

import { labelMargin } from "../../src/runwatch/web/js/snapshot-view.js";

const ctx = { measureText: (text) => ({ width: text.length * 6.3 }) }; // 10.5 px digits

test("the margin fits the widest label, and is never under 40 px", () => {
  assert.equal(labelMargin(ctx, ["1", "0.9743", "0.9485"]), Math.ceil(6 * 6.3) + 10);
  assert.equal(labelMargin(ctx, ["1", "0.5", "0"]), 40);
  assert.ok(labelMargin(ctx, ["-1.234e-5"]) > 6.3 * 9);
});
