// The run page's Media tab: a panel per image key (images, heatmaps, label maps) and a
// distribution chart per histogram key, in key order, hydrated from /state and `…/media`, then
// kept current by the live socket's `media` and `histogram` messages (metadata only: a panel
// fetches its image when it is on screen).

import { describeError, getJSON, keyPath } from "./api.js";
import * as distributionChart from "./distribution-chart.js";
import { node } from "./dom.js";
import { cappedText } from "./media-data.js";
import * as mediaPanel from "./media-panel.js";
import { may, whoami } from "./whoami.js";

export const MAX_PANELS = 200; // image keys shown (the first in key order)
export const MAX_DISTRIBUTIONS = 100; // histogram keys shown (the first in key order)
const DIST_COLOR = "#f59e0b";

function setNote(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

/** Insert `child` into `parent` in key order (children carry data-key). */
function placeByKey(parent, child, key) {
  const next = [...parent.children].find((c) => c.dataset.key > key);
  parent.insertBefore(child, next || null);
}

/**
 * Mount in `el` (the tab's section). `base`: the run's API path; `openEntity(id)` opens the
 * page's entity drawer; `sendCommand(kind, payload)` posts a run command; `onCount(n)` hears
 * how many image and histogram keys the run has (drawn or past the caps).
 */
export function mount(el, { base, openEntity, sendCommand, onCount }) {
  const imagesHead = node("h2", "media-section", "Images");
  const grid = node("div", "media-grid");
  const distHead = node("h2", "media-section", "Distributions");
  const dists = node("div", "dist-grid");
  const empty = node("p", "empty media-empty", "No images or histograms logged yet. They appear here as the run logs them (run.image, run.histogram).");
  const status = node("p", "media-status");
  status.hidden = true;
  const imagesCapped = node("p", "media-capped");
  const distsCapped = node("p", "media-capped");
  imagesCapped.hidden = distsCapped.hidden = true;
  el.append(empty, status, imagesHead, imagesCapped, grid, distHead, distsCapped, dists);
  const panels = new Map(); // key -> media panel
  const charts = new Map(); // key -> distribution chart
  // Every key the run has, drawn or past the caps (its /state lists them all, live messages
  // add new ones): the badge and the notices count them. As many as /state holds.
  const imageKeys = new Set();
  const histKeys = new Set();
  let running = false;
  let commanding = false;
  let kinds = []; // the command kinds the producer handles
  let revealing = null; // an image key to scroll to once its panel comes
  whoami().then((who) => {
    commanding = may(who, "admin");
    syncAllowed();
  });

  function syncAllowed() {
    for (const p of panels.values()) p.setAllowed(running && commanding);
  }

  function setKinds(list) {
    kinds = list;
    for (const p of panels.values()) p.setKinds(kinds);
  }

  function syncCount() {
    imagesHead.hidden = grid.hidden = panels.size === 0;
    distHead.hidden = dists.hidden = charts.size === 0;
    setNote(imagesCapped, cappedText(panels.size, MAX_PANELS, imageKeys.size, "image keys"));
    setNote(distsCapped, cappedText(charts.size, MAX_DISTRIBUTIONS, histKeys.size, "histogram keys"));
    empty.hidden = imageKeys.size + histKeys.size > 0;
    if (onCount) onCount(imageKeys.size + histKeys.size);
  }

  function addPanel(info) {
    imageKeys.add(info.key);
    if (panels.has(info.key) || panels.size >= MAX_PANELS) {
      syncCount();
      return;
    }
    const box = node("section");
    placeByKey(grid, box, info.key);
    const panel = mediaPanel.mount(box, info, {
      load: (key, step) => getJSON(`${base}/media/${keyPath(key)}`, { step }),
      openEntity,
      sendCommand,
    });
    panels.set(info.key, panel);
    panel.setKinds(kinds);
    panel.setAllowed(running && commanding);
    syncCount();
    if (revealing === info.key) reveal(info.key);
  }

  /** Scroll `key`'s panel into view (when its panel comes, if it has not yet). */
  function reveal(key) {
    const box = grid.querySelector(`:scope > [data-key="${CSS.escape(key)}"]`);
    revealing = box ? null : key;
    if (!box) return;
    for (const other of grid.querySelectorAll(":scope > [data-revealed]")) delete other.dataset.revealed;
    box.dataset.revealed = "true";
    box.scrollIntoView({ block: "nearest" });
  }

  function addChart(key) {
    histKeys.add(key);
    if (charts.has(key) || charts.size >= MAX_DISTRIBUTIONS) {
      syncCount();
      return;
    }
    const box = node("section");
    placeByKey(dists, box, key);
    const chart = distributionChart.mount(box, {
      key,
      series: [{ id: "run", label: key, color: DIST_COLOR }],
      load: () => getJSON(`${base}/histograms/${keyPath(key)}`, { max_steps: distributionChart.MAX_STEPS }),
    });
    charts.set(key, chart);
    syncCount();
  }

  async function loadKeys() {
    let answer;
    try {
      answer = await getJSON(`${base}/media`, { limit: MAX_PANELS });
    } catch (err) {
      status.textContent = `Could not load the run's images: ${describeError(err)}`;
      status.hidden = false;
      return;
    }
    status.hidden = true;
    // A panel a live message made meanwhile takes the listing's kept steps.
    for (const info of answer.keys) {
      if (panels.has(info.key)) panels.get(info.key).merge(info);
      else addPanel(info);
    }
  }

  return {
    /** Everything from /state at once (page load, or a re-sync after a reset). */
    hydrate(state) {
      running = state.run.status === "running";
      setKinds(state.run.command_kinds || []);
      syncAllowed();
      for (const key of Object.keys(state.media || {})) imageKeys.add(key);
      for (const key of Object.keys(state.histograms || {}).sort()) {
        if (charts.has(key)) charts.get(key).refresh();
        else addChart(key);
      }
      if (Object.keys(state.media || {}).length) loadKeys();
      syncCount();
    },
    /** Scroll an image key's panel into view (the tab is shown by the caller). */
    reveal,
    /** One live message (every type; those the tab does not use are ignored). */
    apply(msg) {
      switch (msg.type) {
        case "media": {
          const item = { ...msg, url: `${base}/blobs/${msg.sha256}` };
          // A new key's panel starts at this step; `add` remembers it for the listing to come.
          if (!panels.has(msg.key)) addPanel({ key: msg.key, kind: msg.kind, count: 1, first_step: msg.step, last_step: msg.step, newest: item });
          if (panels.has(msg.key)) panels.get(msg.key).add(msg, item);
          break;
        }
        case "histogram":
          if (charts.has(msg.key)) charts.get(msg.key).refresh();
          else addChart(msg.key);
          break;
        case "command":
          for (const p of panels.values()) p.noteCommand(msg.command);
          break;
        case "command_kinds":
          setKinds(msg.kinds);
          break;
        case "status":
          running = msg.state === "running";
          syncAllowed();
          break;
        case "run.closed":
          running = false;
          syncAllowed();
          break;
        default:
          break;
      }
    },
    /** How many image and histogram keys the run has (drawn or past the caps). */
    get count() {
      return imageKeys.size + histKeys.size;
    },
  };
}
