// The sweep page (/sweep): parallel coordinates, a scatter and every run's curve over the runs
// matching the URL's filters (project, status, tag, q — as the runs list takes them), kept live.
// Brushing the parallel coordinates filters all three views; the brushed set is listed, and
// offered as a query that opens the runs list with it. The brushes are kept in the URL
// (`brush=`, one per brushed axis), so a reload or a shared link brushes the same runs.
// With `?sweep=ID` the page is that sweep's: its header, state and controls and its best value
// so far over the runs tagged `sweep:ID`, with its parameters and metric as the first axes.

import { describeError, getJSON } from "./api.js";
import { node } from "./dom.js";
import { formatCount } from "./format.js";
import { MAX_QUERY_CONDITIONS, brushParam, buildAxis, brushKeeps, readBrushParams, selectionQuery } from "./sweep-brush.js";
import { colouring } from "./sweep-canvas.js";
import * as curvesView from "./sweep-curves.js";
import { parseField, pickerFields, readField } from "./sweep-fields.js";
import * as parcoords from "./sweep-parcoords.js";
import { MAX_RUNS, followRuns } from "./sweep-runs.js";
import * as scatterView from "./sweep-scatter.js";
import { bestRuns, lowerIsBetter } from "./sweep-series.js";
import { mountBest } from "./sweep-best.js";
import { mountHead } from "./sweep-head.js";
import { followSweep, logParameterFields, metricOf, parameterFields } from "./sweep-info.js";
import { mountConn } from "./status.js";
import * as tokenPrompt from "./token-prompt.js";

const $ = (id) => document.getElementById(id);
tokenPrompt.install(); // before any request: a 401 anywhere opens it
const CURVE_RUNS = curvesView.MAX_CURVES; // curves drawn: the best runs by the colour field
const LISTED = 100; // brushed runs listed by name
const DEFAULT_CONFIG_AXES = 5;
const DEFAULT_SUMMARY_AXES = 2;

const url = new URLSearchParams(location.search);
const filters = { project: url.get("project") || "", status: url.get("status") || "", tag: url.get("tag") || "", q: url.get("q") || "" };
const conn = mountConn($("conn"));
const sweepId = url.get("sweep") || "";
let sweep = null; // the sweep of a `?sweep=ID` page, as last read
// The URL's brushes, until the axes are chosen: then their axes are added if missing, and they
// are applied (the URL keeps them meanwhile).
let brushesToRestore = readBrushParams(url);

let fields = { config: [], summary: [] };
let runs = [];
let info = { total: 0, capped: false };
const state = {
  axes: [], // [{name, scale}]
  colour: "",
  direction: "max",
  brushes: [],
  scatterX: "",
  scatterY: "",
  scatterXScale: "linear",
  scatterYScale: "linear",
  metric: "",
  best: false,
  curveLog: false,
};
let built = null; // {runs, axes, values, bins, colourValues, kept}: the views' data, as drawn
let frame = 0;
const errors = { runs: "", fields: "", curves: "", sweep: "" };

const pc = parcoords.mount($("parcoords"), { onBrush });
const scatter = scatterView.mount($("scatter"));
const curves = curvesView.mount($("curves"), {
  async load(runIds, key, maxPoints) {
    const answer = await getJSON("/api/v1/run-curves", { key, ids: runIds.join(","), max_points: maxPoints });
    return answer.series;
  },
  onError: (text) => showError("curves", text),
});

function showError(part, text) {
  errors[part] = text;
  const shown = Object.values(errors).filter(Boolean).join(" · ");
  $("sweep-error").textContent = shown;
  $("sweep-error").hidden = !shown;
}

/** Make a select's options exactly `items` ([value, label]), keeping its value if still there. */
function setOptions(select, items, value) {
  select.replaceChildren(
    ...items.map(([v, label]) => {
      const option = node("option", "", label);
      option.value = v;
      return option;
    }),
  );
  select.value = items.some(([v]) => v === value) ? value : items.length ? items[0][0] : "";
}

function showFilters() {
  const parts = [];
  if (filters.project) parts.push(`project ${filters.project}`);
  if (filters.status) parts.push(`status ${filters.status}`);
  if (filters.tag) parts.push(`tag ${filters.tag}`);
  if (filters.q) parts.push(`query ${filters.q}`);
  $("sweep-filters").textContent = parts.length ? parts.join(" · ") : "all runs";
  $("back-to-list").href = `/${listQuery(filters.q)}`;
}

