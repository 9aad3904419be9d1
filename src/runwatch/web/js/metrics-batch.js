// The charts' /metrics asks of one moment for one run and one range (every chart's, after a
// switch of axis or a hydration) go as one request for all their keys, as /state brings the
// step axis's; MAX_BATCH_CHARS of keys per request keeps its address short.

import { getJSON } from "./api.js";

const MAX_BATCH_CHARS = 4000;
const MAX_BATCH_KEYS = 64; // the server's cap on `key` a request

/**
 * A loader of series: `load(base, key, range)` resolves to {series, seq}, `key`'s Series of the
 * run at `base` (its API path) over `range` ({start, end, maxPoints, x}; start/end null: all).
 * The asks of one task are sent together, after it.
 */
export function batchedMetrics() {
  let asks = null; // [base, range] as JSON -> {base, range, waiters: [{key, resolve, reject}]}

  function load(base, key, range) {
    if (!asks) {
      asks = new Map();
      queueMicrotask(send); // after the other charts' asks of this moment
    }
    const id = JSON.stringify([base, range.start, range.end, range.maxPoints, range.x]);
    if (!asks.has(id)) asks.set(id, { base, range, waiters: [] });
    return new Promise((resolve, reject) => asks.get(id).waiters.push({ key, resolve, reject }));
  }

  function send() {
    const sent = asks;
    asks = null;
    for (const { base, range, waiters } of sent.values()) {
      const answers = new Map(); // key -> the answer holding it
      let batch = [];
      let chars = 0;
      const flush = () => {
        const { start, end, maxPoints, x } = range;
        const answer = getJSON(`${base}/metrics`, { key: batch, start, end, max_points: maxPoints, x });
        for (const key of batch) answers.set(key, answer);
        batch = [];
        chars = 0;
      };
      for (const key of new Set(waiters.map((w) => w.key))) {
        const n = encodeURIComponent(key).length + 5; // and its "&key="
        if (batch.length && (chars + n > MAX_BATCH_CHARS || batch.length >= MAX_BATCH_KEYS)) flush();
        batch.push(key);
        chars += n;
      }
      flush();
      for (const w of waiters) answers.get(w.key).then((a) => w.resolve({ series: a.series[w.key], seq: a.seq }), w.reject);
    }
  }

  return load;
}
