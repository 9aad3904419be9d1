// chart-source.js: what a chart shows, without the drawing.
import { test } from "node:test";

import { createSource } from "../../src/runwatch/web/js/chart-source.js";
import { same } from "./helpers.mjs";

test("a bucketed series' newest step is its last bucket's last_x, not the bucket's first x", () => {
  const source = createSource({ traces: [{ id: "r", label: "r", color: "#000000" }], load: null, pixels: () => 600, onChange: () => {} });
  source.setSeries("r", {
    mode: "buckets",
    width: 4096,
    x: [0, 4096],
    min: [0, 0],
    max: [9, 9],
    mean: [4.5, 4.5],
    count: [4096, 904],
    finite: [4096, 904],
    last: [5, 9],
    last_x: [4095, 4999],
  });
  same([source.traces[0].lastX, source.traces[0].lastValue], [4999, 9]);
  source.setSeries("r", { mode: "raw", x: [0, 1, 2], value: [1, 2, 3] });
  same([source.traces[0].lastX, source.traces[0].lastValue], [2, 3]);
});
