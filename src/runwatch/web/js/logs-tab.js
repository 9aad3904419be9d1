// The run page's Logs tab: a live tail of the worker's stdout and stderr. It holds at most
// MAX_LINES lines (the oldest go first), follows the newest line until the reader scrolls up,
// and filters by stream and by a search text whose matches are marked with text nodes only.

import { node } from "./dom.js";
import { formatClock, formatCount } from "./format.js";

export const MAX_LINES = 5000;
const PAGE = 10_000; // the server's largest page of lines
const NEAR_BOTTOM_PX = 24; // closer than this to the end still counts as "at the newest line"
const STREAMS = ["all", "stdout", "stderr"];

// Terminal escapes: CSI (colours "\x1b[32m", cursor moves, erase "\x1b[2K"; 7- or 8-bit), OSC
// (titles, hyperlinks; ended by BEL or ST) and the two-character ones ("\x1b(B", "\x1b7").
const ANSI = /\x1b\[[0-?]*[ -/]*[@-~]|\x9b[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]*[0-~]/g;

/** A log line without its terminal escape sequences (colours and the like), as plain text. */
export function stripAnsi(text) {
  return text.includes("\x1b") || text.includes("\x9b") ? text.replace(ANSI, "") : text;
}

/** Where `query` occurs in `text`, ignoring case: [[start, end], ...], non-overlapping. */
export function findMatches(text, query) {
  if (!query) return [];
  let hay = text.toLowerCase();
  let needle = query.toLowerCase();
  if (hay.length !== text.length || needle.length !== query.length) {
    [hay, needle] = [text, query]; // lowercasing changed lengths: offsets would lie, match exactly
  }
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
 * opts.fetchLines(after, limit) -> async; the server's lines after line number `after`
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
  search.setAttribute("aria-label", "search log lines");
  head.append(countEl, streams, search);

  const scroller = node("div", "logs-scroll");
  scroller.tabIndex = 0; // keyboard users scroll it with the arrow keys and End
  scroller.setAttribute("role", "log");
  scroller.setAttribute("aria-live", "off"); // a busy worker must not flood a screen reader
  scroller.setAttribute("aria-label", "log lines");
  const list = node("div", "logs-lines");
  const empty = node("p", "empty logs-empty");
  scroller.append(list, empty);
  const jump = node("button", "button button-primary logs-jump", "↓ Jump to latest");
  jump.type = "button";
  jump.hidden = true;
  const panel = node("div", "panel logs-panel");
  panel.append(head, scroller, jump);
  root.replaceChildren(panel);

  let held = []; // {line, stream, ts, text, row, marked}, oldest first
  let lastLine = 0;
  let stream = "all";
  let query = "";
  let follow = true;
  let unseen = 0; // lines that arrived while the reader looked at older ones
  let loading = null; // the running load(); live lines wait in `pending` meanwhile
  let pending = [];
  let loaded = false;
  let failed = "";

  function visible(entry) {
    return (stream === "all" || entry.stream === stream) && (!query || findMatches(entry.text, query).length > 0);
  }

  function show(entry) {
    const on = visible(entry);
    entry.row.hidden = !on;
    if (on && (query || entry.marked)) {
      entry.marked = paint(entry.row.lastChild, entry.text, query) > 0;
    }
    return on;
  }

  function makeRow(line) {
    const row = node("div", line.stream === "stderr" ? "log-line log-stderr" : "log-line");
    row.dataset.line = String(line.line);
    row.dataset.stream = line.stream;
    const no = node("span", "log-no", String(line.line));
    no.title = `${line.stream} · ${formatClock(line.ts)}`;
    row.append(no, node("span", "log-text", line.text));
    return row;
  }

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

  /** The head's count: "47 lines", "newest 5,000 of 6,000 lines", "3 of 33 lines". */
  function countText(shown) {
    if (!held.length) return "";
    if (query || stream !== "all") return `${formatCount(shown)} of ${plural(held.length, "line")}`;
    if (held[0].line > 1) return `newest ${formatCount(held.length)} of ${plural(lastLine, "line")}`;
    return plural(held.length, "line");
  }

  /** What the list says when it shows no line: why, and what to do about it. */
  function emptyText() {
    if (failed) return failed;
    if (!loaded) return "Loading log lines…";
    if (!held.length) {
      const dir = runDir();
      const where = dir ? `${dir}/stdout.log and ${dir}/stderr.log` : "stdout.log and stderr.log in the run directory";
      return `No output captured yet. Start the worker with “runwatch launch -- python train.py” to capture its stdout and stderr here (and in ${where}).`;
    }
    const which = stream === "all" ? "" : `${stream} `;
    return query ? `No ${which}line matches “${query}”.` : `No ${which}lines.`;
  }

  function renderCount() {
    const shown = held.reduce((n, e) => n + (e.row.hidden ? 0 : 1), 0);
    countEl.textContent = countText(shown);
    empty.hidden = !failed && shown > 0;
    if (!empty.hidden) empty.textContent = emptyText();
  }

  /** Lines in order, newer than the last one held; the oldest beyond MAX_LINES are dropped. */
  function append(lines) {
    const fresh = lines.filter((l) => l.line > lastLine);
    if (!fresh.length) return;
    const keep = fresh.slice(-MAX_LINES);
    const frag = document.createDocumentFragment();
    let shown = 0;
    for (const line of keep) {
      const plain = { ...line, text: stripAnsi(line.text) }; // shown and searched without escapes
      const entry = { ...plain, row: makeRow(plain), marked: false };
      if (show(entry)) shown += 1;
      held.push(entry);
      frag.append(entry.row);
    }
    list.append(frag);
    lastLine = fresh[fresh.length - 1].line;
    const over = held.length - MAX_LINES;
    if (over > 0) {
      // The reader's place must not move when lines vanish above it (overflow-anchor is off).
      const before = scroller.scrollHeight;
      for (const entry of held.slice(0, over)) entry.row.remove();
      held = held.slice(over);
      if (!follow) scroller.scrollTop -= before - scroller.scrollHeight;
    }
    if (follow) toBottom();
    else if (shown) {
      unseen += shown;
      setFollow(false);
    }
    renderCount();
    if (onChange) onChange({ total: lastLine, held: held.length });
  }

  function refilter() {
    for (const entry of held) show(entry);
    for (const b of streamButtons) b.setAttribute("aria-pressed", String(b.dataset.stream === stream));
    renderCount();
    if (follow) toBottom();
  }

  function setStream(name) {
    stream = STREAMS.includes(name) ? name : "all";
    refilter();
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

  async function catchUp() {
    let after = Math.max(lastLine, await tailStart());
    for (;;) {
      const lines = await fetchLines(after, PAGE);
      append(lines);
      if (lines.length < PAGE) return;
      after = lines[lines.length - 1].line;
    }
  }

  /** Read what the server holds (first load, or a re-sync after a reset), then the live queue. */
  function load() {
    if (loading) return loading;
    loading = (async () => {
      try {
        await catchUp();
        failed = "";
      } catch (err) {
        failed = `Could not load the log: ${err && err.message ? err.message : err}`;
      }
      loaded = true;
      const queued = pending;
      pending = [];
      loading = null;
      append(queued); // already-held lines are skipped by number
      renderCount();
      if (onChange) onChange({ total: lastLine, held: held.length });
    })();
    return loading;
  }

  scroller.addEventListener("scroll", () => {
    if (!scroller.clientHeight) return; // hidden tab: no geometry, nothing the reader did
    const bottom = atBottom();
    if (bottom !== follow) setFollow(bottom);
  });
  jump.addEventListener("click", () => {
    setFollow(true);
    toBottom();
    scroller.focus({ preventScroll: true });
  });
  let typing = null;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      query = search.value;
      refilter();
    }, 120);
  });
  renderCount();

  return {
    load,
    /** Lines from a live "log" message. */
    add(lines) {
      if (!Array.isArray(lines) || !lines.length) return;
      if (loading) pending.push(...lines);
      else append(lines);
    },
    /** The tab became visible: its geometry is back, so follow the newest line again. */
    shown() {
      if (follow) toBottom();
    },
    setStream,
    get total() {
      return lastLine;
    },
  };
}
