// A sweep as its page follows it: GET /api/v1/sweeps/{id}, re-read at a bounded rate. There is
// no socket message for sweeps; its counts move when its trials' runs change (the page pokes on
// each runs change it hears) and its state when someone pauses, resumes or stops it (the poll).

import { describeError, getJSON } from "./api.js";
import { coalesce } from "./refetch.js";
import { fieldName } from "./sweep-fields.js";

const POLL_MS = 5000; // re-read at least this often
const MIN_GAP_MS = 1000; // and at most once this often, however many changes are heard

/**
 * Follow sweep `id`: `onChange(sweep)` hears each answer, `onError(text)` a failure ("" when
 * over). Returns {poke(), set(sweep), stop()}: poke asks for a re-read soon, set takes an
 * answer got elsewhere (a pause's) as a read.
 */
export function followSweep(id, { onChange, onError }) {
  const path = `/api/v1/sweeps/${encodeURIComponent(id)}`;
  let poll = null;
  let stopped = false;
  let epoch = 0; // bumped by set(): a read begun before it is older than what it set
  const reads = coalesce(read, MIN_GAP_MS);

  async function read() {
    const begun = epoch;
    try {
      const sweep = await getJSON(path);
      if (!stopped && begun === epoch) onChange(sweep);
      onError("");
    } catch (err) {
      onError(describeError(err));
    }
    pollLater();
  }

  /** The next poll, POLL_MS after the last answer (read or set). */
  function pollLater() {
    clearTimeout(poll);
    if (!stopped) poll = setTimeout(reads.poke, POLL_MS);
  }

  reads.now();
  return {
    poke: reads.poke,
    set(sweep) {
      epoch += 1;
      onChange(sweep);
      pollLater(); // as fresh as a read: the next poll can wait
    },
    stop() {
      stopped = true;
      reads.stop();
      clearTimeout(poll);
    },
  };
}

/** Each leaf parameter of a sweep's `parameters`: [its config field, its spec]. */
function* leafParameters(parameters, prefix = []) {
  for (const [name, param] of Object.entries(parameters || {})) {
    const keys = [...prefix, name];
    if (param && typeof param === "object" && param.parameters && typeof param.parameters === "object") {
      yield* leafParameters(param.parameters, keys);
    } else yield [fieldName("config", keys), param];
  }
}

/** The config fields a sweep's parameters are (nested `parameters` give `config.a.b`). */
export function parameterFields(parameters) {
  return [...leafParameters(parameters)].map(([field]) => field);
}

// W&B's distributions whose values spread over orders of magnitude: their axes start as log.
const LOG_DISTRIBUTIONS = new Set([
  "log_uniform", "log_uniform_values", "q_log_uniform", "q_log_uniform_values",
  "inv_log_uniform", "inv_log_uniform_values",
]);

/** The config fields of the parameters drawn from a log distribution. */
export function logParameterFields(parameters) {
  const log = [...leafParameters(parameters)].filter(([, param]) => LOG_DISTRIBUTIONS.has(param?.distribution));
  return new Set(log.map(([field]) => field));
}

/** The sweep's metric: {name, field, direction} ("min" unless the goal is maximize), or null. */
export function metricOf(sweep) {
  const metric = sweep.spec && sweep.spec.metric;
  if (!metric || typeof metric.name !== "string" || !metric.name) return null;
  const direction = metric.goal === "maximize" ? "max" : "min";
  return { name: metric.name, goal: metric.goal || "minimize", field: fieldName("summary", [metric.name]), direction };
}

// Trial statuses shown together, in this order; any other status is shown under its own name.
// [key (the item's data-status), label, statuses]
const GROUPS = [
  ["claimed", "claimed", ["claimed", "queued"]],
  ["running", "running", ["running"]],
  ["finished", "finished", ["succeeded"]],
  ["stopped_early", "stopped early", ["stopped_early"]],
  ["failed", "failed/crashed", ["failed", "crashed"]],
];
const GROUPED = new Set(GROUPS.flatMap(([, , statuses]) => statuses));

/** A sweep's trials by status (`{status: n}`) as the header's items: [key, label, n], the
 * groups first (each shown, even at 0), then any other status with trials, under its name. */
export function countItems(trials) {
  const items = GROUPS.map(([key, label, statuses]) => [key, label, statuses.reduce((n, s) => n + (trials[s] || 0), 0)]);
  for (const [status, n] of Object.entries(trials)) if (!GROUPED.has(status) && n) items.push([status, status, n]);
  return items;
}
