// runs-pages.js: a bounded page cache over keyset cursors.
import assert from "node:assert/strict";
import { test } from "node:test";

import { createPages } from "../../src/runwatch/web/js/runs-pages.js";
import { same } from "./helpers.mjs";

/** A server of `n` runs: keyset pages whose cursor is the next index, and a request log. */
function server(n) {
  const runs = Array.from({ length: n }, (_, i) => ({ id: `r${i}`, i }));
  const calls = [];
  const load = async (cursor, limit) => {
    calls.push([cursor, limit]);
    const at = cursor === null ? 0 : Number(cursor);
    return { runs: runs.slice(at, at + limit), total: n, cursor: at + limit < n ? String(at + limit) : null };
  };
  return { load, calls };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

test("a far page is reached by walking cursors, and the cache stays bounded", async () => {
  const { load, calls } = server(10_000);
  const pages = createPages({ load, pageSize: 100, maxPages: 5, walkPages: 4 });
  pages.setTotal(10_000);
  pages.want(0, 30);
  await settle();
  same(pages.runAt(30).id, "r30");
  pages.want(9_950, 9_999); // the end: 100 pages on, walked 4 at a time
  for (let i = 0; i < 40; i++) await settle();
  same(pages.runAt(9_999).id, "r9999");
  same(pages.count, 10_000);
  assert.ok(pages.size <= 5, `held ${pages.size} pages`);
  same(pages.runAt(0), null); // evicted: the farthest from view
  same(calls.length, 1 + 25);
  // Back to the top: page 0's cursor is known, one request.
  pages.want(0, 10);
  await settle();
  same([pages.runAt(5).id, calls.length, calls.at(-1)], ["r5", 27, [null, 100]]);
});

test("a run held is replaced in place; one not held is not", async () => {
  const { load } = server(250);
  const pages = createPages({ load, pageSize: 100 });
  pages.setTotal(250);
  pages.want(0, 249);
  for (let i = 0; i < 5; i++) await settle();
  same([pages.replace({ id: "r120", i: "new" }), pages.replace({ id: "zz" })], [true, false]);
  same([pages.runAt(120).i, pages.has("r249"), [...pages.runs()].length], ["new", true, 250]);
});

test("the end of the list is where the last page ends, and a failed fetch is reported", async () => {
  const { load } = server(130);
  const errors = [];
  let fail = true;
  const flaky = async (cursor, limit) => {
    if (fail) throw new Error("boom");
    return load(cursor, limit);
  };
  const pages = createPages({ load: flaky, pageSize: 50, onError: (e) => errors.push(e.message) });
  pages.setTotal(500); // a stale total: the last page corrects it
  pages.want(0, 499);
  await settle();
  same(errors, ["boom"]);
  fail = false;
  pages.want(0, 499);
  for (let i = 0; i < 5; i++) await settle();
  same([pages.count, pages.runAt(129).id, pages.runAt(130)], [130, "r129", null]);
});
