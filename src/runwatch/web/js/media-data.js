// Pure helpers of the Media view: raw heatmap and label-map blobs turned into pixels, one colour
// per entity, the bounded cache of decoded images, and the step a slider keystroke goes to.
// No DOM here, so node --test checks them (tests/js/media-data.test.mjs).

import { rampColor } from "./snapshot-view.js";

export const RAW_MIMES = { "application/x-runwatch-f32": "f32", "application/x-runwatch-i32": "i32" };
// A heatmap's cells off its scale, each its own colour (named in the legend): NaN a grey gap,
// +inf red and −inf white, so an exploding value never looks like missing data.
export const OFF_SCALE = {
  nan: { label: "NaN", rgba: [40, 44, 52, 255] },
  pos: { label: "+inf", rgba: [255, 40, 40, 255] },
  neg: { label: "−inf", rgba: [240, 240, 240, 255] },
};
const BACKGROUND = [0, 0, 0, 0]; // label 0: no entity

/** The typed values of a raw blob (little-endian H×W float32 or int32). */
export function decodeRaw(buffer, mime, width, height) {
  const type = RAW_MIMES[mime];
  if (!type) throw new Error(`not a raw array: ${mime}`);
  if (buffer.byteLength !== width * height * 4) {
    throw new Error(`a ${width}×${height} array is ${width * height * 4} bytes, not ${buffer.byteLength}`);
  }
  const view = new DataView(buffer);
  const out = type === "f32" ? new Float32Array(width * height) : new Int32Array(width * height);
  // DataView reads little-endian whatever the machine's order.
  if (type === "f32") for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  else for (let i = 0; i < out.length; i++) out[i] = view.getInt32(i * 4, true);
  return out;
}

/** The finite [min, max] of `values` ([NaN, NaN] when none is finite). */
export function finiteRange(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (Number.isFinite(v)) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return lo <= hi ? [lo, hi] : [NaN, NaN];
}

/** The colour scale's ends: the producer's vmin/vmax when given, else the data's range. */
export function scaleOf(values, vmin, vmax) {
  const [lo, hi] = finiteRange(values);
  return [typeof vmin === "number" ? vmin : lo, typeof vmax === "number" ? vmax : hi];
}

/** Which of OFF_SCALE's kinds (nan, pos, neg) a value is; null for a finite one. */
export function offScale(v) {
  if (Number.isNaN(v)) return "nan";
  if (v === Infinity) return "pos";
  if (v === -Infinity) return "neg";
  return null;
}

/** The OFF_SCALE kinds present in `values`, in OFF_SCALE's order (for the legend). */
export function offScaleKinds(values) {
  const seen = new Set();
  for (const v of values) if (!Number.isFinite(v)) seen.add(offScale(v));
  return Object.keys(OFF_SCALE).filter((kind) => seen.has(kind));
}

/** RGBA pixels of a heatmap: each value on the ramp between lo and hi; NaN, +inf and −inf
 * cells in their OFF_SCALE colours. */
export function heatmapPixels(values, lo, hi) {
  const out = new Uint8ClampedArray(values.length * 4);
  const span = hi - lo || 1;
  const lut = Array.from({ length: 256 }, (_, i) => rampColor(i / 255));
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      out.set(OFF_SCALE[offScale(v)].rgba, i * 4);
      continue;
    }
    const t = Math.min(255, Math.max(0, Math.round(((v - lo) / span) * 255)));
    const c = lut[t];
    out[i * 4] = c[0];
    out[i * 4 + 1] = c[1];
    out[i * 4 + 2] = c[2];
    out[i * 4 + 3] = 255;
  }
  return out;
}

/** An entity's colour (0 is background): hues spread by the golden angle, so neighbouring
 * ids differ plainly; the same id has the same colour in every image. */
export function labelColor(id) {
  if (id === 0) return BACKGROUND;
  const hue = (Math.abs(id) * 137.508) % 360;
  return [...hslToRgb(hue, 0.7, 0.55), 255];
}

