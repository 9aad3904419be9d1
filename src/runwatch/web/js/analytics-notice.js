// The live view's notice for a run without SDK telemetry: instead of an empty chart area, say
// that the run reports through its logs and artifacts (or, once it has ended, that it reported
// nothing at all), and link to those two tabs.

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

/**
 * Mount before `anchor` (the chart grid); `emptyEl` is the "no metrics yet" text it replaces.
 * Two notices: a run that reports through its logs and artifacts only ("channels"), and a run
 * that ended having reported nothing at all ("nothing"), both linking to the two tabs.
 */
export function mount(anchor, { emptyEl }) {
  const box = document.createElement("div");
  box.className = "analytics-notice";
  box.id = "analytics-notice";
  box.setAttribute("role", "note");
  box.hidden = true;
  const title = document.createElement("p");
  title.className = "an-title";
  const text = document.createElement("p");
  text.className = "an-text";
  box.append(title, text);
  anchor.before(box);
  let shown = null;

  function fill(kind, status) {
    box.dataset.kind = kind;
    if (kind === "nothing") {
      title.textContent = `This run ${status || "ended"} without reporting anything`;
      text.replaceChildren(
        "No metrics, no output and no artifacts reached runwatch. Its worker’s output would be in ",
        link("#logs", "Logs"),
        " and the files it wrote in ",
        link("#artifacts", "Artifacts"),
        "; both are empty.",
      );
      return;
    }
    title.textContent = "This run reports through its logs and artifacts only";
    text.replaceChildren(
      "Its worker logs no metrics through the runwatch SDK. Read its output in ",
      link("#logs", "Logs"),
      " and the files it wrote in ",
      link("#artifacts", "Artifacts"),
      ".",
    );
  }

  return {
    /** Show a notice ("channels" or "nothing", the latter naming the run's final `status`),
     * or none (null); while one is shown, the "no metrics yet" text stays hidden. */
    set(kind, status) {
      const key = kind ? `${kind} ${status || ""}` : null;
      if (key === shown) return;
      shown = key;
      if (kind) fill(kind, status);
      box.hidden = !kind;
      if (kind) emptyEl.hidden = true;
      else emptyEl.hidden = anchor.childElementCount > 0;
    },
  };
}
