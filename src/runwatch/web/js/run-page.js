// The run page: hydrate from /state, then apply live deltas from the run's socket.

import { ApiError, describeError, getJSON, onRunDeleted, runPath, socketURL } from "./api.js";
import { noteStart, originOf } from "./chart-axis.js";
import * as chartWidget from "./chart.js";
import * as configView from "./config-view.js";
import * as eventFeed from "./event-feed.js";
import { formatCount } from "./format.js";
import * as latestValues from "./latest-values.js";
import { compareMetricKeys, dropChart, placeChart } from "./metric-order.js";
import { batchedMetrics } from "./metrics-batch.js";
import { openLive } from "./live.js";
import * as mediaView from "./media-view.js";
import * as runDelete from "./run-delete.js";
import * as runHeader from "./run-header.js";
import * as runTabs from "./run-tabs.js";
import * as runWidgets from "./run-widgets.js";
import { mountConn } from "./status.js";
import * as tokenPrompt from "./token-prompt.js";
import * as xAxisControl from "./x-axis-control.js";

const runId = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
const base = runPath(runId);

const $ = (id) => document.getElementById(id);
const conn = mountConn($("conn"));
const header = runHeader.mount(document, { base, onEdited: applyMeta });
const widgets = runWidgets.mount(document, {
  base,
  revealImage(key) {
    location.hash = "media"; // the tabs follow the address's hash
    media.reveal(key);
  },
});
const tabs = runTabs.mount(document, { base });
const deleter = runDelete.mount($("run-delete"), { base });
let deleted = false; // the run was deleted: the page says so, and nothing else
tokenPrompt.install();
const media = mediaView.mount($("media-view"), {
  base,
  openEntity: widgets.openEntity,
  sendCommand: widgets.sendCommand,
  onCount: (n) => ($("media-tab-count").textContent = n ? formatCount(n) : ""),
});
const feed = eventFeed.mount($("event-feed"), {
  ...widgets.feedHooks,
  // The kind filter asks the server: the kind's older events may lie beyond the rows loaded.
  loadKind: (kind) => getJSON(`${base}/events`, { kind, newest_first: true, limit: eventFeed.MAX_EVENTS }),
  onCount(shown, older) {
    // No count of a run's events exists: "latest N" says there are older ones, live or reloaded.
    $("feed-count").textContent = older ? `latest ${formatCount(shown)}` : formatCount(shown);
  },
});
widgets.setFeed(feed);
const latest = latestValues.mount($("latest-values"), $("latest-count"));
// Charts are heavy: the page draws the first MAX_CHARTS keys (in metric-order.js's order), live
// or reloaded.
const MAX_CHARTS = 200;
const charts = new Map(); // metric key -> chart widget
let capped = false; // some key has no chart
let runInfo = null; // the run as hydrated, with started_at once it starts: the relative axis's 0
const xAxis = xAxisControl.mount($("x-axis"), (name) => {
  for (const chart of charts.values()) chart.setAxis(name, origins());
});

/** The run's origin on the page's x axis (see chart-axis.js), as chart.setAxis takes it. */
function origins() {
  return new Map([[runId, runInfo ? originOf(xAxis.axis, runInfo) : 0]]);
}

function showError(text) {
  if (deleted) return; // what the page says now is that the run is gone
  const el = $("page-error");
  el.textContent = text;
  el.hidden = !text;
}

/** The run was deleted (its stream said so, or a request was answered `run_deleted`): say it
 * once, in place of what the page was showing, and offer nothing more. */
function showDeleted() {
  if (deleted) return;
  showError(runInfo ? `This run (“${runInfo.name}”) was deleted.` : "This run was deleted.");
  deleted = true;
  $("page-error").dataset.deleted = "true";
  conn.set("closed", "run deleted");
  header.setFinished();
  deleter.gone();
  edits?.stop();
}
/** The run's new name and tags: a live `meta` message, this page's own edit, or (`run`
 * messages) the runs feed of a finished run. */
function applyMeta(meta) {
  header.setMeta(meta);
  deleter.setName(meta.name);
  if (runInfo) Object.assign(runInfo, { name: meta.name, tags: meta.tags });
}

let edits = null; // the runs feed of this one run, once its own stream has ended

/** A finished run's stream is over, but it may still be renamed, retagged or deleted: follow
 * it on the runs feed (`/api/v1/live?run=`). */
function followEdits() {
  if (edits || deleted) return;
  edits = openLive({
    url: () => socketURL("/api/v1/live", { run: runId }),
    onMessage(msg) {
      if (msg.type === "run") applyMeta(msg.run);
      else if (msg.type === "runs") msg.runs.forEach(applyMeta);
      else if (msg.type === "run.deleted") showDeleted();
    },
  });
}
onRunDeleted((path) => {
  if (path === base || path.startsWith(`${base}/`)) showDeleted();
});

const loadSeries = batchedMetrics();

/** The chart for `key`, created on first use and placed in order (the user's keys, then the
 * system's); null past the cap. */
function chartFor(key) {
  let chart = charts.get(key);
  if (chart) return chart;
  if (charts.size >= MAX_CHARTS) {
    if (!capped) {
      capped = true;
      showChartCount();
    }
    const last = [...charts.keys()].reduce((a, b) => (compareMetricKeys(b, a) > 0 ? b : a));
    if (compareMetricKeys(key, last) > 0) return null;
    // A key that sorts earlier takes the last one's place, as a reload would give it.
    charts.get(last).destroy();
    charts.delete(last);
    dropChart($("charts"), last);
  }
  const el = document.createElement("div");
  placeChart($("charts"), el, key);
  chart = chartWidget.mount(el, {
    key,
    traces: [{ id: runId, label: key, color: chartWidget.colorForKey(key), origin: origins().get(runId) }],
    load: (id, range) => loadSeries(base, key, range),
    axis: xAxis.axis,
  });
  charts.set(key, chart);
  $("charts-empty").hidden = true;
  showChartCount();
  return chart;
}

