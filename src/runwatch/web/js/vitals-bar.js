// The header's vitals bar: one card per vital (the keys the producer marked with
// `log(..., vital=True)`, then every `sys/` key) with its latest value and a sparkline.

import { node } from "./dom.js";
import { formatVital, hashIndex, toNumber, vitalLabel } from "./format.js";
import * as sparkline from "./sparkline.js";

export const MAX_VITALS = 32;
const MAX_MARKED = 256; // marked keys remembered (the SDK marks at most 64)
const COLORS = ["#2dd4bf", "#a78bfa", "#fbbf24", "#38bdf8", "#f472b6", "#a3e635", "#fb923c", "#818cf8"];

/**
 * Mount on an (initially hidden) container; it shows itself once it has a vital.
 * `load(keys)` resolves to {series: {key: {x, value}}}: the newest samples of keys marked live.
 */
export function mount(el, { load } = {}) {
  const cards = new Map(); // key -> { card, value, spark }
  const early = new Map(); // key marked live whose history is loading -> live [step, value]s meanwhile
  let marked = [];
  let generation = 0; // bumped by hydrate: a load started before it is stale

  const isVital = (key) => key.startsWith("sys/") || marked.includes(key);
  // Marked keys first, in the producer's order, then system vitals alphabetically.
  const rank = (key) => (marked.includes(key) ? `0${String(marked.indexOf(key)).padStart(3, "0")}` : `1${key}`);

  function cardFor(key) {
    let entry = cards.get(key);
    if (entry || cards.size >= MAX_VITALS) return entry;
    const card = node("div", "vital");
    card.dataset.key = key;
    card.title = key;
    const head = node("div", "vital-head");
    const value = node("span", "vital-value", "—");
    head.append(node("span", "vital-label", vitalLabel(key)), value);
    const plot = node("div", "vital-plot");
    card.append(head, plot);
    const color = COLORS[hashIndex(key, COLORS.length)];
    card.style.setProperty("--vital-color", color);
    const spark = sparkline.mount(plot, { color });
    const next = [...el.children].find((c) => rank(c.dataset.key) > rank(key));
    el.insertBefore(card, next || null);
    entry = { card, value, spark };
    cards.set(key, entry);
    el.hidden = false;
    return entry;
  }

  function showLatest(key, entry) {
    entry.value.textContent = formatVital(key, entry.spark.latest);
    entry.card.dataset.samples = String(entry.spark.count);
  }

  /** Cards in rank order (a newly marked key moves ahead of the system vitals). */
  function reorder() {
    const sorted = [...cards.keys()].sort((a, b) => (rank(a) < rank(b) ? -1 : 1));
    el.append(...sorted.map((key) => cards.get(key).card));
  }

  /** Give keys marked live their cards with their history; points arriving meanwhile wait. */
  async function backfill(keys) {
    const mine = generation;
    for (const key of keys) early.set(key, []);
    let answer = { series: {} };
    try {
      if (load) answer = await load(keys);
    } catch {
      // The cards still come with the next live points; their history shows after a reload.
    }
    if (mine !== generation) return;
    for (const key of keys) {
      const series = (answer.series || {})[key] || { x: [], value: [] };
      const last = series.x.length ? series.x[series.x.length - 1] : -Infinity;
      // Live points the answer already held (it was read after them) count once.
      const later = (early.get(key) || []).filter(([step]) => step > last);
      early.delete(key);
      if (!series.x.length && !later.length) continue; // as after a reload: no points, no card
      const entry = cardFor(key);
      if (!entry) continue;
      entry.spark.set(series.x, series.value.map(toNumber));
      for (const [step, value] of later) entry.spark.push(step, value);
      showLatest(key, entry);
    }
  }

  return {
    /** From /state: the run (its `vitals` keys) and `vitals` ({key: {x, value}}). */
    hydrate(run, vitals) {
      generation += 1;
      early.clear();
      for (const { spark } of cards.values()) spark.destroy();
      cards.clear();
      el.replaceChildren();
      marked = [...(run.vitals || [])].slice(0, MAX_MARKED);
      const keys = [...new Set([...marked, ...Object.keys(vitals || {})])].sort((a, b) => (rank(a) < rank(b) ? -1 : 1));
      for (const key of keys) {
        const series = (vitals || {})[key];
        if (!series) continue;
        const entry = cardFor(key);
        if (!entry) break;
        entry.spark.set(series.x, series.value.map(toNumber));
        showLatest(key, entry);
      }
      el.hidden = cards.size === 0;
    },
    /** A live `points` message's columns: {key: {step: [...], value: [...]}}. */
    addPoints(points) {
      for (const [key, cols] of Object.entries(points || {})) {
        if (!isVital(key)) continue;
        const waiting = early.get(key);
        if (waiting) {
          // Its history is loading: keep the newest (the sparkline shows no more than these).
          for (let i = 0; i < cols.step.length; i++) waiting.push([cols.step[i], toNumber(cols.value[i])]);
          waiting.splice(0, Math.max(0, waiting.length - sparkline.MAX_SAMPLES));
          continue;
        }
        const entry = cardFor(key);
        if (!entry) continue;
        for (let i = 0; i < cols.step.length; i++) entry.spark.push(cols.step[i], toNumber(cols.value[i]));
        showLatest(key, entry);
      }
    },
    /** A live `vitals` message: every key the producer marked so far; new ones join the bar. */
    mark(keys) {
      const fresh = (keys || []).filter((key) => !marked.includes(key));
      marked = [...new Set([...marked, ...(keys || [])])].slice(0, MAX_MARKED);
      const room = Math.max(0, MAX_VITALS - cards.size - early.size);
      const unseen = fresh.filter((key) => marked.includes(key) && !cards.has(key) && !early.has(key)).slice(0, room);
      reorder();
      if (unseen.length) backfill(unseen);
    },
  };
}
