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

test("a reread puts the list read again in place at once, and forgets the pages past the view", async () => {
  const runs = Array.from({ length: 300 }, (_, i) => ({ id: `r${i}`, seq: 1 }));
  const load = async (cursor, limit) => {
    const at = cursor === null ? 0 : Number(cursor);
    return { runs: runs.slice(at, at + limit), total: runs.length, cursor: at + limit < runs.length ? String(at + limit) : null };
  };
  let changes = 0;
  const pages = createPages({ load, pageSize: 100, onChange: () => changes++ });
  pages.setTotal(300);
  pages.want(0, 299);
  for (let i = 0; i < 5; i++) await settle();
  same([pages.size, pages.complete], [3, true]);
  pages.want(0, 50); // the view is back at the top
  runs.splice(10, 1); // r10 left the list
  pages.replace({ id: "r20", seq: 2, fresh: true }); // a live change heard before the answer
  runs[19] = { id: "r20", seq: 1 }; // …which the answer does not have yet
  const reading = pages.reread();
  same(pages.runAt(10).id, "r10"); // the old rows stay until the new ones are all here
  same(await reading, 299);
  same([pages.runAt(10).id, pages.runAt(19).fresh, pages.size, pages.count], ["r11", true, 1, 299]);
  same(pages.has("r10"), false);
  same(pages.complete, false);
  assert.ok(changes > 0);
});

test("a page on its way when the list is read again is dropped", async () => {
  const runs = Array.from({ length: 200 }, (_, i) => ({ id: `r${i}` }));
  let release = null;
  const load = async (cursor, limit) => {
    const at = cursor === null ? 0 : Number(cursor);
    const answer = { runs: runs.slice(at, at + limit), total: runs.length, cursor: at + limit < runs.length ? String(at + limit) : null };
    if (at === 100 && !release) await new Promise((resolve) => (release = resolve)); // read, then held back
    return answer;
  };
  const pages = createPages({ load, pageSize: 100 });
  pages.seed(await load(null, 100));
  pages.want(150, 160); // page 1 is asked for, and held back
  await settle();
  runs.splice(0, 100); // the first hundred left: the old page 1 is now page 0
  await pages.reread();
  release();
  for (let i = 0; i < 5; i++) await settle();
  same([pages.count, pages.runAt(0).id, pages.runAt(99).id, pages.runAt(150)], [100, "r100", "r199", null]);
});
