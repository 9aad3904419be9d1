// The run page's tabs: the live view, Logs and Artifacts, and the live view's notice for a run
// that reports through its logs and artifacts only. Hydrated with /state (plus the run's /logs,
// /artifacts and artifact.invalid events), then kept current by live messages.

import * as analyticsNotice from "./analytics-notice.js";
import { getJSON } from "./api.js";
import * as artifactsTab from "./artifacts-tab.js";
import { formatCount } from "./format.js";
import * as logsTab from "./logs-tab.js";
import { isFinal } from "./status.js";
import * as tabsWidget from "./tabs.js";

const PROBLEM_KIND = "artifact.invalid";
const MAX_PROBLEMS = 1000; // the scanner reports at most this many

/** Mount on the run page's elements (looked up by id in `doc`); `base` is the run's API path. */
export function mount(doc, { base }) {
  const $ = (id) => doc.getElementById(id);
  let run = null;
  const metricKeys = new Set();
  let manifestLive = false; // a live manifest arrived: a slower /artifacts answer is older
  let logsLoaded = false;
  let artifactsLoaded = false;

  const runDir = () => {
    const dir = run && run.snapshot ? run.snapshot.run_dir : null;
    return typeof dir === "string" && dir ? dir : null;
  };
  const setCount = (id, n) => {
    $(id).textContent = n ? formatCount(n) : "";
  };

  const live = doc.querySelector("main.run-main");
  live.id = live.id || "live-view";
  const notice = analyticsNotice.mount($("charts"), { emptyEl: $("charts-empty") });
  const logs = logsTab.mount($("logs-view"), {
    runDir,
    async fetchLines(after, limit, filter = {}) {
      return (await getJSON(`${base}/logs`, { after, limit, ...filter })).lines;
    },
    onChange({ total }) {
      logsLoaded = true;
      setCount("logs-tab-count", total);
      updateNotice();
    },
  });
  const artifacts = artifactsTab.mount($("artifacts-view"), {
    base,
    runDir,
    onChange({ count, problems }) {
      artifactsLoaded = true;
      setCount("artifacts-tab-count", count);
      $("tab-artifacts").dataset.problems = String(problems);
      updateNotice();
    },
  });
  const tabs = tabsWidget.mount($("run-tabs"), {
    onSelect(name) {
      if (name === "logs") logs.shown();
    },
  });

  function updateNotice() {
    if (hasTelemetry()) notice.set(null);
    else if (logs.total > 0 || artifacts.count > 0) notice.set("channels");
    // Ended, and both tabs have answered empty: say so rather than wait for a first point.
    else if (run && isFinal(run.status) && logsLoaded && artifactsLoaded) notice.set("nothing", run.status);
    else notice.set(null);
  }

  function hasTelemetry() {
    return analyticsNotice.hasSdkTelemetry(metricKeys);
  }

  async function loadArtifacts() {
    manifestLive = false;
    try {
      const [answer, found] = await Promise.all([
        getJSON(`${base}/artifacts`),
        getJSON(`${base}/events`, { kind: PROBLEM_KIND, limit: MAX_PROBLEMS }),
      ]);
      if (!manifestLive) artifacts.setManifest(answer.artifacts);
      artifacts.addProblems(found.events);
    } catch {
      if (!manifestLive) artifacts.setManifest([]); // the page's banner says what failed
    }
  }

  return {
    tabs,
    /** Everything from /state at once (page load, or a re-sync after a reset). */
    hydrate(state) {
      run = state.run;
      for (const key of Object.keys(state.metrics || {})) metricKeys.add(key);
      logs.load();
      loadArtifacts();
      updateNotice();
    },
    /** One live message (every type; those the tabs do not use are ignored). */
    apply(msg) {
      switch (msg.type) {
        case "log":
          logs.add(msg.lines);
          break;
        case "artifact":
          manifestLive = true;
          artifacts.setManifest(msg.artifacts);
          break;
        case "event":
          if (msg.event && msg.event.kind === PROBLEM_KIND) artifacts.addProblem({ seq: msg.seq, ...msg.event });
          break;
        case "points":
          for (const key of Object.keys(msg.points || {})) metricKeys.add(key);
          updateNotice();
          break;
        case "status":
          if (run) run = { ...run, status: msg.state };
          updateNotice();
          break;
        default:
          break;
      }
    },
  };
}
