// The compare page's media: for each image key, the runs' images side by side at one step
// (one slider; each run shows its kept step nearest it; a heatmap with its scale and the value
// under the cursor, as on the run page), and for each histogram key the runs' distributions
// overlaid on one chart. Live `media`/`histogram` messages extend them.

import { describeError, getJSON, keyPath, runPath } from "./api.js";
import * as distributionChart from "./distribution-chart.js";
import { node } from "./dom.js";
import { formatCount } from "./format.js";
import * as heatmap from "./heatmap.js";
import { cappedText } from "./media-data.js";
import * as images from "./media-images.js";

export const MAX_KEYS = 50; // image keys compared (the first in key order)
export const MAX_DISTRIBUTIONS = 50;

/** One run's image of a key at the row's step: asks `?step=`, the latest wish wins. A run
 * without the key (`hasKey()` false) is never asked: it would only answer 404. */
function cell(run, key, hasKey) {
  const el = node("figure", "cmp-media-cell");
  el.dataset.run = run.id;
  el.style.setProperty("--swatch", run.color);
  const canvas = node("canvas", "media-canvas");
  canvas.width = canvas.height = 0;
  const label = node("figcaption", "cmp-media-label");
  const name = node("span", "cmp-media-run", run.name);
  const where = node("span", "cmp-media-step");
  const caption = node("span", "media-caption");
  label.append(name, where, caption);
  const below = heatmap.under(canvas);
  el.append(canvas, below.el, label);
  let wanted = null;
  let busy = false;

  async function fetchWanted() {
    if (busy || wanted === null) return;
    if (!hasKey()) {
      where.textContent = "no images for this key";
      el.dataset.step = "";
      return;
    }
    const step = wanted;
    busy = true;
    try {
      const answer = await getJSON(`${runPath(run.id)}/media/${keyPath(key)}`, { step });
      const img = await images.load(answer.item);
      if (wanted === step) {
        heatmap.paint(canvas, img);
        below.show(img);
        where.textContent = `step ${formatCount(answer.item.step)}`;
        caption.textContent = answer.item.caption || "";
        el.dataset.step = String(answer.item.step);
        el.dataset.sha = answer.item.sha256;
      }
    } catch (err) {
      where.textContent = err && err.status === 404 ? "no image" : `could not load: ${describeError(err)}`;
      el.dataset.step = "";
    }
    busy = false;
    if (wanted !== step) fetchWanted();
  }

  return {
    el,
    show(step) {
      wanted = step;
      fetchWanted();
    },
  };
}

/** One image key: a slider over the runs' steps and a cell per run. */
function row(runs, key, range, has) {
  const el = node("section", "panel cmp-media-row");
  el.dataset.key = key;
  const head = node("div", "panel-head");
  const title = node("h3", "media-key", key);
  title.title = key;
  const where = node("span", "panel-sub media-step");
  head.append(title, where);
  const slider = node("input", "media-range");
  slider.type = "range";
  slider.step = "1";
  slider.setAttribute("aria-label", `step of ${key}`);
  const cells = runs.map((r) => cell(r, key, () => has.get(r.id).images.has(key)));
  const grid = node("div", "cmp-media-cells");
  grid.append(...cells.map((c) => c.el));
  el.append(head, grid, slider);
  let [first, last] = range;
  let step = last;

  function show() {
    slider.min = String(first);
    slider.max = String(last);
    slider.value = String(step);
    where.textContent = `step ${formatCount(step)}`;
    el.dataset.step = String(step);
    for (const c of cells) c.show(step);
  }
  slider.addEventListener("input", () => {
    step = Number(slider.value);
    show();
  });
  show();
  return {
    el,
    /** A run holds steps `lo` to `hi` of this key (a live image, or a listing answering after
     * one made the row): the slider grows; a thumb at the end follows. */
    add([lo, hi]) {
      const atEnd = step >= last;
      first = Math.min(first, lo);
      last = Math.max(last, hi);
      if (atEnd) step = last;
      show();
    },
  };
}

