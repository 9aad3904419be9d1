// The run page's Artifacts tab: the launcher's manifest of the run directory as a table, a
// TensorBoard launcher, each offline W&B run's config and summary (or the link of an online one),
// and the manifest problems the scanner reported. Every name, path and value is user content: textContent only.

import { node } from "./dom.js";
import { flattenConfig, formatCount, formatDateTime } from "./format.js";
import * as tensorboardControl from "./tensorboard-control.js";

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];
const SHA_SHOWN = 12;

/** A byte count for people: "512 B", "27.0 KiB", "3.21 MiB". */
export function formatBytes(n) {
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0) return "—";
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${value} B`;
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${UNITS[unit]}`;
}

/** The first characters of a SHA-256, enough to tell files apart at a glance. */
export function shortSha(sha) {
  return typeof sha === "string" && sha.length > SHA_SHOWN ? `${sha.slice(0, SHA_SHOWN)}…` : sha || "";
}

function section(title, sub) {
  const panel = node("section", "panel art-section");
  const head = node("div", "panel-head");
  head.append(node("h2", "", title));
  if (sub !== undefined) head.append(node("span", "panel-sub", sub));
  panel.append(head);
  return [panel, head];
}

/** A W&B config or summary as a key/value list; nested values flattened as "a.b". */
function kvList(values, what) {
  // Keys starting with "_" are W&B's own bookkeeping (_wandb, _runtime, _step, _timestamp).
  const entries = flattenConfig(values && typeof values === "object" ? values : {}).filter(([k]) => !k.startsWith("_"));
  if (!entries.length) return node("p", "art-none", `No ${what} recorded.`);
  const list = node("dl", "kv art-kv");
  for (const [key, value] of entries) {
    const dt = node("dt", "", key);
    dt.title = key;
    const dd = node("dd", "", value);
    dd.title = value;
    list.append(dt, dd);
  }
  return list;
}

