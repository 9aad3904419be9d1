// What the runs table shows: the view kept in the URL (filters, query, sort, columns, group),
// the fields of a run as the runs query names them (docs/runs-query.md), and CSV text.
// Pure functions: no DOM, no globals.

import { isFinal } from "./status.js";
import { parseField as parseDocField, readField } from "./sweep-fields.js";

export const DEFAULT_SORT = "-created";
export const MAX_COLUMNS = 32; // added columns kept in a view (and in its URL)
// The plain columns of a run a query can name, and the key each has in a run from the API.
const COLUMNS = {
  id: "id",
  name: "name",
  project: "project",
  status: "status",
  group: "group",
  created: "created_at",
  started: "started_at",
  ended: "ended_at",
  updated: "last_update",
};

/**
 * The view in a URL query:
 * `?project=&status=&tag=&q=<query>&sort=<field, "-" first for descending>&col=<field>…&group=<field>`.
 */
export function readView(search) {
  const params = new URLSearchParams(search);
  const cols = [];
  for (const col of params.getAll("col")) if (col && !cols.includes(col) && cols.length < MAX_COLUMNS) cols.push(col);
  return {
    project: params.get("project") || "",
    status: params.get("status") || "",
    tag: params.get("tag") || "",
    q: (params.get("q") || "").trim(),
    sort: params.get("sort") || DEFAULT_SORT,
    cols,
    group: params.get("group") || "",
  };
}

/** The sweep page's query string for a view's runs: its filters and query only. */
export function sweepQuery(view) {
  const params = new URLSearchParams();
  for (const key of ["project", "status", "tag", "q"]) if (view[key]) params.set(key, view[key]);
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** The query string for a view ("" or "?…"), leaving out what is at its default. */
export function viewQuery(view) {
  const params = new URLSearchParams();
  for (const key of ["project", "status", "tag", "q"]) if (view[key]) params.set(key, view[key]);
  if (view.sort && view.sort !== DEFAULT_SORT) params.set("sort", view.sort);
  for (const col of view.cols || []) params.append("col", col);
  if (view.group) params.set("group", view.group);
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** Do two views ask the server for different runs (or another order)? Columns and the group do not. */
export function sameRuns(a, b) {
  return ["project", "status", "tag", "q", "sort"].every((key) => a[key] === b[key]);
}

// Columns of text: a first click sorts them A to Z. Numbers and times go largest (newest) first.
const TEXT_SORTS = new Set(["id", "name", "project", "status", "group"]);

/** A header click on `field`: the field's first direction (ascending for a text column,
 * descending for the others), then the other one, and back. */
export function nextSort(sort, field) {
  if (sort === field) return `-${field}`;
  if (sort === `-${field}`) return field;
  return TEXT_SORTS.has(field) ? field : `-${field}`;
}

/** The field and direction of a sort: {field, descending}. */
export function sortParts(sort) {
  return sort.startsWith("-") ? { field: sort.slice(1), descending: true } : { field: sort, descending: false };
}

/**
 * A field name as the query language writes it, as {column} (a run's key) or {doc, keys, stat}
 * (`config.optim.lr`, `summary["train/loss"]`, `summary.acc.min`); null when it is not a field.
 */
export function parseField(name) {
  if (Object.hasOwn(COLUMNS, name)) return { column: COLUMNS[name] };
  return parseDocField(name);
}

/** A run's value of a field (undefined when it has none); a summary's min and max are the
 * metric's extremes (`run.extremes`), as the server sorts and filters by them. */
export function fieldValue(run, name) {
  const field = parseField(name);
  if (!field) return undefined;
  return field.column ? run[field.column] : readField(run, field);
}

/** The query naming these runs by id: `id in ("a", "b")`. */
export function idsQuery(ids) {
  return `id in (${ids.map((id) => JSON.stringify(id)).join(", ")})`;
}

/** The query naming a group's runs (`by == value`, the runs without one for null), or null
 * when no query names it (an array or object value equals nothing). */
export function groupQuery(by, value) {
  if (value === null || value === undefined) return `${by} == null`;
  if (typeof value === "string" || typeof value === "boolean") return `${by} == ${JSON.stringify(value)}`;
  return typeof value === "number" && Number.isFinite(value) ? `${by} == ${JSON.stringify(value)}` : null;
}

/** `q` narrowed by `condition` (q kept whole in parentheses). */
export function andQuery(q, condition) {
  return q ? `(${q}) and ${condition}` : condition;
}

/** The query that asks for `q`'s runs created at or before `at` (the table's snapshot); with
 * `newer`, the ones created after it (the "new runs" count). `at` null: no run existed yet. */
export function snapshotQuery(q, at, newer = false) {
  if (at === null || at === undefined) return q;
  return andQuery(q, `created ${newer ? ">" : "<="} ${at}`);
}

/** Seconds a run has run: until it ended, or until `now` while it still runs; null for one that
 * never started (queued, or cancelled while queued). */
export function durationOf(run, now) {
  const start = run.started_at;
  if (start === null || start === undefined) return null;
  const end = run.ended_at ?? (isFinal(run.status) ? run.last_update : now);
  return end === null || end === undefined ? null : end - start;
}

/** A value as CSV text: numbers as JavaScript writes them, strings as they are, other JSON as
 * JSON, nothing for a missing value; quoted when it holds a comma, a quote or a line break.
 * A string a spreadsheet would run as a formula (=, +, -, @, tab or CR first) gets a leading
 * apostrophe, so a run named "=HYPERLINK(…)" opens as text. */
export function csvCell(value) {
  let text;
  if (value === null || value === undefined) text = "";
  else if (typeof value === "string") text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  else if (typeof value === "number" || typeof value === "boolean") text = String(value);
  else text = JSON.stringify(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One CSV line (CRLF-terminated, RFC 4180). */
export function csvLine(values) {
  return `${values.map(csvCell).join(",")}\r\n`;
}

/** A group's statistics of one field as "mean ± std", or "—" when none of its runs has a number. */
export function formatStats(stats, format) {
  if (!stats || !stats.count) return "—";
  return `${format(stats.mean)} ± ${format(stats.std)}`;
}
