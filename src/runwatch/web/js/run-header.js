// The run page's header: name, crumbs, status pill, live badge, meta line and error text; the
// name and tags may be edited in place (run-edit.js).

import { formatCount, formatDateTime, formatDuration } from "./format.js";
import * as runEdit from "./run-edit.js";
import { isFinal, mountLiveBadge, mountLoss, mountPill } from "./status.js";

function metaItem(label) {
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  return [dt, dd];
}

/** Mount on the page's header elements (looked up by id inside `root`), for the run at API path
 * `base`; `onEdited({name, tags})` after this page renamed or retagged it. */
export function mount(root, { base, onEdited }) {
  const $ = (id) => root.querySelector(`#${id}`);
  const nameEl = $("run-name");
  const crumbProject = $("crumb-project");
  const crumbRun = $("crumb-run");
  const errorEl = $("run-error");
  const metaEl = $("run-meta");
  const pill = mountPill($("run-status"));
  const badge = mountLiveBadge($("live-badge"));
  const loss = mountLoss($("run-lost"));

  const labels = ["id", "group", "tags", "started", "duration", "queued for", "step", "exit code"];
  const cells = {};
  for (const label of labels) {
    const [dt, dd] = metaItem(label);
    const wrap = document.createElement("div");
    wrap.className = "meta-item";
    wrap.dataset.meta = label;
    wrap.append(dt, dd);
    metaEl.append(wrap);
    cells[label] = { wrap, dd };
  }

  const editor = runEdit.mount({ nameEl, tagsWrap: cells.tags.wrap, tagsCell: cells.tags.dd, base, onEdited });
  let run = null;
  let lastStep;

  function setCell(label, text) {
    const cell = cells[label];
    cell.dd.textContent = text;
    cell.wrap.hidden = text === "" || text === null || text === undefined;
  }

  function tick() {
    if (!run) return;
    const end = run.ended_at ?? (isFinal(run.status) ? run.last_update : Date.now() / 1000);
    // A run that never started (queued, or cancelled while queued) has no duration: only a wait.
    const started = run.started_at !== null && run.started_at !== undefined;
    setCell("duration", started ? formatDuration(end - run.started_at) : "");
    setCell("queued for", started ? "" : formatDuration(end - run.created_at));
  }

  function render() {
    nameEl.textContent = run.name;
    nameEl.title = run.name;
    crumbRun.textContent = run.name;
    crumbProject.textContent = run.project;
    crumbProject.href = `/?project=${encodeURIComponent(run.project)}`;
    const alertsLink = $("alerts-link"); // the project's alerts and watch rules
    if (alertsLink) alertsLink.href = `/alerts?project=${encodeURIComponent(run.project)}`;
    document.title = `${run.name} · ${run.project} · runwatch`;
    pill.set(run.status, run.stopped_early);
    badge.set(!isFinal(run.status));
    setCell("id", run.id);
    setCell("group", run.group || "");
    editor.setRun(run);
    setCell("started", run.started_at === null || run.started_at === undefined ? "" : formatDateTime(run.started_at));
    setCell("exit code", run.exit_code === null || run.exit_code === undefined ? "" : String(run.exit_code));
    setCell("step", lastStep === undefined ? "" : formatCount(lastStep));
    errorEl.textContent = run.error || "";
    errorEl.hidden = !run.error;
    tick();
  }

  setInterval(tick, 1000);

  return {
    /** A whole RunInfo (hydration). */
    setRun(info) {
      run = { ...info };
      loss.set(run.lost);
      render();
    },
    /** The run was renamed or retagged (a live `meta` message, or this page's edit). */
    setMeta({ name, tags }) {
      if (!run) return;
      run.name = name;
      run.tags = tags;
      render();
    },
    /** A live event: an sdk.lost report adds its count to the loss chip; an early_stop event
     * gives the reason the pill shows once the run ends cancelled ("stopped early"). */
    noteEvent(event) {
      loss.noteEvent(event);
      const reason = event.kind === "early_stop" ? event.payload?.message : undefined;
      if (!run || typeof reason !== "string") return;
      run.stopped_early = reason;
      render();
    },
    /** A live status message: {ts, state, error, exit_code}. */
    setStatus(msg) {
      if (!run) return;
      run.status = msg.state;
      // A queued run the queue has just launched: it started when it turned running.
      if (msg.state === "running" && (run.started_at === null || run.started_at === undefined)) run.started_at = msg.ts;
      // The server keeps the previous error when none is sent, but clears it when a crashed run
      // comes back to running.
      if (msg.error) run.error = msg.error;
      else if (msg.state === "running") run.error = null;
      run.exit_code = msg.exit_code;
      // A crashed run that comes back to running has not ended: its duration runs on again.
      run.ended_at = isFinal(msg.state) ? msg.ts : null;
      render();
    },
    /** The highest step seen in any live or hydrated series. */
    noteStep(step) {
      if (lastStep === undefined || step > lastStep) {
        lastStep = step;
        setCell("step", formatCount(step));
      }
    },
    /** The server said the run will send no more: it is over even if no final status came. */
    setFinished() {
      badge.set(false);
    },
  };
}
