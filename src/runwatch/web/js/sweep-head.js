// A sweep page's header: the sweep's name, method, metric and goal, state, its trials counted by
// status, how many it handed out of its limit, and Pause / Resume / Stop for a token that may
// write. Everything the user named (the sweep, its metric, a status) is set as text.

import { describeError, postJSON } from "./api.js";
import { node } from "./dom.js";
import { formatCount } from "./format.js";
import { countItems, metricOf } from "./sweep-info.js";
import { may, needs, whoami } from "./whoami.js";

// Which action each state offers; a finished sweep offers Stop while a trial has not ended
// (the server also stops it while a crashed trial awaits its retry, which the counts don't tell).
const OFFERS = { running: ["pause", "stop"], paused: ["resume", "stop"], stopped: [], finished: [] };
const ENDED = new Set(["succeeded", "failed", "cancelled", "crashed", "stopped_early", "deleted"]);

function offers(sweep) {
  if (sweep.state !== "finished") return OFFERS[sweep.state] || [];
  return Object.entries(sweep.trials || {}).some(([status, n]) => n && !ENDED.has(status)) ? ["stop"] : [];
}

/**
 * Mount the header in `root` for sweep `id`; `onAnswer(sweep)` hears an action's answer (the
 * sweep as it now is). Returns {set(sweep)}.
 */
export function mountHead(root, id, { onAnswer }) {
  const $ = (name) => root.querySelector(`[data-part="${name}"]`);
  let sweep = null;
  let pending = false;
  let confirming = false; // Stop was pressed: its confirmation is shown instead of the buttons
  let asked = false; // whoami answered (`who` may still be null: then the server decides)
  let who = null;

  whoami().then((answer) => {
    asked = true;
    who = answer;
    showActions();
  });

  async function act(action) {
    pending = true;
    confirming = false;
    $("action-error").textContent = "";
    showActions();
    try {
      onAnswer(await postJSON(`/api/v1/sweeps/${encodeURIComponent(id)}/${action}`, {}));
    } catch (err) {
      $("action-error").textContent = `${action}: ${describeError(err)}`;
    }
    pending = false;
    showActions();
  }

  for (const action of ["pause", "resume"]) $(action).addEventListener("click", () => act(action));
  // Stopping cannot be undone: it is confirmed in place first, as a run's Cancel is.
  $("stop").addEventListener("click", () => {
    confirming = true;
    showActions();
    $("stop-keep").focus();
  });
  $("stop-yes").addEventListener("click", () => act("stop"));
  $("stop-keep").addEventListener("click", () => {
    confirming = false;
    showActions();
  });

  function showActions() {
    const offered = sweep ? offers(sweep) : [];
    // The sweep's project counts for a token limited to one: asked once both are known.
    const allowed = asked && sweep !== null && may(who, "write", sweep.project);
    $("actions").hidden = !allowed;
    $("scope-note").textContent = asked && sweep && !allowed ? needs(who, "write", "Pausing or stopping a sweep", sweep.project) : "";
    const asking = confirming && offered.includes("stop");
    for (const action of ["pause", "resume", "stop"]) {
      $(action).hidden = asking || !offered.includes(action);
      $(action).disabled = pending;
    }
    $("stop-confirm").hidden = !asking;
  }

  function showCounts(trials) {
    $("counts").replaceChildren(
      ...countItems(trials).map(([key, label, n]) => {
        const item = node("li", "sweep-count");
        item.dataset.status = key;
        item.dataset.count = String(n);
        item.append(node("strong", "", formatCount(n)), node("span", "", ` ${label}`));
        return item;
      }),
    );
  }

  return {
    set(next) {
      sweep = next;
      // An unnamed sweep goes by its id: shown once, as its name.
      $("name").textContent = sweep.name || sweep.id;
      $("id").textContent = sweep.id;
      $("id").hidden = !sweep.name;
      $("method").textContent = sweep.method;
      const metric = metricOf(sweep);
      $("metric").textContent = metric ? `${metric.goal} ${metric.name}` : "no metric";
      $("state").textContent = sweep.state;
      $("state").dataset.state = sweep.state;
      showCounts(sweep.trials || {});
      const progress = $("progress");
      progress.max = sweep.trial_limit;
      progress.value = sweep.handed_out;
      $("handed").textContent = `${formatCount(sweep.handed_out)} of ${formatCount(sweep.trial_limit)} handed out (${sweep.limit_reason})`;
      $("handed").dataset.handedOut = String(sweep.handed_out);
      root.hidden = false;
      showActions();
    },
  };
}
