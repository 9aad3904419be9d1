// Scales and axis ticks for the sweep views' canvases: value -> pixel and back, for numbers on
// a linear or log scale and for categories (evenly spaced). Pure: no DOM.

import { isNumber } from "./sweep-fields.js";

/** The [lo, hi] of the numbers a scale can place (positive ones only for "log"); null if none. */
export function extent(values, kind = "linear") {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!isNumber(v) || (kind === "log" && v <= 0)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : null;
}

/**
 * A numeric scale from the domain [lo, hi] onto the pixels [a, b] (b < a for an upward axis).
 * `kind` "log" places log10 of the value; a value it cannot place maps to NaN. A one-value
 * domain is widened so its value sits in the middle.
 */
export function numberScale(lo, hi, a, b, kind = "linear") {
  const log = kind === "log";
  const t = log ? Math.log10 : (v) => v;
  let d0 = t(lo);
  let d1 = t(hi);
  if (!(d1 > d0)) {
    const pad = log ? 0.5 : Math.abs(d0) * 0.05 || 0.5;
    d0 -= pad;
    d1 += pad;
  }
  const k = (b - a) / (d1 - d0);
  return {
    kind,
    domain: log ? [10 ** d0, 10 ** d1] : [d0, d1],
    range: [a, b],
    /** The pixel of a value; NaN for one the scale cannot place (non-number, or ≤ 0 on log). */
    toPx(v) {
      if (!isNumber(v) || (log && v <= 0)) return NaN;
      return a + (t(v) - d0) * k;
    },
    /** The value at a pixel. */
    fromPx(px) {
      const d = d0 + (px - a) / k;
      return log ? 10 ** d : d;
    },
  };
}

/** A scale placing `count` categories evenly over [a, b], each in the middle of its slot. */
export function categoryScale(count, a, b) {
  const step = (b - a) / Math.max(1, count);
  return {
    kind: "category",
    count,
    range: [a, b],
    toPx: (index) => (index >= 0 && index < count ? a + step * (index + 0.5) : NaN),
    /** The categories whose position lies between two pixels (either order). */
    between(p, q) {
      const lo = Math.min(p, q);
      const hi = Math.max(p, q);
      const out = [];
      for (let i = 0; i < count; i++) {
        const px = a + step * (i + 0.5);
        if (px >= lo && px <= hi) out.push(i);
      }
      return out;
    },
  };
}

/** Round tick values (1, 2 or 5 × 10^k apart) inside [lo, hi], about `count` of them. */
export function linearTicks(lo, hi, count = 5) {
  if (!(hi > lo)) return isNumber(lo) ? [lo] : [];
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9)) || 10 * mag;
  const ticks = [];
  for (let i = Math.ceil(lo / step - 1e-9); i * step <= hi + step * 1e-9; i++) {
    const v = i * step;
    ticks.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return ticks;
}

/** Ticks of a log axis over [lo, hi] (lo > 0): the powers of ten inside, with 2 and 5 × them
 * when the range spans fewer than three decades; at most `max` of them (every n-th power). */
export function logTicks(lo, hi, max = 8) {
  if (!(lo > 0) || !(hi >= lo)) return [];
  const first = Math.floor(Math.log10(lo));
  const last = Math.ceil(Math.log10(hi));
  const mantissas = last - first < 3 ? [1, 2, 5] : [1];
  let ticks = [];
  for (let e = first; e <= last; e++) {
    for (const m of mantissas) {
      const v = Number((m * 10 ** e).toPrecision(12));
      if (v >= lo * (1 - 1e-12) && v <= hi * (1 + 1e-12)) ticks.push(v);
    }
  }
  if (ticks.length > max) {
    const powers = ticks.filter((v) => Number.isInteger(Math.log10(v)) || Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9);
    const every = Math.ceil(powers.length / max);
    ticks = powers.filter((_, i) => i % every === 0);
  }
  return ticks;
}

/** Ticks for a numeric scale of either kind. */
export function ticksFor(scale, count = 5) {
  const [lo, hi] = scale.domain;
  return scale.kind === "log" ? logTicks(lo, hi, count + 3) : linearTicks(lo, hi, count);
}

// Viridis from 0.37 on (the last 13 of R's viridis(20)): ordered in lightness, colour-blind safe.
// Its dark-violet start all but vanishes on the dark panels the sweep views draw on, and the worst
// runs are drawn in it; from here on every colour has WCAG contrast 3:1 or more against them.
const RAMP = [
  [45, 113, 142],
  [40, 125, 142],
  [35, 138, 141],
  [31, 150, 139],
  [32, 163, 134],
  [41, 175, 127],
  [60, 188, 117],
  [86, 198, 103],
  [117, 208, 84],
  [149, 216, 64],
  [184, 222, 41],
  [220, 227, 24],
  [253, 231, 37],
];

/** The ramp's colour at t in [0, 1] (clamped) as "rgb(r, g, b)". */
export function rampColor(t) {
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(u));
  const f = u - i;
  const c = RAMP[i].map((v, k) => Math.round(v + (RAMP[i + 1][k] - v) * f));
  return `rgb(${c[0]}, ${c[1]}, ${c[2]})`;
}
