// The compare page (/compare?runs=a,b,...): one chart per metric key with a line per run, the
// runs' configs side by side with differences marked, and every run kept live by its own socket.

import { ApiError, describeError, getJSON, runPath, socketURL } from "./api.js";
import { noteStart, originOf } from "./chart-axis.js";
import * as chartWidget from "./chart.js";
import * as compareMedia from "./compare-media.js";
import * as configDiff from "./config-diff.js";
import { formatCount } from "./format.js";
import { openLive } from "./live.js";
import { compareMetricKeys, placeChart } from "./metric-order.js";
import { batchedMetrics } from "./metrics-batch.js";
import { mountConn, mountLoss, mountPill } from "./status.js";
import * as tokenPrompt from "./token-prompt.js";
import * as xAxisControl from "./x-axis-control.js";

const MAX_RUNS = 8; // one colour each, and a bounded number of sockets and series per chart
const RUN_COLORS = ["#38bdf8", "#f472b6", "#a3e635", "#fbbf24", "#a78bfa", "#fb923c", "#2dd4bf", "#e879f9"];

const $ = (id) => document.getElementById(id);
tokenPrompt.install(); // before any request: a 401 anywhere opens it
const conn = mountConn($("conn"));
const runs = []; // {id, name, color, info, pill, word, detail, live}
const charts = new Map(); // metric key -> chart widget
let media = null; // the runs' images and distributions, once mounted
const xAxis = xAxisControl.mount($("x-axis"), (name) => {
  for (const chart of charts.values()) chart.setAxis(name, origins());
});

/** Each run's origin on the page's x axis: on relative time, its own start (chart-axis.js). */
function origins() {
  return new Map(runs.map((r) => [r.id, originOf(xAxis.axis, r.info)]));
}

function showError(lines) {
  const el = $("page-error");
  el.textContent = lines.filter(Boolean).join(" ");
  el.hidden = !el.textContent;
}

/** The run ids in the address: comma-separated, in order, each once. */
function requestedIds() {
  const raw = new URLSearchParams(location.search).get("runs") || "";
  return [...new Set(raw.split(",").map((s) => s.trim()).filter(Boolean))];
}

const loadSeries = batchedMetrics(); // one request per run for the charts of one moment

/** The chart for `key` (a line for every run), created on first use and placed in order (the
 * user's keys, then the system's). */
function chartFor(key) {
  let chart = charts.get(key);
  if (chart) return chart;
  const el = document.createElement("div");
  placeChart($("charts"), el, key);
  const at = origins();
  chart = chartWidget.mount(el, {
    key,
    traces: runs.map((r) => ({ id: r.id, label: r.name, color: r.color, origin: at.get(r.id) })),
    load: (id, range) => loadSeries(runPath(id), key, range),
    axis: xAxis.axis,
  });
  charts.set(key, chart);
  $("charts-empty").hidden = true;
  $("chart-count").textContent = `${charts.size} chart${charts.size === 1 ? "" : "s"}`;
  return chart;
}

function legendItem(run) {
  const li = document.createElement("li");
  li.className = "compare-run";
  li.dataset.run = run.id;
  li.style.setProperty("--swatch", run.color);
  const swatch = document.createElement("span");
  swatch.className = "legend-swatch";
  const link = document.createElement("a");
  link.className = "run-link";
  link.href = `/runs/${encodeURIComponent(run.id)}`;
  link.textContent = run.name;
  link.title = `${run.info.project} / ${run.name}`;
  const pill = document.createElement("span");
  const sub = document.createElement("span");
  sub.className = "run-sub";
  sub.textContent = run.info.group ? `${run.id} · ${run.info.group}` : run.id;
  const loss = document.createElement("span");
  li.append(swatch, link, pill, loss, sub);
  run.pill = mountPill(pill);
  run.pill.set(run.info.status, run.info.stopped_early);
  run.loss = mountLoss(loss);
  run.loss.set(run.info.lost);
  return li;
}

function hydrate(run, state) {
  for (const [key, series] of Object.entries(state.metrics)) chartFor(key).setSeries(run.id, series);
}

/** One indicator for all sockets: the worst state wins, "closed" only when every run is done;
 * live is degraded (with its reason) while any socket says so. */
