// The order metric keys are shown in: the user's own keys first, then the SDK's system vitals
// ("sys/cpu_percent", "sys/rss_mb", ...; see sdk/vitals.py), each group in key order. Sorted
// plainly, "sys/…" lands among the user's keys and pushes the ones after "s" out of view.

/** Whether `key` is one of the SDK's system vitals. */
export function isSystemKey(key) {
  return key.startsWith("sys/");
}

/** A sort comparator for metric keys: the user's keys, then the system keys, each in key order. */
export function compareMetricKeys(a, b) {
  const system = isSystemKey(a) - isSystemKey(b);
  if (system) return system;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The first `n` of `keys` in that order. */
export function firstMetricKeys(keys, n) {
  return [...keys].sort(compareMetricKeys).slice(0, n);
}

/**
 * Insert `el`, the chart of `key`, into `container` (a grid of charts, each with data-key) at
 * its place in that order; the system charts follow a "System" heading, made with the first.
 */
export function placeChart(container, el, key) {
  const system = isSystemKey(key);
  let heading = container.querySelector(":scope > .charts-group");
  if (system && !heading) {
    heading = document.createElement("h3");
    heading.className = "charts-group";
    heading.textContent = "System";
    container.append(heading); // no system chart yet: every chart is the user's, before it
  }
  // The heading stands before every system chart: a user's key goes in before it at the latest.
  const next = [...container.children].find((c) =>
    c === heading ? !system : compareMetricKeys(c.dataset.key, key) > 0,
  );
  container.insertBefore(el, next || null);
}

/** Remove the chart of `key` from `container`, and the "System" heading once it heads nothing. */
export function dropChart(container, key) {
  container.querySelector(`:scope > [data-key="${CSS.escape(key)}"]`)?.remove();
  const heading = container.querySelector(":scope > .charts-group");
  if (heading && !heading.nextElementSibling) heading.remove();
}
