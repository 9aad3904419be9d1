// The event feed's pure parts: which entities are rejected candidates (no actions on them).
import assert from "node:assert/strict";
import { test } from "node:test";

import { isRejection } from "../../src/runwatch/web/js/event-feed.js";

const CASES = [
  ["reject", true],
  ["candidate.rejected", true],
  ["Candidate/Rejected", true],
  ["birth", false],
  ["deprecate", false],
  ["rejected.count", false], // the verb is the last word
  ["", false],
  [null, false],
];
for (const [kind, expected] of CASES) {
  test(`isRejection(${JSON.stringify(kind)})`, () => assert.equal(isRejection(kind), expected));
}
