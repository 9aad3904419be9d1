// The snapshot scrubber: pick a key, drag through its kept versions; the value of the version
// under the thumb is fetched on demand (one request at a time, the latest wish wins). New
// versions extend the slider live; a thumb at the newest version follows them.

import { describeError } from "./api.js";
import { node } from "./dom.js";
import { formatClock, formatCount } from "./format.js";
import * as snapshotView from "./snapshot-view.js";

export const MAX_KEYS = 500;
export const MAX_VERSIONS = 1000; // per key (the server keeps at most 64)

/**
 * Mount in `el`. `keySelect`: the <select> of keys; `load(key, at)` resolves to the server's
 * {versions, current} (at: a version, or null for the latest); `onChange({keys})` hears when
 * keys appear (to show the panel).
 */
export function mount(el, { keySelect, load, onChange }) {
  const controls = node("div", "snap-controls");
  const slider = node("input", "snap-range");
  slider.type = "range";
  slider.min = "0";
  slider.max = "0";
  slider.step = "1";
  slider.setAttribute("aria-label", "snapshot version");
  const where = node("span", "snap-where", "—");
  const position = node("span", "snap-position");
  controls.append(slider, where, position);
  const view = node("div", "snap-view");
  const status = node("p", "snap-status");
  status.hidden = true;
  el.append(controls, status, view);

  const keys = new Set();
  let key = null; // the key on show
  let versions = []; // [{version, step, ts, reason}], oldest first
  let wanted = null; // the version the thumb is on
  let loading = null; // the version being fetched
  let shownVersion = null;
  let epoch = 0; // bumped when the key changes: answers for an older key are dropped
  let ready = false; // the key's versions have loaded
  let droppedEarly = new Set(); // versions dropped while they were loading
  let repaint = () => {};

  function describe(v) {
    return v ? `v${v.version} · step ${formatCount(v.step)}` : "—";
  }

  function syncSlider(index) {
    slider.max = String(Math.max(0, versions.length - 1));
    slider.value = String(index);
    slider.disabled = versions.length < 2;
    const v = versions[index];
    where.textContent = describe(v);
    where.dataset.version = v ? String(v.version) : "";
    where.dataset.step = v ? String(v.step) : "";
    where.title = v ? `${v.reason} · ${formatClock(v.ts)}` : "";
    position.textContent = versions.length ? `${index + 1} / ${versions.length} · ${v.reason}` : "";
  }

  async function fetchWanted() {
    if (loading !== null || wanted === null || wanted === shownVersion) return;
    const mine = epoch;
    loading = wanted;
    view.dataset.loading = "true";
    let answer;
    try {
      answer = await load(key, loading);
    } catch (err) {
      if (mine !== epoch) return;
      loading = null;
      status.textContent = `Could not load version ${wanted}: ${describeError(err)}`;
      status.hidden = false;
      view.dataset.loading = "false";
      return;
    }
    loading = null;
    if (mine !== epoch) return;
    status.hidden = true;
    shownVersion = answer.current.version;
    ({ repaint } = snapshotView.render(view, answer.current.value));
    view.dataset.version = String(shownVersion);
    view.dataset.step = String(answer.current.step);
    view.dataset.loading = "false";
    fetchWanted(); // the thumb moved on meanwhile
  }

  async function show(name) {
    const mine = ++epoch;
    key = name;
    ready = false;
    droppedEarly = new Set();
    keySelect.value = name;
    versions = [];
    wanted = shownVersion = loading = null;
    view.replaceChildren();
    delete view.dataset.version;
    view.dataset.loading = "true";
    let answer;
    try {
      answer = await load(name, null);
    } catch (err) {
      if (mine !== epoch) return;
      status.textContent = `Could not load “${name}”: ${describeError(err)}`;
      status.hidden = false;
      view.dataset.loading = "false";
      return;
    }
    if (mine !== epoch) return;
    ready = true;
    // Versions announced live while this was loading are merged, not lost.
    const known = new Set(answer.versions.map((v) => v.version));
    versions = answer.versions
      .concat(versions.filter((v) => !known.has(v.version)))
      .filter((v) => !droppedEarly.has(v.version))
      .slice(-MAX_VERSIONS);
    versions.sort((a, b) => a.version - b.version);
    const index = versions.findIndex((v) => v.version === answer.current.version);
    syncSlider(index < 0 ? versions.length - 1 : index);
    wanted = shownVersion = answer.current.version;
    status.hidden = true;
    ({ repaint } = snapshotView.render(view, answer.current.value));
    view.dataset.version = String(shownVersion);
    view.dataset.step = String(answer.current.step);
    view.dataset.loading = "false";
    if (versions.length && versions[versions.length - 1].version !== wanted) {
      syncSlider(versions.length - 1);
      wanted = versions[versions.length - 1].version;
      fetchWanted();
    }
  }

  function addKey(name) {
    if (keys.has(name) || keys.size >= MAX_KEYS) return false;
    keys.add(name);
    const option = node("option", "", name);
    option.value = name;
    const next = [...keySelect.options].find((o) => o.value > name);
    keySelect.insertBefore(option, next || null);
    return true;
  }

  slider.addEventListener("input", () => {
    const v = versions[Number(slider.value)];
    if (!v) return;
    syncSlider(Number(slider.value));
    wanted = v.version;
    fetchWanted();
  });
  keySelect.addEventListener("change", () => show(keySelect.value));
  new ResizeObserver(() => repaint()).observe(view);

  return {
    /** Show `name`'s versions (a key the scrubber lists; others are ignored). */
    select(name) {
      if (keys.has(name) && name !== key) show(name);
    },
    /** From /state: {key: number of kept versions}. */
    setKeys(counts) {
      keys.clear();
      keySelect.replaceChildren();
      const names = Object.keys(counts || {}).sort();
      for (const name of names) addKey(name);
      if (onChange) onChange({ keys: keys.size });
      if (!keys.size) return;
      show(keys.has(key) ? key : names[0]);
    },
    /** A live `snapshot` message: a new kept version of `msg.key` (and versions dropped). */
    onSnapshot(msg) {
      if (addKey(msg.key) && onChange) onChange({ keys: keys.size });
      if (key === null) {
        show(msg.key);
        return;
      }
      if (msg.key !== key) return;
      const atEnd = !versions.length || Number(slider.value) === versions.length - 1;
      const dropped = new Set(msg.dropped || []);
      if (!ready) for (const v of dropped) droppedEarly.add(v);
      versions = versions.filter((v) => !dropped.has(v.version) && v.version !== msg.version);
      versions.push({ version: msg.version, step: msg.step, ts: msg.ts, reason: msg.reason });
      versions = versions.slice(-MAX_VERSIONS);
      if (!ready) return; // show() merges these when the key's versions arrive
      if (atEnd || !versions.some((v) => v.version === wanted)) {
        syncSlider(versions.length - 1);
        wanted = msg.version;
        fetchWanted();
      } else {
        syncSlider(versions.findIndex((v) => v.version === wanted));
      }
    },
  };
}
