// The live view's notice for a run without SDK telemetry: instead of an empty chart area, say
// that the run reports through its logs and artifacts, and link to those two tabs.

const HOUSEKEEPING = ["heartbeat/", "sys/"]; // the launcher's sidecar and system vitals

/** True when some metric key came from the worker's own logging (not heartbeats or vitals). */
export function hasSdkTelemetry(keys) {
  return [...keys].some((key) => !HOUSEKEEPING.some((prefix) => key.startsWith(prefix)));
}

function link(href, text) {
  const a = document.createElement("a");
  a.className = "an-link";
  a.href = href;
  a.textContent = text;
  return a;
}

/** Mount before `anchor` (the chart grid); `emptyEl` is the "no metrics yet" text it replaces. */
export function mount(anchor, { emptyEl }) {
  const box = document.createElement("div");
  box.className = "analytics-notice";
  box.id = "analytics-notice";
  box.setAttribute("role", "note");
  box.hidden = true;
  const title = document.createElement("p");
  title.className = "an-title";
  title.textContent = "This run reports through its logs and artifacts only";
  const text = document.createElement("p");
  text.className = "an-text";
  text.append(
    "Its worker logs no metrics through the runwatch SDK. Read its output in ",
    link("#logs", "Logs"),
    " and the files it wrote in ",
    link("#artifacts", "Artifacts"),
    ".",
  );
  box.append(title, text);
  anchor.before(box);

  return {
    /** Show or hide; while shown, the "no metrics yet" text stays hidden. */
    set(show) {
      if (box.hidden === !show) return;
      box.hidden = !show;
      if (show) emptyEl.hidden = true;
      else emptyEl.hidden = anchor.childElementCount > 0;
    },
  };
}