/** An http(s) address as a link that opens elsewhere; anything else is no link at all. */
export function safeLink(url, className) {
  if (typeof url !== "string" || !/^https?:\/\//i.test(url)) return null;
  const a = node("a", className, url);
  a.href = url;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  return a;
}

function wandbCard(entry) {
  const meta = entry.meta || {};
  const link = safeLink(entry.url, "art-wandb-link");
  const [panel, head] = section(link ? "W&B run" : "W&B offline run");
  panel.classList.add("art-card", "art-wandb");
  const who = [meta.entity, meta.project, meta.run_id].filter((x) => typeof x === "string" && x).join(" / ");
  if (who) head.append(node("span", "panel-sub art-who", who));
  const body = node("div", "art-card-body");
  if (link) {
    // A run linked by URL or id (its files are on W&B's side): the link, and its mode.
    const line = node("p", "art-note");
    line.append(`Linked W&B run (${typeof meta.mode === "string" ? meta.mode : "online"}): `, link);
    body.append(line);
    if (typeof meta.sync_hint === "string" && meta.sync_hint) body.append(node("p", "art-hint", meta.sync_hint));
    panel.append(body);
    return panel;
  }
  const columns = node("div", "art-kv-columns");
  for (const [title, values] of [["Config", meta.config], ["Summary", meta.summary]]) {
    const col = node("div", "art-kv-col");
    col.dataset.part = title.toLowerCase();
    col.append(node("h3", "art-sub", title), kvList(values, title.toLowerCase()));
    columns.append(col);
  }
  body.append(columns);
  if (typeof meta.sync_hint === "string" && meta.sync_hint) {
    const hint = node("p", "art-hint");
    hint.append(node("span", "art-hint-label", "Sync"), node("code", "art-sync", meta.sync_hint));
    body.append(hint);
  }
  panel.append(body);
  return panel;
}

function noWandbCard() {
  const [panel] = section("W&B");
  panel.classList.add("art-card", "art-no-wandb");
  const body = node("div", "art-card-body");
  const note = node("p", "art-note");
  note.append(
    "No W&B run found: no offline run (",
    node("code", "", "wandb/*/run-*.wandb"),
    ") in the run directory, and no run linked in ",
    node("code", "", "artifacts_manifest.json"),
    ".",
  );
  body.append(note);
  panel.append(body);
  return panel;
}

/** One entry per W&B run: wandb/latest-run is a link to the newest run's own directory. */
function distinctRuns(entries) {
  const seen = new Map();
  for (const entry of entries) {
    const meta = entry.meta || {};
    // A linked run is its own card, beside the same run's offline files if both are there.
    const key = entry.url ? `link ${entry.url}` : meta.run_id ? `${meta.project}/${meta.run_id}` : entry.path;
    const kept = seen.get(key);
    // Prefer the run's own directory over the "latest-run" alias in the sync hint.
    if (!kept || String(kept.path).includes("latest-run")) seen.set(key, entry);
  }
  return [...seen.values()];
}

function fileRow(entry) {
  const tr = node("tr");
  tr.dataset.kind = String(entry.kind || "file");
  const kind = node("td", "col-kind");
  kind.append(node("span", "art-kind", String(entry.kind || "file")));
  const path = node("td", "col-path", String(entry.path ?? ""));
  path.title = String(entry.path ?? "");
  const link = entry.path === undefined ? safeLink(entry.url, "art-link") : null;
  if (link) path.replaceChildren(link);
  const size = node("td", "col-num col-size", formatBytes(entry.size));
  if (typeof entry.size === "number") size.title = `${formatCount(entry.size)} bytes`;
  const mtime = node("td", "col-num col-mtime", typeof entry.mtime === "number" ? formatDateTime(entry.mtime) : "—");
  if (typeof entry.mtime === "number") mtime.title = new Date(entry.mtime * 1000).toISOString();
  const sha = node("td", "col-sha");
  if (typeof entry.sha256 === "string" && entry.sha256) {
    const code = node("code", "art-sha", shortSha(entry.sha256));
    code.title = entry.sha256;
    sha.append(code);
  } else {
    sha.textContent = "—";
    sha.classList.add("none");
  }
  tr.append(kind, path, size, mtime, sha);
  return tr;
}

function filesTable(manifest) {
  const table = node("table", "art-table");
  const head = node("tr");
  for (const [label, cls] of [["kind", "col-kind"], ["path", "col-path"], ["size", "col-num"], ["modified", "col-num"], ["sha-256", "col-sha"]]) {
    const th = node("th", cls, label);
    th.scope = "col";
    head.append(th);
  }
  const thead = node("thead");
  thead.append(head);
  const tbody = node("tbody");
  for (const entry of manifest) tbody.append(fileRow(entry));
  table.append(thead, tbody);
  return table;
}

/**
 * Mount into `root` (an empty element).
 *
 * opts.base      -> the run's API path (for the TensorBoard control)
 * opts.runDir()  -> the run directory, when known (for the empty state's guidance)
 * opts.onChange({ count, problems }) -> after the manifest or the problems changed
 */
export function mount(root, { base, runDir = () => null, onChange } = {}) {
  const problemsEl = node("section", "art-problems");
  problemsEl.setAttribute("role", "alert");
  problemsEl.hidden = true;
  const cards = node("div", "art-cards");
  const [tbPanel, tbHead] = section("TensorBoard");
  tbPanel.classList.add("art-card", "art-tensorboard");
  const tbCount = node("span", "panel-sub");
  tbHead.append(tbCount);
  const tbBody = node("div", "art-card-body");
  const tbNote = node("p", "art-note");
  const tbControl = node("div", "tb-control");
  tbBody.append(tbNote, tbControl);
  tbPanel.append(tbBody);
  tensorboardControl.mount(tbControl, { base });
  const wandbCards = node("div", "art-wandb-cards");
  cards.append(tbPanel, wandbCards);
  const [filesPanel, filesHead] = section("Files");
  filesPanel.classList.add("art-files");
  const filesCount = node("span", "panel-sub art-count");
  filesHead.append(filesCount);
  const tableBox = node("div", "art-table-box");
  const empty = node("div", "empty art-empty");
  filesPanel.append(tableBox, empty);
  root.replaceChildren(problemsEl, cards, filesPanel);

  let manifest = [];
  let loaded = false;
  const problems = new Map(); // event seq (or text) -> problem text, in arrival order

  function renderProblems() {
    problemsEl.replaceChildren();
    problemsEl.hidden = problems.size === 0;
    if (!problems.size) return;
    const n = problems.size;
    problemsEl.append(node("h2", "art-problems-title", `${n} artifact problem${n === 1 ? "" : "s"} (entries skipped)`));
    const list = node("ul", "art-problem-list");
    for (const text of problems.values()) list.append(node("li", "art-problem", text));
    problemsEl.append(list);
  }

  function renderEmpty() {
    const dir = runDir();
    empty.replaceChildren();
    if (!loaded) {
      empty.textContent = "Loading the artifact manifest…";
      return;
    }
    empty.append(node("p", "art-empty-title", "No artifacts in this run’s manifest yet."));
    const how = node("p", "art-empty-how");
    how.append(
      "Write TensorBoard event files under ",
      node("code", "", `${dir ? dir.replace(/\/+$/, "") : "<run dir>"}/tensorboard/`),
      ", checkpoints under ",
      node("code", "", "checkpoints/"),
      ", or list files in ",
      node("code", "", "artifacts_manifest.json"),
      ". The launcher rescans the run directory while the worker runs, and once more when it ends.",
    );
    empty.append(how);
  }

  function render() {
    const tb = manifest.filter((e) => e.kind === "tensorboard");
    tbPanel.hidden = tb.length === 0;
    // A logdir the worker's manifest names is listed beside its event files: count files only.
    const files = tb.filter((e) => !(e.meta && typeof e.meta.files === "number")).length;
    tbCount.textContent = `${formatCount(files)} event file${files === 1 ? "" : "s"}`;
    const dir = runDir();
    tbNote.textContent = `A TensorBoard over ${dir || "the run directory"}, started on the server’s machine (127.0.0.1).`;
    const wandbRuns = distinctRuns(manifest.filter((e) => e.kind === "wandb")).map(wandbCard);
    // TensorBoard files but no W&B run: say that none was found rather than show nothing.
    if (tb.length && !wandbRuns.length) wandbRuns.push(noWandbCard());
    wandbCards.replaceChildren(...wandbRuns);
    cards.hidden = tbPanel.hidden && wandbCards.childElementCount === 0;
    const sized = manifest.filter((e) => typeof e.size === "number");
    const total = sized.reduce((sum, e) => sum + e.size, 0);
    // Entries of unknown size add nothing to a total that would then look exact.
    const bytes = sized.length === manifest.length ? formatBytes(total) : sized.length ? `≥ ${formatBytes(total)}` : "size unknown";
    filesCount.textContent = manifest.length ? `${formatCount(manifest.length)} · ${bytes}` : "";
    tableBox.replaceChildren(...(manifest.length ? [filesTable(manifest)] : []));
    empty.hidden = manifest.length > 0;
    if (!manifest.length) renderEmpty();
    if (loaded && onChange) onChange({ count: manifest.length, problems: problems.size });
  }

  function noteProblem(event) {
    const payload = event && event.payload ? event.payload : {};
    const text = typeof payload.problem === "string" ? payload.problem : JSON.stringify(payload);
    problems.set(event.seq ?? text, text);
  }

  render();
  return {
    /** The whole manifest (hydration or a live "artifact" message: it replaces). */
    setManifest(list) {
      manifest = Array.isArray(list) ? list.filter((e) => e && typeof e === "object") : [];
      loaded = true;
      render();
    },
    /** `artifact.invalid` events read from the server (merged: a problem is keyed by its seq). */
    addProblems(events) {
      for (const event of events || []) noteProblem(event);
      renderProblems();
      render();
    },
    /** One live `artifact.invalid` event. */
    addProblem(event) {
      noteProblem(event);
      renderProblems();
      render();
    },
    get count() {
      return manifest.length;
    },
  };
}
