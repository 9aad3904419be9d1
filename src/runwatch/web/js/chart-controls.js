// A chart's small toolbar: EMA smoothing slider, log-scale y toggle, best-so-far overlay with its
// direction (min/max). Holds no chart logic: it reports the settings it shows through onChange.

import { node } from "./dom.js";
import { bestDirection } from "./series-data.js";

export const MAX_SMOOTHING = 0.99;

/** The settings a chart starts with: no smoothing, linear y, no best-so-far line. */
export function defaultSettings(key) {
  return { smoothing: 0, log: false, best: false, dir: bestDirection(key) };
}

function toggle(text, title) {
  const button = node("button", "tool-toggle", text);
  button.type = "button";
  button.title = title;
  button.setAttribute("aria-pressed", "false");
  return button;
}

/**
 * Render the controls into `root` and call `onChange(settings, what)` after every change
 * (`what` is "smoothing", "log", "best" or "dir"). Returns {settings} (the live object).
 */
export function mount(root, key, onChange) {
  const settings = defaultSettings(key);
  root.classList.add("chart-tools");

  const smooth = node("label", "tool tool-smooth");
  smooth.title = "Smoothing: exponential moving average (0 = off), drawn over the faint raw line";
  const slider = node("input", "tool-slider");
  slider.type = "range";
  slider.min = "0";
  slider.max = String(MAX_SMOOTHING);
  slider.step = "0.01";
  slider.value = "0";
  slider.setAttribute("aria-label", `smoothing of ${key}`);
  const amount = node("span", "tool-amount", "off");
  smooth.append(node("span", "tool-label", "smooth"), slider, amount);

  const log = toggle("log", "Logarithmic y axis (values ≤ 0 are not drawn)");
  log.classList.add("tool-log");
  const best = toggle("best", "Best so far: the running min or max of the raw values");
  best.classList.add("tool-best");
  const dir = node("button", "tool-dir", settings.dir);
  dir.type = "button";
  dir.title = "Best so far tracks the minimum or the maximum: click to switch";
  dir.setAttribute("aria-label", `best-so-far direction of ${key}`);
  const bestGroup = node("span", "tool tool-best-group");
  bestGroup.append(best, dir);

  root.append(smooth, log, bestGroup);

  function show() {
    amount.textContent = settings.smoothing > 0 ? settings.smoothing.toFixed(2) : "off";
    log.setAttribute("aria-pressed", String(settings.log));
    best.setAttribute("aria-pressed", String(settings.best));
    dir.textContent = settings.dir;
    dir.disabled = !settings.best;
  }

  slider.addEventListener("input", () => {
    const v = Math.min(MAX_SMOOTHING, Math.max(0, Number(slider.value) || 0));
    settings.smoothing = v;
    show();
    onChange(settings, "smoothing");
  });
  log.addEventListener("click", () => {
    settings.log = !settings.log;
    show();
    onChange(settings, "log");
  });
  best.addEventListener("click", () => {
    settings.best = !settings.best;
    show();
    onChange(settings, "best");
  });
  dir.addEventListener("click", () => {
    settings.dir = settings.dir === "min" ? "max" : "min";
    show();
    onChange(settings, "dir");
  });
  show();
  return { settings };
}
