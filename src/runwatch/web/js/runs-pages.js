// The rows of a server-sorted runs list, fetched page by page with keyset cursors and kept in a
// bounded cache. No DOM: the table asks for the rows in view (`want`) and reads them (`runAt`);
// when runs entered or left the list, it is read again where the person is (`reread`).

export const PAGE_SIZE = 250; // runs per page
export const MAX_PAGES = 40; // pages kept (10,000 runs); past it, the page farthest from view goes
export const WALK_PAGES = 4; // pages per request when walking to a far page (the API's limit: 1,000)

/**
 * A page cache over `load(cursor, limit)` → `{runs, total, cursor}` (GET /api/v1/runs).
 * A page can only be fetched from the cursor that starts it, which the page before gave: the
 * cursors seen are kept (one short string per page passed), so an evicted page is fetched
 * again directly, and a far page is reached by walking from the nearest known cursor,
 * `walkPages` pages per request. `onChange()` after new rows; `onError(err)` when a fetch fails
 * (the next `want` retries).
 */
export function createPages({
  load,
  onChange = () => {},
  onError = () => {},
  pageSize = PAGE_SIZE,
  maxPages = MAX_PAGES,
  walkPages = WALK_PAGES,
}) {
  const pages = new Map(); // page index -> its runs
  const cursors = new Map([[0, null]]); // page index -> the cursor that starts it
  const where = new Map(); // run id -> page index
  let count = 0;
  let wanted = [0, 0]; // the first and last page in or near view
  let busy = false;
  let stopped = false;
  let epoch = 0; // bumped by a reread: a page fetched for the list before it is dropped

  function drop(index) {
    for (const run of pages.get(index) || []) if (where.get(run.id) === index) where.delete(run.id);
    pages.delete(index);
  }

  function store(index, runs) {
    drop(index);
    pages.set(index, runs);
    for (const run of runs) where.set(run.id, index);
  }

  /** Keep `maxPages`: the page farthest from the ones wanted goes first. */
  function evict() {
    const distance = (i) => (i < wanted[0] ? wanted[0] - i : i > wanted[1] ? i - wanted[1] : 0);
    while (pages.size > maxPages) {
      let far = null;
      for (const i of pages.keys()) if (far === null || distance(i) > distance(far)) far = i;
      drop(far);
    }
  }

  function lastPage() {
    return Math.max(0, Math.ceil(count / pageSize) - 1);
  }

  /** Take a page of the answer to a request from page `from` for `n` pages. */
  function accept(from, n, answer) {
    for (let i = 0; i < n; i++) {
      const part = answer.runs.slice(i * pageSize, (i + 1) * pageSize);
      if (part.length || i === 0) store(from + i, part);
    }
    if (answer.cursor === null || answer.cursor === undefined) {
      count = from * pageSize + answer.runs.length;
      for (const i of [...pages.keys()]) if (i > lastPage() && i !== 0) drop(i);
    } else {
      cursors.set(from + n, answer.cursor);
      count = Math.max(count, answer.total ?? 0, (from + n) * pageSize + 1);
    }
    evict();
  }

  async function pump() {
    if (busy || stopped) return;
    let target = null;
    for (let i = wanted[0]; i <= Math.min(wanted[1], lastPage()); i++) {
      if (!pages.has(i)) {
        target = i;
        break;
      }
    }
    if (target === null) return;
    let from = target;
    while (!cursors.has(from)) from--;
    const n = Math.min(walkPages, Math.max(target, Math.min(wanted[1], lastPage())) - from + 1);
    busy = true;
    const started = epoch;
    let answer;
    try {
      answer = await load(cursors.get(from), n * pageSize);
    } catch (err) {
      busy = false;
      if (!stopped) onError(err);
      return;
    }
    busy = false;
    if (stopped) return;
    if (started === epoch) {
      accept(from, n, answer);
      onChange();
    }
    pump();
  }

  return {
    pageSize,
    /** How many rows the list has (its total, or where the last page ended). */
    get count() {
      return count;
    },
    /** Pages held now (bounded by maxPages). */
    get size() {
      return pages.size;
    },
    /** Start from a first answer (`limit` pageSize × n) instead of fetching it. */
    seed(answer, n = 1) {
      count = answer.total;
      accept(0, n, answer);
    },
    /** The list has `total` rows; nothing fetched yet. */
    setTotal(total) {
      count = total;
    },
    /** Rows `first` to `last` are in or near view: fetch the pages missing among them. */
    want(first, last) {
      wanted = [Math.floor(Math.max(0, first) / pageSize), Math.floor(Math.max(0, last) / pageSize)];
      pump();
    },
    /** The run at row `index`, or undefined while its page is not here. */
    runAt(index) {
      const page = pages.get(Math.floor(index / pageSize));
      return page ? page[index % pageSize] : undefined;
    },
    /** Is the run on a page held? */
    has(id) {
      return where.has(id);
    },
    /** Is every page of the list held (a run not held is not in the list)? */
    get complete() {
      for (let i = 0; i <= lastPage(); i++) if (!pages.has(i)) return false;
      return true;
    },
    /** Put a newer version of a run held in its place (the order stays the server's; an older
     * version than the one held, by its `seq`, is ignored); true when it was held. */
    replace(run) {
      const index = where.get(run.id);
      if (index === undefined) return false;
      const page = pages.get(index);
      const at = page.findIndex((r) => r.id === run.id);
      if (!(run.seq < page[at].seq)) page[at] = run;
      return true;
    },
    /**
     * Read the list again from its top through the pages in or near view, then put the answer
     * in place of every page at once: the rows in view never turn into placeholders, and the
     * pages past them (and their cursors) are forgotten, as runs before them entered or left.
     * A run held in a newer version than the one read (a live change heard meanwhile) keeps
     * it. Resolves to the list's new total; rejects, the pages as they were, when a fetch fails.
     */
    async reread() {
      const through = Math.min(wanted[1], lastPage());
      const answers = [];
      let cursor = null;
      for (let from = 0; from <= through; from += walkPages) {
        const n = Math.min(walkPages, through - from + 1);
        const answer = await load(cursor, n * pageSize);
        answers.push([from, n, answer]);
        cursor = answer.cursor;
        if (!cursor) break;
      }
      if (stopped) return count;
      const held = new Map();
      for (const run of this.runs()) held.set(run.id, run);
      epoch += 1;
      pages.clear();
      where.clear();
      cursors.clear();
      cursors.set(0, null);
      count = answers[0][2].total;
      for (const [from, n, answer] of answers) accept(from, n, answer);
      for (const page of pages.values()) {
        page.forEach((run, i) => {
          if (held.get(run.id)?.seq > run.seq) page[i] = held.get(run.id);
        });
      }
      onChange();
      pump();
      return count;
    },
    /** Every run held (at most maxPages × pageSize). */
    *runs() {
      for (const page of pages.values()) yield* page;
    },
    /** Stop: answers still on their way are dropped. */
    stop() {
      stopped = true;
    },
  };
}