function showChartCount() {
  const shown = `${charts.size} chart${charts.size === 1 ? "" : "s"}`;
  $("chart-count").textContent = capped ? `${shown} (the first ${MAX_CHARTS} keys)` : shown;
}

function showConfig(config) {
  const configCount = configView.mount($("config"), config);
  $("config-count").textContent = configCount ? formatCount(configCount) : "";
}

function hydrate(state) {
  runInfo = { ...state.run };
  const origin = origins().get(runId);
  for (const chart of charts.values()) chart.setOrigin(runId, origin);
  header.setRun(state.run);
  deleter.setRun(state.run);
  showConfig(state.run.config);
  latest.setSummary(state.run.summary, new Set(Object.keys(state.metrics)));
  for (const key of Object.keys(state.metrics).sort(compareMetricKeys)) {
    const series = state.metrics[key];
    chartFor(key)?.setSeries(runId, series);
    if (series.x.length) header.noteStep(series.x[series.x.length - 1]);
  }
  feed.setEvents(state.events, state.events_more);
  widgets.hydrate(state);
  tabs.hydrate(state);
  media.hydrate(state);
  refineLatest(Object.keys(state.metrics).filter((k) => state.metrics[k].mode === "buckets"));
}

/** A bucket knows its last value but not its last step: ask for the newest point of such keys. */
async function refineLatest(keys) {
  if (!keys.length) return;
  let answer;
  try {
    answer = await getJSON(`${base}/sparklines`, { key: keys.slice(0, 64), n: 1 }); // the server's cap
  } catch {
    return; // the readouts keep the bucket's step: close enough, and the next live point fixes it
  }
  for (const [key, series] of Object.entries(answer.series || {})) {
    const n = series.x.length;
    if (!n) continue;
    chartFor(key)?.noteLatest(runId, series.x[n - 1], series.value[n - 1]);
    header.noteStep(series.x[n - 1]);
  }
}

function statusEvent(msg) {
  // The same shape the server stores for a status change, so live and hydrated rows match.
  const level = msg.state === "failed" || msg.state === "crashed" ? "error" : "info";
  const payload = { state: msg.state, error: msg.error, exit_code: msg.exit_code };
  return { seq: msg.seq, ts: msg.ts, kind: "status", level, entity: null, payload };
}

function onMessage(msg) {
  widgets.apply(msg);
  tabs.apply(msg);
  media.apply(msg);
  latest.apply(msg);
  switch (msg.type) {
    case "points":
      for (const [key, cols] of Object.entries(msg.points || {})) {
        chartFor(key)?.append(runId, cols.step, cols.value, msg.seq, cols.ts);
        if (cols.step.length) header.noteStep(cols.step[cols.step.length - 1]);
      }
      break;
    case "event":
      feed.add({ seq: msg.seq, ...msg.event });
      header.noteEvent(msg.event);
      break;
    case "status":
      header.setStatus(msg);
      deleter.setStatus(msg.state);
      if (runInfo && noteStart(runInfo, msg)) {
        for (const chart of charts.values()) chart.setOrigin(runId, origins().get(runId));
      }
      feed.add(statusEvent(msg));
      break;
    case "run.closed":
      header.setFinished();
      followEdits();
      break;
    case "run.deleted":
      showDeleted();
      break;
    case "config":
      showConfig(msg.config);
      break;
    case "meta":
      applyMeta(msg);
      break;
    default:
      break; // tables, logs, ... belong to widgets this page does not have yet
  }
}

/** After a socket failed to open, ask the REST API whether retrying can ever help. */
async function probe() {
  try {
    await getJSON(base);
    return null;
  } catch (err) {
    return err instanceof ApiError && [401, 403, 404].includes(err.status) ? describeError(err) : null;
  }
}

async function main() {
  if (!runId) {
    conn.set("error", "no run id in the address");
    showError("No run id in the address.");
    return;
  }
  conn.set("connecting");
  let state;
  try {
    state = await getJSON(`${base}/state`);
  } catch (err) {
    conn.set("error", describeError(err));
    if (err instanceof ApiError && err.code === "run_deleted") showDeleted();
    else showError(err instanceof ApiError && err.status === 404 ? `No run with id “${runId}”.` : describeError(err));
    return;
  }
  hydrate(state);
  const live = openLive({
    ordered: true,
    since: state.seq,
    url: (since) => socketURL(`${base}/live`, { since }),
    onMessage,
    async onReset() {
      const fresh = await getJSON(`${base}/state`);
      hydrate(fresh);
      return fresh.seq;
    },
    onConn(word, detail) {
      if (deleted) return;
      conn.set(word, detail);
      if (word === "error") showError(`Live updates stopped: ${detail}`);
      else if (word === "live") showError("");
    },
    probe,
  });
  addEventListener("pagehide", () => {
    live.stop();
    edits?.stop();
  });
  // Back from the back/forward cache, the stopped socket must not leave a frozen page.
  addEventListener("pageshow", (e) => e.persisted && location.reload());
  $("feed-filter").addEventListener("input", (e) => feed.setFilter(e.target.value));
}

main();
