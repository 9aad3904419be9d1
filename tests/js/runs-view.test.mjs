// runs-view.js and runs-export.js, the pure functions behind the runs table: the view in the
// URL, the sort cycle, field names and values, the snapshot query, CSV text.
import { test } from "node:test";

import { csvHeader, csvParts, csvRow } from "../../src/runwatch/web/js/runs-export.js";
import { summaryChoices, summaryColumns } from "../../src/runwatch/web/js/runs-filters.js";
import * as v from "../../src/runwatch/web/js/runs-view.js";
import { same } from "./helpers.mjs";

test("the view round-trips through the URL, defaults left out", () => {
  const search = "?project=p&status=failed&tag=a+b&q=config.lr+%3C+1&sort=summary%5B%22a%2Fb%22%5D&col=config.lr&col=summary.acc&group=config.opt";
  const view = v.readView(search);
  same(view, {
    project: "p",
    status: "failed",
    tag: "a b",
    q: "config.lr < 1",
    sort: 'summary["a/b"]',
    cols: ["config.lr", "summary.acc"],
    group: "config.opt",
  });
  same(v.viewQuery(view), search);
  same(v.viewQuery(v.readView("?sort=-created&col=a&col=a")), "?col=a");
  same(v.sweepQuery(view), "?project=p&status=failed&tag=a+b&q=config.lr+%3C+1");
  same(v.sameRuns(view, { ...view, cols: [], group: "" }), true);
  same(v.sameRuns(view, { ...view, sort: "-name" }), false);
});

test("a header sorts text ascending first, numbers and times descending first, then toggles", () => {
  same([v.nextSort("-created", "name"), v.nextSort("name", "name"), v.nextSort("-name", "name")], ["name", "-name", "name"]);
  same([v.nextSort("-created", "project"), v.nextSort("-name", "status")], ["project", "status"]);
  same([v.nextSort("-created", "updated"), v.nextSort("-updated", "updated"), v.nextSort("updated", "updated")], ["-updated", "updated", "-updated"]);
  same([v.nextSort("name", "config.lr"), v.nextSort("-config.lr", "config.lr")], ["-config.lr", "config.lr"]);
  same(v.sortParts("-config.lr"), { field: "config.lr", descending: true });
});

test("field names parse as the query language writes them, and read a run's values", () => {
  const run = {
    name: "n",
    created_at: 5,
    config: { optim: { lr: 0.1, "beta/1": 0.9 }, list: [1] },
    summary: { "train/loss": 0.5, acc: 0.8 },
    extremes: { "train/loss": { min: 0.25, max: 2.5 }, acc: { min: 0.1, max: 0.9 } },
  };
  same(v.parseField('config.optim["beta/1"]'), { doc: "config", keys: ["optim", "beta/1"], stat: null });
  same(v.parseField("summary.acc.max"), { doc: "summary", keys: ["acc"], stat: "max" });
  same(v.parseField("updated"), { column: "last_update" });
  same([v.parseField("config"), v.parseField("config.1x"), v.parseField("nope")], [null, null, null]);
  same(
    [
      v.fieldValue(run, "config.optim.lr"),
      v.fieldValue(run, 'config.optim["beta/1"]'),
      v.fieldValue(run, 'summary["train/loss"]'),
      v.fieldValue(run, "created"),
      v.fieldValue(run, "config.list.x"),
      v.fieldValue(run, "config.missing"),
    ],
    [0.1, 0.9, 0.5, 5, null, null],
  );
});

test("a summary column is the metric's last, min or max value", () => {
  const run = { summary: { "train/loss": 0.5, acc: 0.8 }, extremes: { "train/loss": { min: 0.25, max: 2.5 }, acc: { min: 0.1, max: 0.9 } } };
  same(
    ["summary.acc", "summary.acc.last", "summary.acc.min", "summary.acc.max", 'summary["train/loss"].min', 'summary["train/loss"].max'].map((f) => v.fieldValue(run, f)),
    [0.8, 0.8, 0.1, 0.9, 0.25, 2.5],
  );
  same([v.fieldValue(run, "summary.nope.min"), v.fieldValue({ summary: { acc: 1 } }, "summary.acc.max")], [null, null]);
  same(csvRow({ id: "r", ...run }, ["summary.acc.min", "summary.acc.max"]).split(",").slice(-2), ["0.1", "0.9\r\n"]);
  same(summaryChoices('summary["train/loss"]', 7), [
    ['summary["train/loss"]', 'summary["train/loss"] · last (7)'],
    ['summary["train/loss"].min', 'summary["train/loss"] · min'],
    ['summary["train/loss"].max', 'summary["train/loss"] · max'],
  ]);
  same(summaryColumns(["config.lr", "summary.acc", "summary.acc.min", "name"]), ["summary.acc", "summary.acc.min"]);
});

