// The run's latest value of every key (its summary): numbers formatted, text values (strings
// passed to log()) shown as text, via textContent only. Hydrated from the run's summary, then
// kept current by the live "points" and "texts" messages.

import { formatValue, isNonFiniteWord } from "./format.js";
import { compareMetricKeys } from "./metric-order.js";

// Keys shown (the first in key order, the user's before the sys/ vitals); a summary past it
// says so in the count.
export const MAX_KEYS = 500;

/**
 * Whether a summary value is text: a string, unless it spells a non-finite number on a key that
 * has points (the summary keeps a NaN point as "nan"; on a key without points, "nan" can only be
 * the three letters logged as text).
 */
export function isSummaryText(key, value, numericKeys) {
  return typeof value === "string" && !(isNonFiniteWord(value) && numericKeys.has(key));
}

/** Mount on `el` (a container) with `countEl` for the count; returns the update hooks. */
export function mount(el, countEl) {
  const values = new Map(); // key -> {text: bool, value}

  function draw() {
    const keys = [...values.keys()].sort(compareMetricKeys).slice(0, MAX_KEYS);
    if (!keys.length) {
      const empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = "No values logged yet.";
      el.replaceChildren(empty);
      countEl.textContent = "";
      return;
    }
    const list = document.createElement("dl");
    list.className = "kv latest-values";
    for (const key of keys) {
      const { text, value } = values.get(key);
      const dt = document.createElement("dt");
      dt.textContent = key;
      dt.title = key;
      const dd = document.createElement("dd");
      dd.textContent = text ? value : formatValue(value);
      dd.title = dd.textContent;
      dd.dataset.key = key;
      dd.dataset.kind = text ? "text" : "number";
      list.append(dt, dd);
    }
    el.replaceChildren(list);
    countEl.textContent = values.size > MAX_KEYS ? `${MAX_KEYS} of ${values.size}` : String(values.size);
  }

  return {
    /** The run's summary, `numericKeys` the keys that have points (see isSummaryText). */
    setSummary(summary, numericKeys = new Set()) {
      values.clear();
      for (const [key, value] of Object.entries(summary || {})) {
        values.set(key, { text: isSummaryText(key, value, numericKeys), value });
      }
      draw();
    },
    /** A live message: "points" (each key's last value) or "texts" (each key's latest text). */
    apply(msg) {
      if (msg.type === "points") {
        for (const [key, cols] of Object.entries(msg.points || {})) {
          const n = cols.value.length;
          if (n) values.set(key, { text: false, value: cols.value[n - 1] });
        }
      } else if (msg.type === "texts") {
        for (const [key, t] of Object.entries(msg.texts || {})) values.set(key, { text: true, value: String(t.value) });
      } else {
        return;
      }
      draw();
    },
  };
}
