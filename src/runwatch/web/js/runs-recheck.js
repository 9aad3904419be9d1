// A filtered runs table kept equal to its query while runs change live. The page never judges
// a run itself: a changed run is re-read through the table's own query by id (`(q) and id in
// (…)`), so the server decides as it does for every page, at most once a second. A run held
// that no longer matches, or one not held that now does (it entered, or sits on a page not
// held), has the list read again where the person is (runs-pages.js `reread`), its count with
// it; one not held that does not match may have left a page not held: the count is asked, and
// the list read again when it moved.

import { coalesce } from "./refetch.js";

export const RECHECK_MS = 1000; // changed runs are re-read at most once a second
export const IDS_PER_QUERY = 40; // ids per re-read: the server allows 64 conditions in a query
export const MAX_PENDING = 1000; // more changed runs than this waiting: the list is read again

/**
 * Follow the changed runs of one list. `read(ids)` → the runs among `ids` that match the list's
 * query now; `count()` → how many runs match it; `pages` the list's page cache (runs-pages.js);
 * `total` the count it was loaded with. `onRows()` after runs held were brought up to date in
 * place; `onTotal(total)` after the list was read again; `onError(err)` when a read failed (its
 * runs are tried again a second later).
 */
export function recheck({ read, count, pages, total, onRows, onTotal, onError }) {
  let pending = new Set();
  let everything = false; // the whole list may have changed (a reconnect, a reset, a refusal)
  let stopped = false;
  // A second from the end of a round: a long one spaces the next.
  const rounds = coalesce(round, RECHECK_MS, { fromEnd: true });

  async function round() {
    const ids = pending;
    const whole = everything || ids.size > MAX_PENDING;
    pending = new Set();
    everything = false;
    try {
      if (whole || (await moved([...ids]))) {
        total = await pages.reread();
        if (!stopped) onTotal(total);
      }
    } catch (err) {
      if (stopped) return;
      everything ||= whole;
      for (const id of ids) pending.add(id);
      onError(err);
      rounds.poke();
    }
  }

  /** Whether runs entered or left the list (runs held that still match are brought up to date). */
  async function moved(ids) {
    let maybeLeft = false;
    for (let at = 0; at < ids.length; at += IDS_PER_QUERY) {
      const chunk = ids.slice(at, at + IDS_PER_QUERY);
      let matching;
      try {
        matching = new Map((await read(chunk)).map((run) => [run.id, run]));
      } catch (err) {
        if (err.status === 400) return true; // the query with the ids is over the server's limits
        throw err;
      }
      for (const id of chunk) {
        const run = matching.get(id);
        if (pages.has(id) !== Boolean(run)) return true;
        if (run) pages.replace(run);
        else maybeLeft ||= !pages.complete;
      }
      if (matching.size) onRows();
    }
    return maybeLeft && (await count()) !== total;
  }

  return {
    /** A run of the list's project changed. */
    changed(id) {
      pending.add(id);
      rounds.poke();
    },
    /** Any run may have changed unheard: read the list again. */
    everything() {
      everything = true;
      rounds.poke();
    },
    stop() {
      stopped = true;
      rounds.stop();
    },
  };
}
