// Axes' values and brushes: which category a value is, which runs a brush keeps, and the runs
// query (docs/runs-query.md) that keeps the same runs, so a brushed set opens in the runs list.
// Pure: no DOM. A brush keeps exactly what its query text asks for: numeric bounds are rounded
// once, when the brush is made, and both the page and the server compare with those numbers.

import { fieldKind, isNumber, parseField, readField } from "./sweep-fields.js";
import { extent } from "./sweep-scales.js";

export const MAX_QUERY_CONDITIONS = 64; // the server's limit (each value of an `in` list counts)
const BOUND_DIGITS = 4;

/** A scalar's category key (its type kept: 1 and "1" differ); null for an array or object,
 * which no query can compare with; "null" for a missing or null value (`== null`). */
export function categoryKey(v) {
  if (v === undefined || v === null) return "null";
  if (typeof v === "string") return `s:${v}`;
  if (typeof v === "number") return `n:${v}`;
  if (typeof v === "boolean") return `b:${v}`;
  return null;
}

function categoryOrder(a, b) {
  const rank = (c) => (c.value === null ? 3 : typeof c.value === "number" ? 0 : typeof c.value === "string" ? 1 : 2);
  const d = rank(a) - rank(b);
  if (d) return d;
  if (typeof a.value === "number") return a.value - b.value;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/**
 * An axis over `runs` for the field (`parsed` from parseField): {name, kind ("number" or
 * "category"), scale ("linear" or "log"; numbers only), extent [lo, hi] or null, categories
 * [{key, value, label}] in axis order and `index` (key -> position)}.
 */
export function buildAxis(name, parsed, runs, scale = "linear") {
  const values = runs.map((r) => readField(r, parsed));
  const kind = fieldKind(values) || "number";
  const axis = { name, field: parsed, kind, scale: kind === "number" ? scale : "linear", extent: null, categories: [], index: new Map() };
  if (kind === "number") {
    axis.extent = extent(values, axis.scale);
    return axis;
  }
  const seen = new Map();
  for (const v of values) {
    const key = categoryKey(v);
    if (key !== null && !seen.has(key)) seen.set(key, { key, value: v ?? null, label: v === undefined || v === null ? "(none)" : String(v) });
  }
  axis.categories = [...seen.values()].sort(categoryOrder);
  axis.categories.forEach((c, i) => axis.index.set(c.key, i));
  return axis;
}

/** A bound rounded to a few significant digits, outward (down for `lo`, up for `hi`), so the
 * brushed range never loses a run it was dragged over. */
export function roundBound(v, direction) {
  if (!isNumber(v) || v === 0) return v;
  const mag = 10 ** (Math.floor(Math.log10(Math.abs(v))) - BOUND_DIGITS + 1);
  const scaled = Number((v / mag).toPrecision(12)); // 0.9 / 1e-4 is 9000.000000000002
  const r = (direction === "down" ? Math.floor(scaled) : Math.ceil(scaled)) * mag;
  return Number(r.toPrecision(BOUND_DIGITS));
}

/** A range brush on a number axis between two values (either order), bounds rounded outward. */
export function rangeBrush(axisName, a, b) {
  return { axis: axisName, kind: "range", lo: roundBound(Math.min(a, b), "down"), hi: roundBound(Math.max(a, b), "up") };
}

/** A brush on a category axis keeping these categories (their keys and values). */
export function setBrush(axisName, categories) {
  return { axis: axisName, kind: "set", keys: categories.map((c) => c.key), values: categories.map((c) => c.value) };
}

/** Whether a run's value is kept by a brush: a number in [lo, hi], or one of its categories. */
export function brushKeeps(brush, value) {
  if (brush.kind === "range") return isNumber(value) && value >= brush.lo && value <= brush.hi;
  const key = categoryKey(value);
  return key !== null && brush.keys.includes(key);
}

/** The runs (of `runs`) that every brush keeps: brushes AND together. `fields` maps an axis
 * name to its parsed field. */
export function filterRuns(runs, brushes, fields) {
  if (!brushes.length) return runs;
  return runs.filter((run) => brushes.every((b) => brushKeeps(b, readField(run, fields.get(b.axis)))));
}

/** A value as query text: numbers as JS writes them (the grammar reads `1e-7`, `1.5e+21`),
 * strings as JSON strings (the grammar takes JSON's escapes). */
export function queryValue(v) {
  if (v === null) return "null";
  if (typeof v === "number") return Object.is(v, -0) ? "0" : String(v);
  if (typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

/** One brush as query text and the number of conditions it counts for. */
export function brushQuery(brush) {
  if (brush.kind === "range") {
    return { text: `${brush.axis} >= ${queryValue(brush.lo)} and ${brush.axis} <= ${queryValue(brush.hi)}`, conditions: 2 };
  }
  const scalars = brush.values.filter((v) => v !== null);
  const hasNull = scalars.length < brush.values.length;
  const parts = [];
  if (scalars.length === 1) parts.push(`${brush.axis} == ${queryValue(scalars[0])}`);
  else if (scalars.length) parts.push(`${brush.axis} in (${scalars.map(queryValue).join(", ")})`);
  if (hasNull) parts.push(`${brush.axis} == null`);
  if (!parts.length) return { text: "false", conditions: 0 };
  const text = parts.length > 1 ? `(${parts.join(" or ")})` : parts[0];
  return { text, conditions: scalars.length + (hasNull ? 1 : 0) };
}

/**
 * The query keeping what `base` (the page's own query, or "") and every brush keep:
 * {text, conditions}. An empty brush set gives the base unchanged.
 */
export function selectionQuery(base, brushes) {
  const parts = [];
  let conditions = 0;
  const trimmed = (base || "").trim();
  if (trimmed) parts.push(brushes.length ? `(${trimmed})` : trimmed);
  for (const b of brushes) {
    const q = brushQuery(b);
    if (q.text === "false") return { text: "", conditions: Infinity };
    parts.push(q.text);
    conditions += q.conditions;
  }
  return { text: parts.join(" and "), conditions };
}

/** A brush as a URL parameter's value: JSON, `[axis, lo, hi]` for a range and `[axis, [value,
 * …]]` for categories (null for "(none)"). */
export function brushParam(brush) {
  return JSON.stringify(brush.kind === "range" ? [brush.axis, brush.lo, brush.hi] : [brush.axis, brush.values]);
}

/** The brush a URL parameter's value holds (brushParam's), or null when it holds none: not
 * JSON, not a field, bounds that are not numbers in order, a value no query compares. */
export function readBrushParam(text) {
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!Array.isArray(v) || typeof v[0] !== "string" || !parseField(v[0])) return null;
  if (v.length === 3 && isNumber(v[1]) && isNumber(v[2]) && v[1] <= v[2]) return { axis: v[0], kind: "range", lo: v[1], hi: v[2] };
  if (v.length !== 2 || !Array.isArray(v[1]) || !v[1].length) return null;
  const categories = v[1].map((value) => ({ key: categoryKey(value), value }));
  return categories.every((c) => c.key !== null) ? setBrush(v[0], categories) : null;
}

/** The brushes of a URL's `brush` parameters, one per axis (the last one wins); the ones that
 * are not brushes are left out. */
export function readBrushParams(params) {
  const byAxis = new Map();
  for (const text of params.getAll("brush")) {
    const brush = readBrushParam(text);
    if (brush) byAxis.set(brush.axis, brush);
  }
  return [...byAxis.values()];
}
