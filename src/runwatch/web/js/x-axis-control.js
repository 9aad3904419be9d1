// A page's choice of x axis for all its charts: a small segmented control, "x: step | relative |
// wall". The choice lives in the address (?x=relative), so a reload or a shared link keeps it.

import { AXIS_NAMES, parseAxis, withAxis } from "./chart-axis.js";
import { node } from "./dom.js";

const TITLES = {
  step: "Plot against the step",
  relative: "Plot against the time since each run's start",
  wall: "Plot against the clock time (your time zone)",
};

/**
 * Render the control into `root`, showing the address's axis; `onChange(name)` after the person
 * picks another one (the address is updated first). Returns {axis}: the axis shown.
 */
export function mount(root, onChange) {
  let current = parseAxis(location.search);
  root.classList.add("x-axis");
  root.setAttribute("role", "group");
  root.setAttribute("aria-label", "x axis");
  root.append(node("span", "x-axis-label", "x"));
  const buttons = AXIS_NAMES.map((name) => {
    const button = node("button", "tool-toggle", name);
    button.type = "button";
    button.dataset.axis = name;
    button.title = TITLES[name];
    button.addEventListener("click", () => {
      if (name === current) return;
      current = name;
      history.replaceState(history.state, "", `${location.pathname}${withAxis(location.search, name)}${location.hash}`);
      show();
      onChange(name);
    });
    return button;
  });
  root.append(...buttons);

  function show() {
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.axis === current));
  }
  show();
  return {
    get axis() {
      return current;
    },
  };
}
