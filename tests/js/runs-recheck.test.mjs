// runs-recheck.js: which live changes make a filtered list read again, and what they cost.
import { test } from "node:test";

import { createPages } from "../../src/runwatch/web/js/runs-pages.js";
import { MAX_PENDING, recheck } from "../../src/runwatch/web/js/runs-recheck.js";
import { same } from "./helpers.mjs";

/** A server of `n` runs, those with `ok` matching the list's query, and a log of its requests. */
function server(n, pageSize = 100) {
  const runs = Array.from({ length: n }, (_, i) => ({ id: `r${i}`, ok: true, seq: 1 }));
  const calls = [];
  const matching = () => runs.filter((r) => r.ok);
  const load = async (cursor, limit) => {
    calls.push("page");
    const list = matching();
    const at = cursor === null ? 0 : Number(cursor);
    return { runs: list.slice(at, at + limit), total: list.length, cursor: at + limit < list.length ? String(at + limit) : null };
  };
  const pages = createPages({ load, pageSize });
  pages.setTotal(matching().length);
  const totals = [];
  const errors = [];
  let drawn = 0;
  const follower = recheck({
    read: async (ids) => {
      calls.push("ids");
      return matching().filter((r) => ids.includes(r.id));
    },
    count: async () => {
      calls.push("count");
      return matching().length;
    },
    pages,
    total: matching().length,
    onRows: () => drawn++,
    onTotal: (total) => totals.push(total),
    onError: (err) => errors.push(err.message),
  });
  const change = (i, fields) => (runs[i] = { ...runs[i], ...fields, seq: runs[i].seq + 1 });
  return { runs, calls, pages, totals, errors, follower, change, drawn: () => drawn };
}

const settle = async () => {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 0));
};

async function held(s, first, last) {
  s.pages.want(first, last);
  await settle();
  s.calls.length = 0;
}

test("a run held that still matches is brought up to date in place, with no other request", async () => {
  const s = server(50);
  await held(s, 0, 49);
  s.change(7, { loss: 0.1 });
  s.follower.changed("r7");
  await settle();
  same([s.calls, s.pages.runAt(7).loss, s.drawn(), s.totals], [["ids"], 0.1, 1, []]);
});

test("a run held that no longer matches leaves: the list and its count are read again", async () => {
  const s = server(50);
  await held(s, 0, 49);
  s.change(7, { ok: false });
  s.follower.changed("r7");
  await settle();
  same([s.calls, s.pages.runAt(7).id, s.pages.count, s.totals], [["ids", "page"], "r8", 49, [49]]);
});

test("a run not held that matches may have entered: the list is read again", async () => {
  const s = server(50);
  s.change(3, { ok: false });
  s.pages.setTotal(49);
  await held(s, 0, 48);
  s.change(3, { ok: true });
  s.follower.changed("r3");
  await settle();
  same([s.calls, s.pages.runAt(3).id, s.totals], [["ids", "page"], "r3", [50]]);
});

test("a run not held that does not match costs nothing when the whole list is held", async () => {
  const s = server(50);
  await held(s, 0, 49);
  s.runs.push({ id: "x", ok: false, seq: 1 });
  s.follower.changed("x");
  await settle();
  same([s.calls, s.totals], [["ids"], []]);
});

test("past the pages held, a run that does not match is counted: read again only if it left", async () => {
  const s = server(300);
  await held(s, 0, 20); // page 0 of 3
  s.runs.push({ id: "x", ok: false, seq: 1 });
  s.follower.changed("x");
  await settle();
  same([s.calls, s.totals], [["ids", "count"], []]);
});

test("past the pages held, a run that left is counted and the list read again", async () => {
  const s = server(300);
  await held(s, 0, 20);
  s.change(250, { ok: false });
  s.follower.changed("r250");
  await settle();
  same([s.calls, s.totals, s.pages.count], [["ids", "count", "page"], [299], 299]);
});

test("everything, too many changes, or ids over the server's limits: the list is read again", async () => {
  const s = server(50);
  await held(s, 0, 49);
  s.follower.everything();
  await settle();
  same(s.calls, ["page"]);

  const many = server(50);
  await held(many, 0, 49);
  for (let i = 0; i <= MAX_PENDING; i++) many.follower.changed(`z${i}`);
  await settle();
  same(many.calls, ["page"]);

  const refused = recheck({
    read: async () => {
      throw Object.assign(new Error("query over the limits"), { status: 400 });
    },
    count: async () => 0,
    pages: s.pages,
    total: 50,
    onRows: () => {},
    onTotal: (total) => s.totals.push(total),
    onError: (err) => s.errors.push(err.message),
  });
  s.calls.length = 0;
  refused.changed("r1");
  await settle();
  same([s.calls, s.errors], [["page"], []]);
});
