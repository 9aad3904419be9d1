// The run's request snapshot (what it takes to reproduce it, captured by the SDK at init) as a
// two-column list: command line, Python, host, directories, git state, package versions.

import { node } from "./dom.js";
import { formatDateTime, formatScalar } from "./format.js";

const SHOWN = ["template", "params", "argv", "python", "executable", "platform", "hostname", "pid", "cwd", "run_dir", "started_at", "git", "packages"];
const MAX_PACKAGES = 200;

function textOf(value) {
  return value === null || value === undefined ? "" : formatScalar(value);
}

/** The rows to show: [label, string | Node][]. */
function rowsOf(s) {
  const rows = [];
  const add = (label, value) => {
    if (value !== "" && value !== null && value !== undefined) rows.push([label, value]);
  };
  add("template", textOf(s.template));
  if (s.params && typeof s.params === "object") {
    const chips = node("span", "param-chips");
    for (const name of Object.keys(s.params).sort()) {
      chips.append(node("span", "tag param-chip", `${name}=${textOf(s.params[name])}`));
    }
    rows.push(["parameters", chips]);
  }
  if (Array.isArray(s.argv)) add("command", s.argv.map(textOf).join(" "));
  else add("command", textOf(s.argv));
  add("python", textOf(s.python));
  add("executable", textOf(s.executable));
  add("platform", textOf(s.platform));
  const host = textOf(s.hostname);
  add("host", s.pid !== undefined && s.pid !== null ? `${host} · pid ${textOf(s.pid)}` : host);
  add("cwd", textOf(s.cwd));
  add("run dir", textOf(s.run_dir));
  if (typeof s.started_at === "number") add("started", formatDateTime(s.started_at));
  if (s.git && typeof s.git === "object") {
    const git = node("span", "snap-git");
    const commit = textOf(s.git.commit);
    git.append(node("span", "git-commit", commit.slice(0, 12)));
    git.title = commit;
    if (s.git.branch) git.append(node("span", "git-branch", ` on ${textOf(s.git.branch)}`));
    const dirty = Boolean(s.git.dirty);
    const flag = node("span", "git-flag", dirty ? "dirty" : "clean");
    flag.dataset.dirty = String(dirty);
    git.append(flag);
    rows.push(["git", git]);
  }
  if (s.packages && typeof s.packages === "object") {
    const names = Object.keys(s.packages).sort().slice(0, MAX_PACKAGES);
    if (names.length) {
      const list = node("span", "pkg-list");
      for (const name of names) {
        const chip = node("span", "tag pkg");
        chip.append(node("span", "pkg-name", name), node("span", "pkg-version", ` ${textOf(s.packages[name])}`));
        list.append(chip);
      }
      rows.push(["packages", list]);
    }
  }
  for (const key of Object.keys(s).sort()) {
    if (!SHOWN.includes(key)) add(key, textOf(s[key]));
  }
  return rows;
}

/** Render `snapshot` into `el`; returns how many rows it shows. */
export function mount(el, snapshot) {
  el.replaceChildren();
  const rows = snapshot && typeof snapshot === "object" ? rowsOf(snapshot) : [];
  if (!rows.length) {
    el.append(node("p", "empty", "No request snapshot recorded for this run."));
    return 0;
  }
  const list = node("dl", "kv kv-wrap");
  for (const [label, value] of rows) {
    const dt = node("dt", "", label);
    const dd = node("dd");
    dd.dataset.field = label;
    if (typeof value === "string") {
      dd.textContent = value;
      dd.title = value;
    } else {
      dd.append(value);
    }
    list.append(dt, dd);
  }
  el.append(list);
  return rows.length;
}