test("runs are named by id in a query, each id a quoted string", () => {
  same(v.idsQuery(["a", 'b"\\c']), 'id in ("a", "b\\"\\\\c")');
});

test("a group's runs are named by a query on its value; arrays and objects by none", () => {
  same(v.groupQuery("group", "g \"1\""), 'group == "g \\"1\\""');
  same(v.groupQuery("config.lr", 0.001), "config.lr == 0.001");
  same(v.groupQuery('config["a b"]', false), 'config["a b"] == false');
  same(v.groupQuery("config.opt", null), "config.opt == null");
  same(v.groupQuery("config.layers", [1, 2]), null);
  same(v.groupQuery("config.model", { a: 1 }), null);
  same(v.andQuery("a == 1 or b == 2", "group == null"), "(a == 1 or b == 2) and group == null");
  same(v.andQuery("", "group == null"), "group == null");
});

test("the snapshot query keeps the user's query whole", () => {
  same(
    [v.snapshotQuery("a or b", 12.5), v.snapshotQuery("", 12.5, true), v.snapshotQuery("x", null, true), v.snapshotQuery("", null)],
    ["(a or b) and created <= 12.5", "created > 12.5", "x", ""],
  );
});

test("CSV cells are text, quoted when they must be", () => {
  same(v.csvLine([1e-7, "a,b", 'say "hi"', null, true, { a: [1] }, -2]), '1e-7,"a,b","say ""hi""",,true,"{""a"":[1]}",-2\r\n');
});

test("CSV strings a spreadsheet would run as formulas open as text; numbers stay numbers", () => {
  same(v.csvLine(["=1+2", "+x", "-y", "@SUM(A1)", "\tz", "a=b", -3]), "'=1+2,'+x,'-y,'@SUM(A1),'\tz,a=b,-3\r\n");
  same(v.csvCell('=HYPERLINK("http://x","y")'), `"'=HYPERLINK(""http://x"",""y"")"`);
  same(csvHeader(["config.lr"]), "id,name,project,status,group,tags,created,updated,config.lr\r\n");
  const run = { id: "r1", name: "x\ny", project: "p", status: "running", group: null, tags: ["a"], created_at: 0, last_update: null, config: { lr: 3 } };
  same(csvRow(run, ["config.lr", "summary.acc"]), 'r1,"x\ny",p,running,,"[""a""]",1970-01-01T00:00:00.000Z,,3,\r\n');
});

test("an export walks every page by its cursor", async () => {
  const runs = Array.from({ length: 2500 }, (_, i) => ({ id: `r${i}`, name: "n", project: "p", status: "s", tags: [], created_at: 0 }));
  const load = async (cursor, limit) => {
    const at = cursor ? Number(cursor) : 0;
    const next = at + limit < runs.length ? String(at + limit) : null;
    return { runs: runs.slice(at, at + limit), total: runs.length, cursor: next };
  };
  const seen = [];
  const parts = await csvParts(load, [], { onProgress: (done) => seen.push(done) });
  same(seen, [1000, 2000, 2500]);
  same(parts.join("").split("\r\n").length, 2502); // header, 2,500 runs, the empty tail
});

test("the groups note says when only the largest groups are shown", async () => {
  const { groupsNote } = await import("../../src/runwatch/web/js/runs-groups.js");
  const groups = [{ value: "adam", runs: 1200, fields: {} }, { value: "sgd", runs: 30, fields: {} }];
  same(groupsNote({ groups, more: false }), "");
  same(groupsNote({ groups, more: true }), "The 2 largest groups (1,230 runs); smaller groups are not shown.");
});

test("a run's duration counts from its start; one that never started has none", () => {
  const ran = { status: "succeeded", created_at: 100, started_at: 130, ended_at: 190, last_update: 190 };
  same(v.durationOf(ran, 500), 60);
  same(v.durationOf({ ...ran, status: "running", ended_at: null }, 500), 370);
  same(v.durationOf({ status: "queued", created_at: 100, started_at: null, ended_at: null }, 500), null);
  const cancelled = { status: "cancelled", created_at: 100, started_at: null, ended_at: 106, last_update: 106 };
  same(v.durationOf(cancelled, 500), null);
});
