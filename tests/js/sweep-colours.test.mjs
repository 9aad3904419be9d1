// The sweep views' colours against the page: every colour a run can be drawn in (the colour
// scale's, and the no-value grey) stands out from the dark backgrounds in style.css.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { BINS, NO_COLOUR, binColour } from "../../src/runwatch/web/js/sweep-canvas.js";
import { rampColor } from "../../src/runwatch/web/js/sweep-scales.js";

const CSS = readFileSync(new URL("../../src/runwatch/web/style.css", import.meta.url), "utf8");
const MIN_CONTRAST = 3; // WCAG's minimum for graphics against their background

/** A colour variable of style.css's :root as [r, g, b]. */
function cssColour(name) {
  const hex = CSS.match(new RegExp(`${name}:\\s*#([0-9a-f]{6})\\b`, "i"))[1];
  return [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

// The page, the panels the sweep views sit in, and the chart cards' lighter panel.
const BACKGROUNDS = ["--bg", "--panel", "--panel-2"].map((name) => [name, cssColour(name)]);

/** "rgb(r, g, b)" or "rgba(r, g, b, a)" as drawn over `under`: [r, g, b]. */
function painted(colour, under) {
  const [r, g, b, a = 1] = colour.match(/[\d.]+/g).map(Number);
  return [r, g, b].map((c, k) => c * a + under[k] * (1 - a));
}

function luminance(rgb) {
  const [r, g, b] = rgb.map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG 2's contrast ratio of two colours. */
function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

test("the contrast ratio is WCAG's", () => {
  assert.equal(contrast([0, 0, 0], [255, 255, 255]), 21);
  assert.equal(contrast([119, 119, 119], [119, 119, 119]), 1);
  assert.ok(Math.abs(contrast([118, 118, 118], [255, 255, 255]) - 4.54) < 0.01);
});

test("every colour of the scale stands out from the page's backgrounds", () => {
  for (const [name, bg] of BACKGROUNDS) {
    for (let i = 0; i <= 1000; i++) {
      const colour = rampColor(i / 1000);
      const ratio = contrast(painted(colour, bg), bg);
      assert.ok(ratio >= MIN_CONTRAST, `${colour} at t=${i / 1000} on ${name}: ${ratio.toFixed(2)}:1`);
    }
  }
});

test("so does every colour a run is drawn in, the no-value grey too", () => {
  const colours = [...Array.from({ length: BINS }, (_, i) => binColour(i)), binColour(-1)];
  assert.equal(binColour(-1), NO_COLOUR);
  for (const [name, bg] of BACKGROUNDS) {
    for (const colour of colours) {
      const ratio = contrast(painted(colour, bg), bg);
      assert.ok(ratio >= MIN_CONTRAST, `${colour} on ${name}: ${ratio.toFixed(2)}:1`);
    }
  }
});

test("the scale still runs dark to light, the best runs brightest", () => {
  const lum = Array.from({ length: 101 }, (_, i) => luminance(painted(rampColor(i / 100), [0, 0, 0])));
  for (let i = 1; i < lum.length; i++) assert.ok(lum[i] > lum[i - 1], `not brighter at t=${i / 100}`);
});
