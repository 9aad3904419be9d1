// The header's vitals bar: one card per vital (the keys the producer marked with
// `log(..., vital=True)`, then every `sys/` key) with its latest value and a sparkline.

import { formatVital, hashIndex, toNumber, vitalLabel } from "./format.js";
import * as sparkline from "./sparkline.js";

export const MAX_VITALS = 32;
const COLORS = ["#2dd4bf", "#a78bfa", "#fbbf24", "#38bdf8", "#f472b6", "#a3e635", "#fb923c", "#818cf8"];

function node(tag, className, text) {
  const el = document.createElement(tag);
  el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

/** Mount on an (initially hidden) container; it shows itself once it has a vital. */
export function mount(el) {
  const cards = new Map(); // key -> { card, value, spark }
  let marked = [];

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

  return {
    /** From /state: the run (its `vitals` keys) and `vitals` ({key: {x, value}}). */
    hydrate(run, vitals) {
      for (const { spark } of cards.values()) spark.destroy();
      cards.clear();
      el.replaceChildren();
      marked = [...(run.vitals || [])];
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
        const entry = cardFor(key);
        if (!entry) continue;
        for (let i = 0; i < cols.step.length; i++) entry.spark.push(cols.step[i], toNumber(cols.value[i]));
        showLatest(key, entry);
      }
    },
  };
}
