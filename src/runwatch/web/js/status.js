// Run status as tone-coded pills, the "● live" badge, the loss chip and the connection indicator.

import { formatCount } from "./format.js";

export const FINAL_STATUSES = new Set(["succeeded", "failed", "cancelled", "crashed"]);
// CSS colours each tone; one word per status so a new status only needs a line here.
const TONES = {
  queued: "muted",
  running: "running",
  succeeded: "ok",
  failed: "bad",
  cancelled: "warn",
  crashed: "crash",
};
const CONN_STATES = new Set(["connecting", "live", "closed", "error"]);

export function toneOf(status) {
  return TONES[status] || "muted";
}

export function isFinal(status) {
  return FINAL_STATUSES.has(status);
}

/** Whether a run reads "stopped early": early termination stopped it (`reason`, its RunInfo's
 * `stopped_early` or its early_stop event's message) and it ended cancelled. */
function stoppedEarly(status, reason) {
  return status === "cancelled" && typeof reason === "string" && reason !== "";
}

/**
 * A status pill: text is the status word, colour comes from data-tone. A cancelled run that
 * early termination stopped reads "stopped early", the reason as its title; data-status stays
 * the status (`cancelled`), as queries and filters know it.
 */
export function mountPill(el) {
  el.classList.add("pill");
  return {
    set(status, reason = null) {
      const early = stoppedEarly(status, reason);
      el.textContent = early ? "stopped early" : status || "unknown";
      el.dataset.tone = toneOf(status);
      el.dataset.status = status || "";
      if (early) {
        el.dataset.stoppedEarly = "true";
        el.title = reason;
      } else {
        delete el.dataset.stoppedEarly;
        el.removeAttribute("title");
      }
    },
  };
}

/** A fresh pill element for a table cell. */
export function pill(status) {
  const el = document.createElement("span");
  mountPill(el).set(status);
  return el;
}

/**
 * The "⚠ 1,234 lost" chip: how many records the run's producers reported lost on the way (the
 * run's `lost`, the sum of its sdk.lost events). Hidden while nothing is lost, so a run that
 * succeeded with a loss never looks whole.
 */
export function mountLoss(el) {
  el.classList.add("loss-chip");
  el.hidden = true;
  let lost = 0;
  function show() {
    el.hidden = lost <= 0;
    el.textContent = lost > 0 ? `⚠ ${formatCount(lost)} lost` : "";
    el.title = lost > 0 ? `${formatCount(lost)} records did not reach the server (see the run's sdk.lost events)` : "";
  }
  return {
    /** The run's whole count (a RunInfo's `lost`). */
    set(n) {
      lost = Number.isSafeInteger(n) && n > 0 ? n : 0;
      show();
    },
    /** A live event: an sdk.lost report adds its count to what is shown. */
    noteEvent(event) {
      const n = event.kind === "sdk.lost" ? event.payload?.lost : 0;
      if (!Number.isSafeInteger(n) || n <= 0) return;
      lost += n;
      show();
    },
  };
}

/**
 * The badge that pulses "● live" while a run runs and settles on "● finished" once it ends.
 * It stays hidden until the run's state is known: a page that failed to load claims nothing.
 */
export function mountLiveBadge(el) {
  el.classList.add("live-badge");
  return {
    set(live) {
      el.textContent = live ? "● live" : "● finished";
      el.dataset.live = live ? "true" : "false";
      el.hidden = false;
    },
  };
}

/**
 * The connection indicator: data-state is always exactly one of the four words. "live" with a
 * detail is live but degraded (e.g. "bus unreachable: updates re-read every 1 s"): the detail
 * is shown beside the word, as text (a narrow screen keeps it in the title), and data-degraded
 * is set.
 */
export function mountConn(el) {
  el.classList.add("conn");
  return {
    set(state, detail = "") {
      const word = CONN_STATES.has(state) ? state : "error";
      const degraded = word === "live" && Boolean(detail);
      el.dataset.state = word;
      if (degraded) {
        el.dataset.degraded = "true";
        const why = document.createElement("span");
        why.className = "conn-detail";
        why.textContent = ` (${detail})`;
        el.replaceChildren(word, why);
      } else {
        delete el.dataset.degraded;
        el.textContent = word;
      }
      el.title = detail ? `${word}: ${detail}` : `live connection: ${word}`;
    },
  };
}