function hslToRgb(h, s, l) {
  const a = s * Math.min(l, 1 - l);
  const f = (n) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

/** RGBA pixels of a label map, one colour per entity id (0 transparent). */
export function labelPixels(ids) {
  const out = new Uint8ClampedArray(ids.length * 4);
  const colors = new Map();
  for (let i = 0; i < ids.length; i++) {
    let c = colors.get(ids[i]);
    if (!c) {
      c = labelColor(ids[i]);
      if (colors.size < 4096) colors.set(ids[i], c);
    }
    out.set(c, i * 4);
  }
  return out;
}

/** What a capped section says when it draws only `shown` of `total` keys ("" when it draws
 * them all, or is still filling up): "showing 200 of 370 image keys (the first in key order)". */
export function cappedText(shown, cap, total, what) {
  return shown >= cap && total > shown ? `showing ${shown} of ${total} ${what} (the first in key order)` : "";
}

/** The cell (column, row) under a point of an element drawn at `cssWidth`×`cssHeight` from a
 * `width`×`height` array, or null outside it. */
export function cellAt(x, y, cssWidth, cssHeight, width, height) {
  if (x < 0 || y < 0 || x >= cssWidth || y >= cssHeight) return null;
  const col = Math.min(width - 1, Math.floor((x / cssWidth) * width));
  const row = Math.min(height - 1, Math.floor((y / cssHeight) * height));
  return { col, row, index: row * width + col };
}

/** The step a key moves the slider to: the kept step before or after the shown one (the
 * server's prev/next; the slider's own step ± 1 until an answer came), PageDown/PageUp a tenth
 * of the range back or on but at least to that neighbour (the kept step nearest the target is
 * then shown, never the same one again), Home/End the ends; null for any other key. */
export function arrowStep(key, shown, value, min, max) {
  if (key === "Home") return min;
  if (key === "End") return max;
  const page = key === "PageDown" || key === "PageUp";
  const dir = { ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1, PageDown: -1, PageUp: 1 }[key];
  if (!dir) return null;
  const neighbour = shown ? (dir < 0 ? shown.prev : shown.next) : null;
  let target = typeof neighbour === "number" ? neighbour : value + dir;
  if (page) {
    const far = value + dir * Math.max(1, Math.round((max - min) / 10));
    target = dir < 0 ? Math.min(far, target) : Math.max(far, target);
  }
  return Math.min(max, Math.max(min, target));
}

/**
 * A least-recently-used cache with two caps: entries and total bytes (each entry says its own
 * size). `onEvict(value)` frees what an evicted entry holds (an ImageBitmap's memory).
 */
export class LruCache {
  constructor({ maxEntries, maxBytes, onEvict = () => {} }) {
    this.maxEntries = maxEntries;
    this.maxBytes = maxBytes;
    this.onEvict = onEvict;
    this.map = new Map(); // key -> {value, bytes}, oldest use first
    this.bytes = 0;
  }

  get size() {
    return this.map.size;
  }

  has(key) {
    return this.map.has(key);
  }

  /** The value (now the most recently used), or undefined. */
  get(key) {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    this.map.delete(key);
    this.map.set(key, hit);
    return hit.value;
  }

  /** Keep `value` (of `bytes`), evicting the least recently used past either cap; the newest
   * entry always stays, even when it alone is over the byte cap. */
  set(key, value, bytes) {
    const old = this.map.get(key);
    if (old) {
      this.map.delete(key);
      this.bytes -= old.bytes;
      if (old.value !== value) this.onEvict(old.value);
    }
    this.map.set(key, { value, bytes });
    this.bytes += bytes;
    while (this.map.size > 1 && (this.map.size > this.maxEntries || this.bytes > this.maxBytes)) {
      const [oldest, entry] = this.map.entries().next().value;
      this.map.delete(oldest);
      this.bytes -= entry.bytes;
      this.onEvict(entry.value);
    }
  }
}

/** Whether `step`'s nearest kept step (the earlier on a tie, as the server picks) is the item
 * of `answer` ({item, prev, next}: its kept neighbours, null at the ends), so a slider can
 * show it without asking the server again. */
export function covers(answer, step) {
  const at = answer.item.step;
  if (typeof answer.prev === "number" && step <= (answer.prev + at) / 2) return false;
  if (typeof answer.next === "number" && step > (at + answer.next) / 2) return false;
  return true;
}

/** A remembered answer ({item, prev, next}) after a live `media` message of its key (`last`:
 * the key's last kept step before it), or null when it must be asked again. A step past the
 * last is the last answer's `next`; an answer whose step or neighbour the message dropped has
 * lost it, and a step at or before the last (logged again, or late) may change any answer. */
export function answerAfter(answer, msg, last) {
  if (msg.step <= last) return null;
  const dropped = msg.dropped || [];
  if ([answer.item.step, answer.prev, answer.next].some((s) => dropped.includes(s))) return null;
  return answer.next === null ? { ...answer, next: msg.step } : answer;
}

/** A key's kept steps ({first, last, count}) after a live `media` message: a step past the
 * last is one more kept step, less the older ones it made the server drop. A step at or before
 * the last (one a listing read after it already counts, or a step logged again) changes no
 * count: its drops are counted already. */
export function extendKept(kept, msg) {
  if (msg.step <= kept.last) return { ...kept, first: Math.min(kept.first, msg.step) };
  return { first: kept.first, last: msg.step, count: Math.max(1, kept.count + 1 - (msg.dropped || []).length) };
}

/** A key's kept steps as the `…/media` listing counts them (`listed`: its first_step,
 * last_step, count), extended by the live messages heard meanwhile (oldest first): whichever
 * came first, those it was read before count once, those it holds not again. */
export function mergeKept(listed, heard) {
  let kept = { first: listed.first_step, last: listed.last_step, count: listed.count };
  for (const msg of heard) kept = extendKept(kept, msg);
  return kept;
}
