// A sweep's best value so far over time: each trial's run with a number for the sweep's metric
// (its summary: the last value logged) placed at when it ended (or last reported, while it
// runs), and the running best of those values by the sweep's goal, stepped. A uPlot chart.

import { formatTicks, formatTimeTicks } from "./format.js";
import { GRID, INK } from "./sweep-canvas.js";
import { isNumber } from "./sweep-fields.js";
import { bestSoFar } from "./sweep-series.js";

const HEIGHT = 180;
const BEST = "#f59e0b";
const TRIAL = "rgba(96, 165, 250, 0.8)";

/** The chart's columns over `runs` for `metric` ({name, direction}): times, values, best. */
export function bestColumns(runs, metric) {
  const points = [];
  for (const run of runs) {
    const value = run.summary ? run.summary[metric.name] : undefined;
    const at = run.ended_at ?? run.last_update ?? run.created_at;
    if (isNumber(value) && isNumber(at)) points.push([at, value]);
  }
  points.sort((a, b) => a[0] - b[0]);
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  return [xs, ys, bestSoFar(ys, metric.direction)];
}

function axis(size) {
  return {
    stroke: INK,
    font: "11px ui-sans-serif, system-ui, sans-serif",
    size,
    gap: 4,
    grid: { stroke: GRID, width: 1 },
    ticks: { stroke: GRID, width: 1, size: 3 },
  };
}

function pad(min, max) {
  return Math.max(1, (max - min) * 0.04);
}

/** Mount the chart in `root` (its `empty` sibling shown while there is nothing to draw). */
export function mountBest(root, empty) {
  let plot = null;
  let columns = [[], [], []];

  function create() {
    plot = new uPlot(
      {
        width: Math.max(200, root.clientWidth),
        height: HEIGHT,
        padding: [10, 36, 0, 2],
        legend: { show: false },
        // A little room either side: the first and last trials' dots are drawn whole.
        scales: { x: { time: true, range: (u, min, max) => [min - pad(min, max), max + pad(min, max)] } },
        // One-line time labels ("Dec 6 14:05", then "14:20"), 110 px apart at least so even
        // "Dec 16 14:05:30.5" clears its neighbour (uPlot's own are two lines, which 30 px
        // clips); the right padding leaves the last one room for its half past the plot.
        axes: [
          { ...axis(30), space: 110, values: (u, ticks, i, space, incr) => formatTimeTicks(ticks, incr) },
          { ...axis(56), values: (u, ticks, i, space, incr) => formatTicks(ticks, incr) },
        ],
        series: [
          {},
          { label: "trial", stroke: TRIAL, width: 0, paths: () => null, points: { show: true, size: 5, fill: TRIAL } },
          { label: "best so far", stroke: BEST, width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } },
        ],
      },
      columns,
      root,
    );
  }

  new ResizeObserver(() => {
    if (plot) plot.setSize({ width: Math.max(200, root.clientWidth), height: HEIGHT });
  }).observe(root);

  return {
    /** Draw `runs`' values of `metric` ({name, direction}); null: no metric to draw. */
    set(runs, metric) {
      columns = metric ? bestColumns(runs, metric) : [[], [], []];
      const n = columns[0].length;
      root.dataset.points = String(n);
      root.dataset.best = n ? String(columns[2][n - 1]) : "";
      // Without a metric the hint above says so: "no trial has reported it" would only repeat it.
      empty.hidden = n > 0 || !metric;
      root.hidden = n === 0;
      if (!n) return;
      if (!plot) create();
      else plot.setData(columns);
    },
  };
}
