// What the runs list shows and in which order: the view kept in the URL, filtering, sorting and
// the best value of a metric. Pure functions: no DOM, no globals.

import { toPlotValue } from "./format.js";
import { bestDirection } from "./series-data.js";
import { FINAL_STATUSES, isFinal } from "./status.js";

export const SORT_KEYS = ["status", "name", "duration", "updated", "best"];
const DIRECTIONS = new Set(["min", "max"]);
const STATUS_ORDER = ["queued", "running", ...FINAL_STATUSES];

/**
 * The view in a URL query: `?project=&status=&tag=&sort=<key>:<desc|asc>&metric=&best=<min|max>`.
 * `best` is null when the metric's own direction applies (see `bestDir`).
 */
export function readView(search) {
  const params = new URLSearchParams(search);
  const [key, dir] = (params.get("sort") || "").split(":");
  const sort = SORT_KEYS.includes(key) ? { key, dir: dir === "asc" ? "asc" : "desc" } : null;
  const best = params.get("best");
  return {
    project: params.get("project") || "",
    status: params.get("status") || "",
    tag: params.get("tag") || "",
    sort,
    metric: params.get("metric") || "",
    best: DIRECTIONS.has(best) ? best : null,
  };
}

/** The query string for a view ("" or "?…"), leaving out what is at its default. */
export function viewQuery(view) {
  const params = new URLSearchParams();
  if (view.project) params.set("project", view.project);
  if (view.status) params.set("status", view.status);
  if (view.tag) params.set("tag", view.tag);
  if (view.sort) params.set("sort", `${view.sort.key}:${view.sort.dir}`);
  if (view.metric) params.set("metric", view.metric);
  if (view.metric && view.best) params.set("best", view.best);
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** "min" or "max": the one chosen, else the metric's natural direction (loss: min, acc: max). */
export function bestDir(view) {
  return view.best || bestDirection(view.metric || "");
}

/** A header click: descending first, then ascending, then back to the default order (newest first). */
export function nextSort(sort, key) {
  if (!sort || sort.key !== key) return { key, dir: "desc" };
  return sort.dir === "desc" ? { key, dir: "asc" } : null;
}

/** Seconds a run has run: until it ended, or until `now` while it still runs. */
export function durationOf(run, now) {
  const start = run.started_at ?? run.created_at;
  if (start === null || start === undefined) return null;
  const end = run.ended_at ?? (isFinal(run.status) ? run.last_update : now);
  return end === null || end === undefined ? null : end - start;
}

/** The extreme (`dir` "min" or "max") of finite values in a /metrics Series, or null. */
export function bestOfSeries(series, dir) {
  if (!series) return null;
  const raw = series.mode === "buckets" ? series[dir] : series.value;
  let best = null;
  for (const wire of raw || []) {
    const v = toPlotValue(wire);
    if (v !== null && (best === null || (dir === "min" ? v < best : v > best))) best = v;
  }
  return best;
}

/** Does a run pass the status and tag filters and the free-text search (already lower case)? */
export function matches(run, view, query = "") {
  if (view.status && run.status !== view.status) return false;
  if (view.tag && !(run.tags || []).includes(view.tag)) return false;
  if (!query) return true;
  const text = [run.name, run.id, run.project, run.group || "", ...(run.tags || [])].join(" ");
  return text.toLowerCase().includes(query);
}

/** [[status, count], ...] in lifecycle order; `keep` is listed even when no run has it. */
export function statusCounts(runs, keep = "") {
  const counts = countBy(runs, (run) => [run.status]);
  if (keep && !counts.has(keep)) counts.set(keep, 0);
  const rank = (s) => (STATUS_ORDER.includes(s) ? STATUS_ORDER.indexOf(s) : STATUS_ORDER.length);
  return [...counts].sort((a, b) => rank(a[0]) - rank(b[0]) || a[0].localeCompare(b[0]));
}

/** [[tag, runs with it], ...] sorted by tag; `keep` is listed even when no run has it. */
export function tagCounts(runs, keep = "") {
  const counts = countBy(runs, (run) => new Set(run.tags || []));
  if (keep && !counts.has(keep)) counts.set(keep, 0);
  return [...counts].sort((a, b) => a[0].localeCompare(b[0]));
}

/** Every metric key in the runs' summaries, sorted; `keep` is listed even when none has it. */
export function metricKeys(runs, keep = "") {
  const keys = new Set(keep ? [keep] : []);
  for (const run of runs) for (const key of Object.keys(run.summary || {})) keys.add(key);
  return [...keys].sort((a, b) => a.localeCompare(b));
}

function countBy(runs, valuesOf) {
  const counts = new Map();
  for (const run of runs) for (const v of valuesOf(run)) counts.set(v, (counts.get(v) || 0) + 1);
  return counts;
}

/** The value a run sorts by under `key`; null (or NaN) sorts last both ways. */
export function sortValue(run, key, now, best = null) {
  if (key === "status") return run.status;
  if (key === "name") return run.name;
  if (key === "duration") return durationOf(run, now);
  if (key === "updated") return run.last_update ?? run.created_at;
  return best;
}

const missing = (v) => v === null || v === undefined || (typeof v === "number" && Number.isNaN(v));

/** The default order: newest first, ties by id, so every order is total and stable. */
export function compareDefault(a, b) {
  return b.created_at - a.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * A comparator of runs for `sort` ({key, dir} or null for newest first): numbers numerically,
 * text by localeCompare, missing values last in both directions, ties in the default order.
 * `bestOf(run)` gives the run's best value when sorting by "best".
 */
export function comparator(sort, now, bestOf = () => null) {
  if (!sort) return compareDefault;
  const sign = sort.dir === "asc" ? 1 : -1;
  return (a, b) => {
    const va = sortValue(a, sort.key, now, sort.key === "best" ? bestOf(a) : null);
    const vb = sortValue(b, sort.key, now, sort.key === "best" ? bestOf(b) : null);
    if (missing(va) || missing(vb)) {
      if (missing(va) !== missing(vb)) return missing(va) ? 1 : -1;
      return compareDefault(a, b);
    }
    const order = typeof va === "string" ? va.localeCompare(vb) : va - vb;
    return order * sign || compareDefault(a, b);
  };
}

/** The runs in `sort` order (a new array). */
export function sortRuns(runs, sort, now, bestOf) {
  return runs.slice().sort(comparator(sort, now, bestOf));
}
