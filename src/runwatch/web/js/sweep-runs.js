// The runs a sweep page shows: every run matching its filters (project, status, tag, query),
// fetched a page at a time up to MAX_RUNS, and kept current from the runs socket. A changed run
// is re-read through the same query (`(q) and id in (…)`), so a run that stops matching leaves
// and one that starts matching joins; the refetches are batched and at most one a second.

import { describeError, getJSON, socketURL } from "./api.js";
import { openLive } from "./live.js";
import { coalesce } from "./refetch.js";

export const MAX_RUNS = 10_000;
const PAGE = 1000; // the API's largest page
const REFRESH_MS = 1000; // changed runs are re-read at most this often
const RELOAD_MS = 5000; // a full reload at most this often
const IDS_PER_QUERY = 40; // ids per re-read: the server allows 64 conditions in a query
const MAX_PENDING = 1000; // more changed runs than this waiting: reload them all instead

/**
 * Follow the runs matching `filters` ({project, status, tag, q}). `onChange(runs, {total,
 * capped})` hears every change (runs: an array, newest loaded first); `onError(text)` a
 * problem ("" when it is over); `onConn(state, detail)` the socket's state.
 */
export function followRuns(filters, { onChange, onError, onConn }) {
  let byId = new Map();
  let total = 0;
  let live = null;
  let stopped = false;
  const pending = new Set();
  let reloaded = false; // a reload was asked for
  let loaded = false;

  const params = (extra) => ({ project: filters.project, status: filters.status, tag: filters.tag, ...extra });
  const emit = () => onChange([...byId.values()], { total, capped: total > byId.size });
  const reloads = coalesce(() => loadAll().then(() => onError(""), (err) => onError(describeError(err))), RELOAD_MS);
  const refreshes = coalesce(refresh, REFRESH_MS);

  async function loadAll() {
    pending.clear(); // the pages about to be read are as new as any change heard before
    const next = new Map();
    let cursor = null;
    let count = 0;
    do {
      const limit = Math.min(PAGE, MAX_RUNS - next.size);
      const page = await getJSON("/api/v1/runs", params({ q: filters.q, limit, cursor }));
      for (const run of page.runs) next.set(run.id, run);
      count = page.total;
      cursor = page.cursor;
    } while (cursor && next.size < MAX_RUNS && !stopped);
    byId = next;
    total = count;
    loaded = true;
    emit();
    if (pending.size) refreshes.poke(); // changes heard while the pages were read
  }

  function reload() {
    reloaded = true;
    reloads.poke();
  }

  async function refresh() {
    if (!pending.size) return; // a reload took them
    if (pending.size > MAX_PENDING) {
      reload();
      return;
    }
    const ids = [...pending];
    pending.clear();
    const base = (filters.q || "").trim();
    let added = 0;
    let capped = total > byId.size; // more runs match than are held
    try {
      for (let at = 0; at < ids.length; at += IDS_PER_QUERY) {
        const chunk = ids.slice(at, at + IDS_PER_QUERY);
        const idList = `id in (${chunk.map((id) => JSON.stringify(id)).join(", ")})`;
        const q = base ? `(${base}) and ${idList}` : idList;
        const page = await getJSON("/api/v1/runs", params({ q, limit: chunk.length }));
        const found = new Map(page.runs.map((r) => [r.id, r]));
        for (const id of chunk) {
          const run = found.get(id);
          if (run && byId.has(id)) byId.set(id, run);
          else if (run) {
            capped ||= byId.size >= MAX_RUNS;
            added += take(run);
          } else if (byId.delete(id)) added -= 1;
        }
      }
      // Past MAX_RUNS a run not held may have been counted already (an older one that changed)
      // or not: the server counts them.
      if (capped) total = (await getJSON("/api/v1/runs", params({ q: filters.q, limit: 1 }))).total;
      else total += added;
    } catch {
      reload(); // e.g. the page's query plus the ids is over the server's limits
      return;
    }
    emit();
  }

  /** Hold a matching run not held: with room, or in place of the oldest run held when it is
   * newer (the page holds the newest MAX_RUNS). Returns 1 when it was held. */
  function take(run) {
    if (byId.size >= MAX_RUNS) {
      let oldest = null;
      for (const held of byId.values()) if (!oldest || held.created_at < oldest.created_at) oldest = held;
      if (!oldest || oldest.created_at >= run.created_at) return 0;
      byId.delete(oldest.id);
    }
    byId.set(run.id, run);
    return 1;
  }

  function changed(id) {
    pending.add(id);
    if (loaded) refreshes.poke();
  }

  live = openLive({
    ordered: false,
    url: () => socketURL("/api/v1/live", { project: filters.project }),
    onMessage(msg) {
      // Every connection starts with the runs list: (re)load then, so nothing missed while away.
      if (msg.type === "runs") reload();
      else if (msg.type === "run" && msg.run) changed(msg.run.id);
    },
    onReset: () => reload(),
    onConn(state, detail) {
      onConn(state, detail);
      if (state === "error" && !reloaded) reload(); // no live: still show the runs
    },
  });

  return {
    stop() {
      stopped = true;
      refreshes.stop();
      reloads.stop();
      live.stop();
    },
  };
}