function listQuery(q) {
  const params = new URLSearchParams();
  for (const key of ["project", "status", "tag"]) if (filters[key]) params.set(key, filters[key]);
  if (q) params.set("q", q);
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** A sweep's parameters and metric first: as axes, the colour, the scatter and the curves. */
function chooseSweepDefaults() {
  const metric = metricOf(sweep);
  const params = parameterFields(sweep.spec.parameters);
  const log = logParameterFields(sweep.spec.parameters);
  const scale = (name) => (log.has(name) ? "log" : "linear");
  state.axes = [...params, ...(metric ? [metric.field] : [])].map((name) => ({ name, scale: scale(name) }));
  if (metric) {
    state.colour = metric.field;
    state.direction = metric.direction;
    state.scatterY = metric.field;
    state.metric = metric.name;
  }
  state.scatterX = params[0] || "";
  state.scatterXScale = $("scatter-x-scale").value = scale(state.scatterX);
}

/** Pick defaults the first time fields are known: a few config axes, summaries, a colour. */
function chooseDefaults() {
  const summaries = fields.summary.filter((n) => parseField(n)?.stat === "last");
  if (!state.axes.length) {
    state.axes = [
      ...fields.config.slice(0, DEFAULT_CONFIG_AXES),
      ...summaries.slice(0, DEFAULT_SUMMARY_AXES),
    ].map((name) => ({ name, scale: "linear" }));
  }
  if (!state.colour && summaries.length) {
    state.colour = summaries[0];
    state.direction = lowerIsBetter(summaries[0]) ? "min" : "max";
  }
  state.scatterX ||= fields.config[0] || "";
  state.scatterY ||= summaries[0] || "";
  state.metric ||= summaries.length ? parseField(summaries[0]).keys[0] : "";
  if (brushesToRestore) {
    for (const b of brushesToRestore) if (!state.axes.some((a) => a.name === b.axis)) state.axes.push({ name: b.axis, scale: "linear" });
    state.brushes = brushesToRestore;
    brushesToRestore = null;
  }
}

/** The brushes in the URL, in place of the ones it had (a history entry of its own would make
 * Back undo brush by brush). */
function keepBrushesInURL() {
  if (brushesToRestore) return;
  const params = new URLSearchParams(location.search);
  params.delete("brush");
  for (const b of state.brushes) params.append("brush", brushParam(b));
  const search = params.toString() ? `?${params}` : "";
  if (search !== location.search) history.replaceState(history.state, "", `${location.pathname}${search}${location.hash}`);
}

function showPickers() {
  if (sweep) {
    const metric = metricOf(sweep);
    const known = new Set(fields.config);
    fields.config = [...parameterFields(sweep.spec.parameters).filter((n) => !known.has(n)), ...fields.config];
    if (metric && !fields.summary.includes(metric.field)) fields.summary = [metric.field, ...fields.summary];
  }
  const chosen = new Set(state.axes.map((a) => a.name));
  const all = [...fields.config, ...fields.summary];
  setOptions($("axis-add"), [["", "add an axis…"], ...all.filter((n) => !chosen.has(n)).map((n) => [n, n])], "");
  setOptions($("colour-field"), fields.summary.map((n) => [n, n]), state.colour);
  setOptions($("scatter-x"), [...fields.config, ...fields.summary].map((n) => [n, n]), state.scatterX);
  setOptions($("scatter-y"), fields.summary.map((n) => [n, n]), state.scatterY);
  const metrics = [...new Set(fields.summary.map((n) => parseField(n)?.keys[0]).filter(Boolean))];
  setOptions($("curve-metric"), metrics.map((k) => [k, k]), state.metric);
  $("colour-dir").textContent = state.direction === "min" ? "best: lowest" : "best: highest";
  $("colour-dir").dataset.dir = state.direction;
  showChips();
}

function showChips() {
  const list = $("axis-chips");
  list.replaceChildren(
    ...state.axes.map((axis, i) => {
      const chip = node("li", "axis-chip");
      chip.dataset.axis = axis.name;
      chip.append(node("span", "axis-chip-name", axis.name));
      const kind = built?.axes[i]?.kind;
      if (kind === "number") {
        const scale = node("button", "axis-chip-scale", axis.scale === "log" ? "log" : "lin");
        scale.type = "button";
        scale.title = "linear or log scale";
        scale.addEventListener("click", () => {
          axis.scale = axis.scale === "log" ? "linear" : "log";
          state.brushes = state.brushes.filter((b) => b.axis !== axis.name);
          schedule();
        });
        chip.append(scale);
      }
      const remove = node("button", "axis-chip-remove", "×");
      remove.type = "button";
      remove.setAttribute("aria-label", `remove axis ${axis.name}`);
      remove.addEventListener("click", () => {
        state.axes = state.axes.filter((a) => a !== axis);
        state.brushes = state.brushes.filter((b) => b.axis !== axis.name);
        showPickers();
        schedule();
      });
      chip.append(remove);
      return chip;
    }),
  );
}

function schedule() {
  if (!frame) frame = requestAnimationFrame(rebuild);
}

/** Axes, values and colours over the current runs; then every view. */
function rebuild() {
  frame = 0;
  const axes = [];
  const values = [];
  for (const { name, scale } of state.axes) {
    const parsed = parseField(name);
    if (!parsed) continue;
    axes.push(buildAxis(name, parsed, runs, scale));
    values.push(runs.map((r) => readField(r, parsed)));
  }
  const colourField = parseField(state.colour);
  const colourValues = colourField ? runs.map((r) => readField(r, colourField)) : runs.map(() => undefined);
  const binOf = colouring(colourValues, { reverse: state.direction === "min" });
  const bins = Int8Array.from(colourValues, binOf);
  // A brush on a category that is gone, or an axis that is gone, keeps nothing: drop it.
  const names = new Set(axes.map((a) => a.name));
  state.brushes = state.brushes.filter((b) => names.has(b.axis));
  keepBrushesInURL();
  built = { runs, axes, values, bins, colourValues, kept: keptMask(axes, values) };
  pc.setData({ axes, values, bins, kept: built.kept, brushes: state.brushes });
  showChips();
  showSelection(true);
}

function keptMask(axes, values) {
  const kept = new Uint8Array(runs.length).fill(1);
  for (const brush of state.brushes) {
    const column = values[axes.findIndex((a) => a.name === brush.axis)];
    for (let i = 0; i < runs.length; i++) if (kept[i] && !brushKeeps(brush, column[i])) kept[i] = 0;
  }
  return kept;
}

function onBrush(axisName, brush, final) {
  const started = performance.now();
  state.brushes = state.brushes.filter((b) => b.axis !== axisName);
  if (brush) state.brushes.push(brush);
  built.kept = keptMask(built.axes, built.values);
  pc.setKept(built.kept, state.brushes);
  showSelection(final);
  if (final) keepBrushesInURL();
  // What a brush step costs (filter, redraw, counts): read by benchmarks/sweep_views.py.
  $("brushed-count").dataset.brushMs = (performance.now() - started).toFixed(2);
}

/** Counts, the query, the brushed list; with `all`, the scatter and the curves too. */
function showSelection(all) {
  const keptRuns = runs.filter((_, i) => built.kept[i]);
  const loaded = formatCount(runs.length);
  $("sweep-count").textContent = info.capped
    ? `${loaded} of ${formatCount(info.total)} runs (the newest ${formatCount(MAX_RUNS)})`
    : `${loaded} run${runs.length === 1 ? "" : "s"}`;
  const count = $("brushed-count");
  count.textContent = state.brushes.length ? `${formatCount(keptRuns.length)} of ${loaded} runs brushed` : `no brush: all ${loaded} runs`;
  count.dataset.count = String(keptRuns.length);
  const query = selectionQuery(filters.q, state.brushes);
  $("brush-query").textContent = query.text || "(every run of the page)";
  const link = $("open-in-list");
  if (query.conditions > MAX_QUERY_CONDITIONS) {
    link.removeAttribute("href");
    link.setAttribute("aria-disabled", "true");
    $("query-note").textContent = `too many conditions for one query (${query.conditions} > ${MAX_QUERY_CONDITIONS}): brush fewer categories`;
  } else {
    link.href = `/${listQuery(query.text)}`;
    link.setAttribute("aria-disabled", "false");
    $("query-note").textContent = "";
  }
  $("clear-brushes").disabled = !state.brushes.length;
  if (!all) return;
  const list = $("brushed-runs");
  list.replaceChildren(
    ...keptRuns.slice(0, LISTED).map((run) => {
      const item = node("li");
      const a = node("a", "run-link", run.name || run.id);
      a.href = `/runs/${encodeURIComponent(run.id)}`;
      item.append(a);
      return item;
    }),
  );
  $("brushed-more").textContent = keptRuns.length > LISTED ? `and ${formatCount(keptRuns.length - LISTED)} more` : "";
  showScatter();
  showCurves(keptRuns);
}

function showScatter() {
  const x = parseField(state.scatterX);
  const y = parseField(state.scatterY);
  $("scatter-empty").hidden = Boolean(x && y);
  if (!x || !y) return;
  scatter.setData({
    runs,
    xAxis: buildAxis(state.scatterX, x, runs, state.scatterXScale),
    yAxis: buildAxis(state.scatterY, y, runs, state.scatterYScale),
    xValues: runs.map((r) => readField(r, x)),
    yValues: runs.map((r) => readField(r, y)),
    bins: built.bins,
    kept: built.kept,
  });
}

function showCurves(keptRuns) {
  const colourField = parseField(state.colour);
  const value = colourField ? (r) => readField(r, colourField) : () => undefined;
  const chosen = bestRuns(keptRuns, value, state.direction, CURVE_RUNS);
  const bins = new Map();
  built.runs.forEach((r, i) => bins.set(r.id, built.bins[i]));
  $("curve-count").textContent = keptRuns.length > chosen.length
    ? `the ${formatCount(chosen.length)} best of ${formatCount(keptRuns.length)} runs by ${state.colour}`
    : `${formatCount(chosen.length)} runs`;
  $("curves-empty").hidden = Boolean(state.metric);
  curves.setView({ runs: chosen, metric: state.metric, best: state.best, direction: state.direction, bins, yLog: state.curveLog });
}

async function loadFields() {
  try {
    const answer = await getJSON("/api/v1/run-fields", { project: filters.project, status: filters.status, tag: filters.tag, q: filters.q });
    fields = pickerFields(answer);
    showError("fields", "");
  } catch (err) {
    showError("fields", describeError(err));
  }
  chooseDefaults();
  showPickers();
  schedule();
}

let best = null;
let following = null;
if (sweepId) {
  // The sweep's page: its runs are those its agents tag, in its project.
  const head = mountHead($("sweep-head"), sweepId, { onAnswer: (answer) => following.set(answer) });
  best = mountBest($("best-chart"), $("best-empty"));
  document.title = `runwatch · sweep ${sweepId}`;
  let first = true;
  let firstRead;
  const read = new Promise((resolve) => (firstRead = resolve));
  following = followSweep(sweepId, {
    onChange(answer) {
      sweep = answer;
      head.set(answer);
      const metric = metricOf(answer);
      $("best-hint").textContent = metric ? `${metric.name}, ${metric.direction === "min" ? "lowest" : "highest"} so far` : "the sweep names no metric";
      if (first) {
        first = false;
        chooseSweepDefaults();
        firstRead();
      }
      best.set(runs, metric);
    },
    onError(text) {
      showError("sweep", text);
      if (first && text) firstRead(); // still show whatever runs carry its tag
    },
  });
  await read;
  filters.project = sweep ? sweep.project : "";
  filters.tag = `sweep:${sweepId}`;
  filters.status = "";
  filters.q = "";
}

let fieldsLoadedWith = -1;
const source = followRuns(filters, {
  onChange(next, nextInfo) {
    runs = next;
    info = nextInfo;
    // The fields of the first runs, and again once if the page started empty.
    if (fieldsLoadedWith === 0 && runs.length) {
      fieldsLoadedWith = runs.length;
      loadFields();
    }
    $("sweep-empty").hidden = runs.length > 0;
    if (sweep) {
      best.set(runs, metricOf(sweep));
      following.poke(); // a trial's run changed: the sweep's counts may have
    }
    schedule();
  },
  onError: (text) => showError("runs", text),
  onConn: (word, detail) => conn.set(word, detail),
});

$("axis-add").addEventListener("change", (e) => {
  if (!e.target.value) return;
  state.axes.push({ name: e.target.value, scale: "linear" });
  showPickers();
  schedule();
});
$("colour-field").addEventListener("change", (e) => {
  state.colour = e.target.value;
  state.direction = lowerIsBetter(state.colour) ? "min" : "max";
  showPickers();
  schedule();
});
$("colour-dir").addEventListener("click", () => {
  state.direction = state.direction === "min" ? "max" : "min";
  showPickers();
  schedule();
});
$("clear-brushes").addEventListener("click", () => {
  state.brushes = [];
  schedule();
});
for (const [id, key] of [["scatter-x", "scatterX"], ["scatter-y", "scatterY"], ["scatter-x-scale", "scatterXScale"], ["scatter-y-scale", "scatterYScale"]]) {
  $(id).addEventListener("change", (e) => {
    state[key] = e.target.value;
    showScatter();
  });
}
// The curves' own controls redraw the curves only: the other views do not change.
for (const [id, key, read] of [["curve-metric", "metric", (el) => el.value], ["curve-best", "best", (el) => el.checked], ["curve-log", "curveLog", (el) => el.checked]]) {
  $(id).addEventListener("change", (e) => {
    state[key] = read(e.target);
    if (built) showCurves(built.runs.filter((_, i) => built.kept[i]));
  });
}
addEventListener("pagehide", () => {
  source.stop();
  following?.stop();
});

showFilters();
fieldsLoadedWith = 0;
loadFields().then(() => {
  if (fields.config.length || fields.summary.length) fieldsLoadedWith = 1;
});
