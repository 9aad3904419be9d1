// The run page's Logs tab: a live tail of the worker's stdout and stderr. It holds at most
// MAX_LINES lines (the oldest go first; the newest when the reader loads older ones), follows the
// newest line until the reader scrolls up, and filters by stream and by a search text: the server
// searches every line it keeps, and matches are marked with text nodes only. Live lines are
// queued and drawn at most once an animation frame, so a fast worker costs one layout a frame.

import { node } from "./dom.js";
import { formatClock, formatCount } from "./format.js";

export const MAX_LINES = 5000;
export const OLDER_PAGE = 1000; // lines one "Load older lines" reads
const PAGE = 10_000; // the server's largest page of lines
const SERVER_KEEPS = 100_000; // the newest lines a run keeps (LOG_LINES_CAP in store/sql/objects.py)
const MAX_QUERY = 1000; // the server's longest search (MAX_LOG_QUERY)
const NEWEST = Number.MAX_SAFE_INTEGER; // `before` past any line number
const BUSY_SHARE = 0.25; // at most this share of the page's time goes to drawing live lines
const NEAR_BOTTOM_PX = 24; // closer than this to the end still counts as "at the newest line"
const STREAMS = ["all", "stdout", "stderr"];

// Terminal escapes: CSI (colours "\x1b[32m", cursor moves, erase "\x1b[2K"; 7- or 8-bit), OSC
// (titles, hyperlinks; ended by BEL or ST) and the two-character ones ("\x1b(B", "\x1b7").
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]*[0-~]/g;

/** A log line without its terminal escape sequences (colours and the like), as plain text. */
export function stripAnsi(text) {
  return text.includes("\x1b") || text.includes("\x9b") ? text.replace(ANSI, "") : text;
}

const asciiLower = (text) => text.replace(/[A-Z]+/g, (s) => s.toLowerCase());

/**
 * Where `query` occurs in `text`, ASCII letters in either case (as the server's search):
 * [[start, end], ...], non-overlapping.
 */
export function findMatches(text, query) {
  if (!query) return [];
  const hay = asciiLower(text);
  const needle = asciiLower(query);
  const out = [];
  for (let at = hay.indexOf(needle); at !== -1; at = hay.indexOf(needle, at + needle.length)) {
    out.push([at, at + needle.length]);
  }
  return out;
}

/**
 * A line number `lo` with `exists(lo)` and not `exists(lo + span)`, starting from `known` (a line
 * that exists): galloping then halving, so a 100,000-line log costs about ten one-line probes.
 * Relies on the server numbering a run's lines without gaps and dropping only the oldest.
 */
export async function findNewestWithin(exists, known, span) {
  let lo = known;
  let step = span;
  while (await exists(lo + step)) {
    lo += step;
    step *= 2;
  }
  while (step > span) {
    step /= 2;
    if (await exists(lo + step)) lo += step;
  }
  return lo;
}

/** `text` into `span` as text nodes, each match of `query` wrapped in a <mark>; returns the count. */
function paint(span, text, query) {
  const hits = findMatches(text, query);
  if (!hits.length) {
    span.textContent = text;
    return 0;
  }
  const parts = [];
  let at = 0;
  for (const [start, end] of hits) {
    if (start > at) parts.push(document.createTextNode(text.slice(at, start)));
    parts.push(node("mark", "log-hit", text.slice(start, end)));
    at = end;
  }
  if (at < text.length) parts.push(document.createTextNode(text.slice(at)));
  span.replaceChildren(...parts);
  return hits.length;
}

/**
 * Mount into `root` (an empty element).
 *
 * opts.fetchLines(after, limit, filter) -> async; the server's lines after line number `after`,
 *                                 filter: { stream, q, before } (each optional, as the logs API)
 * opts.runDir()                 -> the run directory, when known (for the empty state)
 * opts.onChange({ total, held })-> after lines arrived (total: the newest line number)
 */
