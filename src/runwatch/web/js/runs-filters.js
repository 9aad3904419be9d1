// The runs list's filter bar: status and tag selects with counts, and the best-value metric
// picker with its min/max toggle. Options follow the runs live; values follow the view.

import { formatCount } from "./format.js";
import { bestDir, metricKeys, statusCounts, tagCounts } from "./runs-view.js";

/** Make a select's options exactly `items` ([value, label]), touching only what changed. */
function setOptions(select, items) {
  const options = select.options;
  items.forEach(([value, label], i) => {
    let option = options[i];
    if (!option || option.value !== value) {
      option = document.createElement("option");
      option.value = value;
      select.insertBefore(option, options[i] || null);
    }
    if (option.textContent !== label) option.textContent = label;
  });
  while (options.length > items.length) options[options.length - 1].remove();
}

/**
 * Mount on the bar's elements {status, tag, metric, dir}; `onInput(patch)` is told what the
 * person changed ({status}, {tag}, {metric, best: null} or {best}).
 */
export function mount({ status, tag, metric, dir }, onInput) {
  let view = { status: "", tag: "", metric: "", best: null };
  let runs = [];

  function render() {
    const total = formatCount(runs.length);
    setOptions(status, [
      ["", `All statuses (${total})`],
      ...statusCounts(runs, view.status).map(([s, n]) => [s, `${s} (${formatCount(n)})`]),
    ]);
    setOptions(tag, [
      ["", "All tags"],
      ...tagCounts(runs, view.tag).map(([t, n]) => [t, `${t} (${formatCount(n)})`]),
    ]);
    setOptions(metric, [["", "—"], ...metricKeys(runs, view.metric).map((k) => [k, k])]);
    status.value = view.status;
    tag.value = view.tag;
    metric.value = view.metric;
    const direction = bestDir(view);
    dir.disabled = !view.metric;
    dir.dataset.dir = direction;
    dir.textContent = direction;
    dir.title = `best = the ${direction === "min" ? "lowest" : "highest"} value; click for the ${
      direction === "min" ? "highest" : "lowest"
    }`;
  }

  status.addEventListener("change", () => onInput({ status: status.value }));
  tag.addEventListener("change", () => onInput({ tag: tag.value }));
  metric.addEventListener("change", () => onInput({ metric: metric.value, best: null }));
  dir.addEventListener("click", () => onInput({ best: bestDir(view) === "min" ? "max" : "min" }));

  return {
    /** The runs whose statuses, tags and metric keys become options. */
    setRuns(next) {
      runs = next;
      render();
    },
    /** Show a view's values. */
    show(next) {
      view = { ...next };
      render();
    },
  };
}
