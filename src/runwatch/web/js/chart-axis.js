// A chart's x axis: the step, the time since each run's start ("relative"), or the clock time
// ("wall"). Both time axes plot what /metrics?x=time returns (unix seconds); relative time
// subtracts each run's own origin when drawing, so runs started hours apart overlay from 0.
// Pure functions: no DOM, no globals.

import { formatCount, formatRelative, formatRelativeTicks, formatTicks, formatWallTicks, formatWallTime } from "./format.js";

export const AXIS_NAMES = ["step", "relative", "wall"];

// The narrowest zoom window on a time axis: tick labels stay distinct down to it (milliseconds).
export const MIN_TIME_SPAN = 0.01;

// Steps are whole numbers: never put a tick at step 0.5.
export const STEP_INCRS = [1, 2, 5]
  .flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9].map((p) => m * p))
  .sort((a, b) => a - b);

// Relative-time ticks fall on round durations: 15 s, 5 min, 6 h, a week, ...
export const DURATION_INCRS = [
  0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800,
  3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 1209600, 2592000, 7776000, 31536000,
];

/** The axis an address asks for (`?x=relative`); the step for anything else. */
export function parseAxis(search) {
  const name = new URLSearchParams(search).get("x");
  return AXIS_NAMES.includes(name) ? name : "step";
}

/**
 * The address's query string with the axis set (the step, the default, leaves no `x`); the
 * other parameters are kept as written ("runs=a,b" stays readable, not "runs=a%2Cb").
 */
export function withAxis(search, name) {
  const kept = search.replace(/^\?/, "").split("&").filter((p) => p && !/^x(=|$)/.test(p));
  if (name !== "step") kept.push(`x=${name}`);
  return kept.length ? `?${kept.join("&")}` : "";
}

/** The /metrics `x` an axis reads its data by. */
export function queryAxis(name) {
  return name === "step" ? "step" : "time";
}

/** Where a run's relative time is 0: when it started, or when it was created if it has not. */
export function runStart(run) {
  if (typeof run.started_at === "number") return run.started_at;
  return typeof run.created_at === "number" ? run.created_at : 0;
}

/**
 * A live status message that starts a run not started yet (a queued run the queue launched):
 * its start goes into `run`, so relative time counts from it as a reload would. True when it did.
 */
export function noteStart(run, msg) {
  if (msg.state !== "running" || typeof run.started_at === "number") return false;
  run.started_at = msg.ts;
  return true;
}

/** What an axis subtracts from a run's x values when drawing them. */
export function originOf(name, run) {
  return name === "relative" ? runStart(run) : 0;
}

/** An axis's tick labels for uPlot's ticks at spacing `incr`: distinct at every zoom. */
export function tickLabels(name, ticks, incr) {
  if (name === "relative") return formatRelativeTicks(ticks, incr);
  if (name === "wall") return formatWallTicks(ticks, incr);
  return formatTicks(ticks, incr);
}

/** Decimals of a second a readout needs on a window `span` seconds wide (about 1/100 of it). */
function readoutDigits(span) {
  return span > 0 && span < 100 ? Math.min(3, Math.ceil(-Math.log10(span / 100) - 1e-9)) : 0;
}

/** The x under the cursor as a readout says it ("step 1,234", "t 1m30s", a date and time). */
export function pointLabel(name, x, span) {
  if (name === "relative") return `t ${formatRelative(x, readoutDigits(span))}`;
  if (name === "wall") return formatWallTime(x, readoutDigits(span));
  return `step ${formatCount(x)}`;
}

/** A zoom window's two ends as the zoom chip shows them (distinct even for a narrow window). */
export function windowLabels(name, lo, hi) {
  return tickLabels(name, [lo, hi], name === "step" ? undefined : (hi - lo) / 10);
}

/** The window a drag from `lo` to `hi` zooms to: whole steps, or at least MIN_TIME_SPAN seconds. */
export function zoomWindow(name, lo, hi) {
  if (name === "step") {
    const start = Math.floor(lo);
    return [start, Math.max(start + 1, Math.ceil(hi))];
  }
  return [lo, Math.max(hi, lo + MIN_TIME_SPAN)];
}