function showConn() {
  const words = runs.map((r) => r.word);
  const failed = runs.find((r) => r.word === "error");
  const degraded = runs.find((r) => r.word === "live" && r.detail);
  if (failed) conn.set("error", `${failed.name}: ${failed.detail}`);
  else if (words.includes("connecting")) conn.set("connecting");
  else if (words.every((w) => w === "closed")) conn.set("closed", "every run finished");
  else conn.set("live", degraded ? degraded.detail : "");
}

function follow(run, since) {
  run.live = openLive({
    ordered: true,
    since,
    url: (seq) => socketURL(`${runPath(run.id)}/live`, { since: seq }),
    onMessage(msg) {
      if (msg.type === "event") {
        run.loss.noteEvent(msg.event);
        // Why early termination stopped the run: its pill reads "stopped early" once cancelled.
        if (msg.event.kind === "early_stop") run.info.stopped_early = msg.event.payload?.message;
      }
      if (msg.type === "points") {
        for (const [key, cols] of Object.entries(msg.points || {})) chartFor(key).append(run.id, cols.step, cols.value, msg.seq, cols.ts);
      } else if (msg.type === "status") {
        run.pill.set(msg.state, run.info.stopped_early);
        if (noteStart(run.info, msg)) {
          for (const chart of charts.values()) chart.setOrigin(run.id, originOf(xAxis.axis, run.info));
        }
      } else if (media) media.apply(run.id, msg);
    },
    async onReset() {
      const fresh = await getJSON(`${runPath(run.id)}/state`);
      hydrate(run, fresh);
      run.loss.set(fresh.run.lost);
      return fresh.seq;
    },
    onConn(word, detail) {
      run.word = word;
      run.detail = detail;
      showConn();
    },
    async probe() {
      try {
        await getJSON(runPath(run.id));
        return null;
      } catch (err) {
        return err instanceof ApiError && [401, 403, 404].includes(err.status) ? describeError(err) : null;
      }
    },
  });
}

async function main() {
  const ids = requestedIds();
  if (ids.length === 0) {
    conn.set("closed", "no runs to compare");
    showError(["No runs to compare: select two or more on the runs list."]);
    $("charts-empty").hidden = true;
    return;
  }
  const notes = [];
  if (ids.length > MAX_RUNS) notes.push(`Showing the first ${MAX_RUNS} of ${ids.length} runs.`);
  const wanted = ids.slice(0, MAX_RUNS);
  const answers = await Promise.allSettled(wanted.map((id) => getJSON(`${runPath(id)}/state`)));
  const states = [];
  answers.forEach((answer, i) => {
    if (answer.status === "fulfilled") {
      const info = answer.value.run;
      runs.push({ id: info.id, name: info.name, color: RUN_COLORS[runs.length], info, word: "connecting", detail: "" });
      states.push(answer.value);
    } else {
      const err = answer.reason;
      notes.unshift(err instanceof ApiError && err.status === 404 ? `No run with id “${wanted[i]}”.` : describeError(err));
    }
  });
  showError(notes);
  if (runs.length === 0) {
    conn.set("error", "no run could be loaded");
    $("charts-empty").hidden = true;
    return;
  }

  document.title = `runwatch · compare ${runs.map((r) => r.name).join(" vs ")}`;
  $("compare-count").textContent = `${runs.length} run${runs.length === 1 ? "" : "s"}`;
  $("compare-runs").replaceChildren(...runs.map(legendItem));
  const keys = [...new Set(states.flatMap((s) => Object.keys(s.metrics)))].sort(compareMetricKeys);
  for (const key of keys) chartFor(key);
  runs.forEach((run, i) => hydrate(run, states[i]));

  const diff = configDiff.mount(
    $("config-diff"),
    runs.map((r) => ({ id: r.id, name: r.name, color: r.color, config: r.info.config })),
  );
  $("config-count").textContent = diff.rows ? `${formatCount(diff.rows)} keys · ${formatCount(diff.differing)} differ` : "";
  $("only-diffs").addEventListener("change", (e) => diff.setOnlyDiffs(e.target.checked));

  media = compareMedia.mount($("compare-media"), runs, states);
  runs.forEach((run, i) => follow(run, states[i].seq));
  addEventListener("pagehide", () => runs.forEach((r) => r.live && r.live.stop()));
  addEventListener("pageshow", (e) => e.persisted && location.reload());
}

main();
