// The runs table as CSV: every run of the view's query (all pages, fetched one after another),
// with the visible columns, each value as text. No DOM: the page turns the parts into a file.

import { csvLine, fieldValue } from "./runs-view.js";

export const EXPORT_PAGE = 1000; // runs per request (the API's limit)
const BASE = ["id", "name", "project", "status", "group", "tags", "created", "updated"];

function iso(ts) {
  return ts === null || ts === undefined ? null : new Date(ts * 1000).toISOString();
}

/** The header line for the added columns `cols`. */
export function csvHeader(cols) {
  return csvLine([...BASE, ...cols]);
}

/** One run's line: the fixed columns, then each added column's value. */
export function csvRow(run, cols) {
  const base = [run.id, run.name, run.project, run.status, run.group, run.tags || [], iso(run.created_at), iso(run.last_update)];
  return csvLine([...base, ...cols.map((f) => fieldValue(run, f))]);
}

/**
 * The CSV text of every run `load(cursor, limit)` pages through, as parts (one per page):
 * the header first. `onProgress(done)` after each page; `signal.aborted` stops between pages.
 */
export async function csvParts(load, cols, { onProgress = () => {}, signal = null } = {}) {
  const parts = [csvHeader(cols)];
  let cursor = null;
  let done = 0;
  do {
    if (signal && signal.aborted) throw new Error("export cancelled");
    const page = await load(cursor, EXPORT_PAGE);
    parts.push(page.runs.map((run) => csvRow(run, cols)).join(""));
    done += page.runs.length;
    onProgress(done, page.total);
    cursor = page.cursor;
  } while (cursor);
  return parts;
}