export function mount(root, { fetchLines, runDir = () => null, onChange } = {}) {
  const head = node("div", "panel-head logs-head");
  head.append(node("h2", "", "Output"));
  const countEl = node("span", "panel-sub logs-count");
  const streams = node("div", "seg logs-streams");
  streams.setAttribute("role", "group");
  streams.setAttribute("aria-label", "stream");
  const streamButtons = STREAMS.map((name) => {
    const b = node("button", "seg-button", name);
    b.type = "button";
    b.dataset.stream = name;
    b.setAttribute("aria-pressed", String(name === "all"));
    b.addEventListener("click", () => setStream(name));
    streams.append(b);
    return b;
  });
  const search = node("input", "logs-search");
  search.type = "search";
  search.placeholder = "search lines";
  search.autocomplete = "off";
  search.maxLength = MAX_QUERY;
  search.setAttribute("aria-label", "search log lines");
  head.append(countEl, streams, search);

  const scroller = node("div", "logs-scroll");
  scroller.tabIndex = 0; // keyboard users scroll it with the arrow keys and End
  scroller.setAttribute("role", "log");
  scroller.setAttribute("aria-live", "off"); // a busy worker must not flood a screen reader
  scroller.setAttribute("aria-label", "log lines");
  const older = node("button", "button logs-older", "Load older lines");
  older.type = "button";
  older.hidden = true;
  const list = node("div", "logs-lines");
  const empty = node("p", "empty logs-empty");
  scroller.append(older, list, empty);
  const jump = node("button", "button button-primary logs-jump", "↓ Jump to latest");
  jump.type = "button";
  jump.hidden = true;
  const panel = node("div", "panel logs-panel");
  panel.append(head, scroller, jump);
  root.replaceChildren(panel);

  let held = []; // {line, stream, ts, text, row, marked}, oldest first; each passes the filter
  let total = 0; // the newest line number seen, of any stream
  let stream = "all";
  let query = "";
  let follow = true;
  let detached = false; // older lines pushed the newest out: live lines are counted, not shown
  let noOlder = false; // the server has no older line for the filter
  let unseen = 0; // lines that arrived while the reader looked at older ones
  let loading = null; // the running load(); live lines wait in `pending` meanwhile
  let pending = []; // live lines not drawn yet (passing the filter; the newest MAX_LINES)
  let frame = 0; // the requested animation frame that draws `pending`
  let nextDraw = 0; // performance.now() before which `pending` waits
  let generation = 0; // bumped by reset(): answers to an older filter's requests are dropped
  let loaded = false;
  let failed = "";

  const filtered = () => Boolean(query) || stream !== "all";
  const filter = () => ({ stream: stream === "all" ? undefined : stream, q: query || undefined });
  const newestHeld = () => (held.length ? held[held.length - 1].line : 0);

  function passes(line) {
    return (stream === "all" || line.stream === stream) && (!query || findMatches(line.text, query).length > 0);
  }

  function paintRow(entry) {
    if (query || entry.marked) entry.marked = paint(entry.row.lastChild, entry.text, query) > 0;
  }

  function makeEntry(line) {
    const row = node("div", line.stream === "stderr" ? "log-line log-stderr" : "log-line");
    row.dataset.line = String(line.line);
    row.dataset.stream = line.stream;
    const no = node("span", "log-no", String(line.line));
    no.title = `${line.stream} · ${formatClock(line.ts)}`;
    row.append(no, node("span", "log-text", line.text));
    const entry = { ...line, row, marked: false };
    paintRow(entry);
    return entry;
  }

  // Shown and searched without escapes.
  const plain = (line) => ({ ...line, text: stripAnsi(line.text) });

  const atBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM_PX;
  const toBottom = () => {
    scroller.scrollTop = scroller.scrollHeight;
  };

  function setFollow(on) {
    follow = on;
    if (on) unseen = 0;
    jump.hidden = on;
    jump.textContent = unseen ? `↓ Jump to latest (${formatCount(unseen)} new)` : "↓ Jump to latest";
  }

  const plural = (n, word) => `${formatCount(n)} ${word}${n === 1 ? "" : "s"}`;

  /** The head's count: "47 lines", "newest 5,000 of 100,000 lines", "3 of 33 lines". */
  function countText() {
    if (!held.length) return "";
    const kept = Math.min(total, SERVER_KEEPS);
    if (filtered() || detached) return `${formatCount(held.length)} of ${plural(kept, "line")}`;
    if (held.length < kept) return `newest ${formatCount(held.length)} of ${plural(kept, "line")}`;
    return plural(held.length, "line");
  }

  /** What the list says when it shows no line: why, and what to do about it. */
  function emptyText() {
    if (failed) return failed;
    if (!loaded || loading) return "Loading log lines…";
    if (!total) {
      const dir = runDir();
      const where = dir ? `${dir}/stdout.log and ${dir}/stderr.log` : "stdout.log and stderr.log in the run directory";
      return `No output captured yet. Start the worker with “runwatch launch -- python train.py” to capture its stdout and stderr here (and in ${where}).`;
    }
    const which = stream === "all" ? "" : `${stream} `;
    return query ? `No ${which}line matches “${query}”.` : `No ${which}lines.`;
  }

  function renderCount() {
    countEl.textContent = countText();
    empty.hidden = !failed && held.length > 0;
    if (!empty.hidden) empty.textContent = emptyText();
    older.hidden = noOlder || !held.length || held[0].line <= 1 || Boolean(loading);
    for (const b of streamButtons) b.setAttribute("aria-pressed", String(b.dataset.stream === stream));
  }

  function changed() {
    renderCount();
    if (onChange) onChange({ total, held: held.length });
  }

  /** Lines in order, each passing the filter, newer than the newest held; the oldest beyond
   * MAX_LINES are dropped. Costs O(lines) DOM work and one layout. */
  function append(lines) {
    const fresh = lines.filter((l) => l.line > newestHeld());
    if (!fresh.length) return;
    if (detached) {
      unseen += fresh.length;
      setFollow(false);
      return;
    }
    const frag = document.createDocumentFragment();
    for (const line of fresh.slice(-MAX_LINES)) {
      const entry = makeEntry(line);
      held.push(entry);
      frag.append(entry.row);
    }
    list.append(frag);
    const over = held.length - MAX_LINES;
    if (over > 0) {
      // The reader's place must not move when lines vanish above it (overflow-anchor is off).
      const before = follow ? 0 : scroller.scrollHeight;
      for (let i = 0; i < over; i += 1) held[i].row.remove();
      held = held.slice(over);
      noOlder = false;
      if (!follow) scroller.scrollTop -= before - scroller.scrollHeight;
    }
    if (follow) toBottom();
    else {
      unseen += fresh.length;
      setFollow(false);
    }
  }

  /** Draw the queued live lines: once an animation frame however many messages came, and no
   * sooner than BUSY_SHARE allows after the last draw, so that a fast worker's lines are drawn
   * in fewer, larger steps and the page's other work (the socket, the header) keeps up. */
  function flush() {
    frame = 0;
    if (loading || !pending.length) return;
    if (performance.now() < nextDraw) {
      frame = requestAnimationFrame(flush);
      return;
    }
    const started = performance.now();
    const queued = pending;
    pending = [];
    append(queued);
    changed();
    const cost = performance.now() - started;
    nextDraw = started + cost / BUSY_SHARE;
  }

  /** Forget what is held and read it again for the current filter. */
  function reset() {
    generation += 1;
    held = [];
    pending = [];
    list.replaceChildren();
    detached = false;
    noOlder = false;
    setFollow(true);
    loading = null;
    load();
  }

  /** Where to start reading so that only about the newest MAX_LINES lines are fetched. */
  async function tailStart() {
    const first = await fetchLines(0, 1);
    if (!first.length) return 0;
    const exists = async (n) => (await fetchLines(n - 1, 1)).length > 0;
    const known = first[0].line + MAX_LINES;
    if (!(await exists(known))) return 0;
    return (await findNewestWithin(exists, known, MAX_LINES)) - MAX_LINES;
  }

  async function catchUp(mine) {
    if (filtered()) {
      // The newest matches of every line the server keeps, in one page.
      const lines = await fetchLines(0, MAX_LINES, { ...filter(), before: NEWEST });
      if (mine !== generation) return;
      total = Math.max(total, lines.length ? lines[lines.length - 1].line : 0);
      append(lines.map(plain));
      noOlder = lines.length < MAX_LINES;
      return;
    }
    let after = Math.max(newestHeld(), await tailStart());
    for (;;) {
      const lines = await fetchLines(after, PAGE);
      if (mine !== generation) return;
      total = Math.max(total, lines.length ? lines[lines.length - 1].line : 0);
      append(lines.map(plain));
      if (lines.length < PAGE) return;
      after = lines[lines.length - 1].line;
    }
  }

  /** Read what the server holds (first load, a re-sync after a reset, a new filter), then the
   * live queue. */
  function load() {
    if (loading) return loading;
    const mine = generation;
    const running = (async () => {
      let error = "";
      try {
        await catchUp(mine);
      } catch (err) {
        error = `Could not load the log: ${err && err.message ? err.message : err}`;
      }
      if (mine !== generation) return; // a newer filter's load owns the view
      failed = error;
      loaded = true;
      loading = null;
      if (follow) toBottom();
      flush();
      changed();
    })();
    loading = running;
    renderCount();
    return running;
  }

  /** Read the OLDER_PAGE lines (of the filter) before the oldest held, keeping the reader's
   * place; past MAX_LINES the newest go, and the view stops following live lines. */
  async function loadOlder() {
    if (loading || !held.length) return;
    const mine = generation;
    older.disabled = true;
    try {
      const lines = await fetchLines(0, OLDER_PAGE, { ...filter(), before: held[0].line });
      if (mine !== generation) return;
      noOlder = lines.length < OLDER_PAGE;
      const fresh = lines.filter((l) => l.line < held[0].line).map((l) => makeEntry(plain(l)));
      const frag = document.createDocumentFragment();
      for (const entry of fresh) frag.append(entry.row);
      const height = scroller.scrollHeight;
      list.prepend(frag);
      held = [...fresh, ...held];
      const over = held.length - MAX_LINES;
      if (over > 0) {
        for (const entry of held.slice(-over)) entry.row.remove();
        held = held.slice(0, -over);
        detached = true;
      }
      scroller.scrollTop += scroller.scrollHeight - height;
      setFollow(false);
      failed = "";
    } catch (err) {
      failed = `Could not load older lines: ${err && err.message ? err.message : err}`;
    } finally {
      older.disabled = false;
    }
    changed();
  }

  function setStream(name) {
    const next = STREAMS.includes(name) ? name : "all";
    if (next === stream) return;
    stream = next;
    reset();
  }

  scroller.addEventListener("scroll", () => {
    if (!scroller.clientHeight) return; // hidden tab: no geometry, nothing the reader did
    const bottom = atBottom() && !detached;
    if (bottom !== follow) setFollow(bottom);
  });
  older.addEventListener("click", () => loadOlder());
  jump.addEventListener("click", () => {
    if (detached) reset(); // the newest lines were let go: read them again
    setFollow(true);
    toBottom();
    scroller.focus({ preventScroll: true });
  });
  let typing = null;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      if (search.value === query) return;
      query = search.value;
      reset();
    }, 120);
  });
  renderCount();

  return {
    load,
    /** Lines from a live "log" message: queued, and drawn on the next animation frame. */
    add(lines) {
      if (!Array.isArray(lines) || !lines.length) return;
      total = Math.max(total, lines[lines.length - 1].line);
      for (const line of lines) {
        const p = plain(line);
        if (passes(p)) pending.push(p);
      }
      // Only the newest MAX_LINES can be shown: a page whose frames are paused (a background
      // tab) keeps no more than that waiting.
      if (pending.length > 2 * MAX_LINES) pending = pending.slice(-MAX_LINES);
      if (!frame && !loading) frame = requestAnimationFrame(flush);
    },
    /** The tab became visible: its geometry is back, so follow the newest line again. */
    shown() {
      if (follow) toBottom();
    },
    setStream,
    get total() {
      return total;
    },
  };
}