/** Mount in `el` for `runs` ([{id, name, color}]) and their /state answers. */
export function mount(el, runs, states) {
  const imagesHead = node("h2", "media-section", "Images");
  const rowsEl = node("div", "cmp-media-rows");
  const distHead = node("h2", "media-section", "Distributions");
  const dists = node("div", "dist-grid");
  const rowsCapped = node("p", "media-capped");
  const distsCapped = node("p", "media-capped");
  el.append(imagesHead, rowsCapped, rowsEl, distHead, distsCapped, dists);
  const rows = new Map();
  const charts = new Map();
  // Each run's image and histogram keys (its /state lists them all, live messages add new
  // ones): a run is asked only for keys it has, so a key it lacks is no failed request.
  const has = new Map(
    runs.map((r, i) => [r.id, { images: new Set(Object.keys(states[i].media || {})), histograms: new Set(Object.keys(states[i].histograms || {})) }]),
  );

  function place(parent, child, key) {
    const next = [...parent.children].find((c) => c.dataset.key > key);
    parent.insertBefore(child, next || null);
  }

  /** How many different keys of `kind` ("images", "histograms") the runs have together. */
  function keysOf(kind) {
    return new Set([...has.values()].flatMap((h) => [...h[kind]])).size;
  }

  function note(p, text) {
    p.textContent = text;
    p.hidden = !text;
  }

  function sync() {
    imagesHead.hidden = rowsEl.hidden = rows.size === 0;
    distHead.hidden = dists.hidden = charts.size === 0;
    note(rowsCapped, cappedText(rows.size, MAX_KEYS, keysOf("images"), "image keys"));
    note(distsCapped, cappedText(charts.size, MAX_DISTRIBUTIONS, keysOf("histograms"), "histogram keys"));
    el.hidden = rows.size + charts.size === 0;
  }

  /** A row for `key` over `range` ([first, last] step), or the row there is grown to it (a
   * live image may have made it before the runs' listings answered). */
  function addRow(key, range) {
    if (rows.has(key)) {
      rows.get(key).add(range);
      return;
    }
    if (rows.size >= MAX_KEYS) {
      sync();
      return;
    }
    const r = row(runs, key, range, has);
    place(rowsEl, r.el, key);
    rows.set(key, r);
    sync();
  }

  function addChart(key) {
    if (charts.has(key)) return;
    if (charts.size >= MAX_DISTRIBUTIONS) {
      sync();
      return;
    }
    const box = node("section");
    place(dists, box, key);
    charts.set(
      key,
      distributionChart.mount(box, {
        key,
        series: runs.map((r) => ({ id: r.id, label: r.name, color: r.color })),
        load: (id) =>
          has.get(id).histograms.has(key)
            ? getJSON(`${runPath(id)}/histograms/${keyPath(key)}`, { max_steps: distributionChart.MAX_STEPS })
            : Promise.resolve({ steps: [], in_range: 0 }),
      }),
    );
    sync();
  }

  async function loadKeys() {
    const ranges = new Map(); // key -> [first, last] over the runs
    const answers = await Promise.allSettled(
      runs.map((r, i) => (Object.keys(states[i].media || {}).length ? getJSON(`${runPath(r.id)}/media`, { limit: MAX_KEYS }) : { keys: [] })),
    );
    for (const a of answers) {
      if (a.status !== "fulfilled") continue;
      for (const k of a.value.keys) {
        const [f, l] = ranges.get(k.key) || [Infinity, -Infinity];
        ranges.set(k.key, [Math.min(f, k.first_step), Math.max(l, k.last_step)]);
      }
    }
    for (const key of [...ranges.keys()].sort()) addRow(key, ranges.get(key));
  }

  for (const key of [...new Set(states.flatMap((s) => Object.keys(s.histograms || {})))].sort()) addChart(key);
  sync();
  loadKeys();

  return {
    /** A live message of the run `runId`. */
    apply(runId, msg) {
      if (msg.type === "media") {
        has.get(runId).images.add(msg.key);
        addRow(msg.key, [msg.step, msg.step]);
      } else if (msg.type === "histogram") {
        has.get(runId).histograms.add(msg.key);
        if (charts.has(msg.key)) charts.get(msg.key).refresh();
        else addChart(msg.key);
      }
    },
  };
}
