// Best values of one metric per run for the runs list: fetched lazily, cached per (run, key),
// refetched when a run's seq moves on (at most once per `minInterval` per run), and bounded.

import { bestOfSeries } from "./runs-view.js";

const SEP = "\u0000";

/**
 * `load(runId, key)` resolves to `{seq, series}` (the /metrics answer for that key, or series
 * undefined when the run has no such key); `wanted(runId, key)` says whether a queued or
 * delayed fetch is still worth doing; `onChange(runId, key)` is told when a value changed.
 */
export function createBestValues({
  load,
  wanted = () => true,
  onChange = () => {},
  capacity = 500,
  minInterval = 2000,
  concurrency = 4,
}) {
  // (run, key) -> {seq, wantSeq, low, high, fetchedAt, inflight, timer, error}; Map order is
  // least recently used first.
  const entries = new Map();
  const queue = []; // [runId, key, entry] waiting for a free slot
  let running = 0;

  function touch(id, entry) {
    entries.delete(id);
    entries.set(id, entry);
    while (entries.size > capacity) {
      const [oldId, old] = entries.entries().next().value;
      clearTimeout(old.timer);
      entries.delete(oldId);
    }
  }

  function entryFor(runId, key) {
    const id = runId + SEP + key;
    let entry = entries.get(id);
    if (!entry) {
      entry = { seq: -1, wantSeq: -1, low: null, high: null, fetchedAt: -Infinity, inflight: false, timer: null };
    }
    touch(id, entry);
    return entry;
  }

  function pump() {
    while (running < concurrency && queue.length) {
      const [runId, key, entry] = queue.shift();
      if (entries.get(runId + SEP + key) !== entry || !wanted(runId, key)) {
        entry.inflight = false; // evicted, or scrolled away / filtered out meanwhile
        continue;
      }
      running += 1;
      entry.fetchedAt = performance.now();
      fetchOne(runId, key, entry).finally(() => {
        running -= 1;
        pump();
      });
    }
  }

  async function fetchOne(runId, key, entry) {
    // The answer is current to at least the seq known when asking (the run row came from the
    // same server before); only a seq seen while the request was out calls for another.
    const asked = entry.wantSeq;
    let changed = false;
    try {
      const { seq, series } = await load(runId, key);
      const low = bestOfSeries(series, "min");
      const high = bestOfSeries(series, "max");
      changed = low !== entry.low || high !== entry.high || entry.seq < 0;
      Object.assign(entry, { seq: Math.max(seq, asked), low, high, error: null });
    } catch (err) {
      entry.error = err; // shown as no value; retried once the run moves on
      entry.seq = Math.max(entry.seq, asked, 0);
      changed = true;
    }
    entry.inflight = false;
    if (changed) onChange(runId, key);
    if (entry.wantSeq > entry.seq && entries.get(runId + SEP + key) === entry) request(runId, key, entry);
  }

  function request(runId, key, entry) {
    if (entry.inflight || entry.timer) return;
    const wait = entry.fetchedAt + minInterval - performance.now();
    if (wait > 0) {
      entry.timer = setTimeout(() => {
        entry.timer = null;
        if (entries.get(runId + SEP + key) === entry && wanted(runId, key)) request(runId, key, entry);
      }, wait);
      return;
    }
    entry.inflight = true;
    queue.push([runId, key, entry]);
    pump();
  }

  return {
    /** {min, max, seq} known for (run, key), or null before the first answer. */
    get(runId, key) {
      const entry = entries.get(runId + SEP + key);
      if (!entry || entry.seq < 0) return null;
      return { min: entry.low, max: entry.high, seq: entry.seq, error: entry.error || null };
    },
    /**
     * Make sure (run, key) is current to `run.seq`: fetch now, after the throttle, or not at all.
     * A finite last value in `run.summary` is folded in at once (it is a point of the run).
     */
    want(run, key) {
      const entry = entryFor(run.id, key);
      entry.wantSeq = Math.max(entry.wantSeq, run.seq);
      const last = run.summary ? run.summary[key] : undefined;
      let changed = false;
      if (entry.seq >= 0 && run.seq > entry.seq && typeof last === "number" && Number.isFinite(last)) {
        const low = entry.low === null ? last : Math.min(entry.low, last);
        const high = entry.high === null ? last : Math.max(entry.high, last);
        changed = low !== entry.low || high !== entry.high;
        Object.assign(entry, { low, high });
      }
      if (entry.wantSeq > entry.seq) request(run.id, key, entry);
      if (changed) onChange(run.id, key);
    },
    /** Entries held (for tests and the page's debugging). */
    get size() {
      return entries.size;
    },
  };
}
