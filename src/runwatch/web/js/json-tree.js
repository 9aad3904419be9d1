// Any JSON value as a collapsible tree of <details>: text only, at most MAX_NODES nodes drawn.

import { node } from "./dom.js";

export const MAX_NODES = 2000;
const OPEN_DEPTH = 2; // levels open at first

function leafText(value) {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === undefined) return "undefined";
  return JSON.stringify(value);
}

function leafClass(value) {
  if (value === null) return "jt-null";
  return `jt-${typeof value}`;
}

/** The tree for `value` (a DOM node); `data-nodes` says how many nodes it drew. */
export function render(value) {
  let budget = MAX_NODES;
  const root = node("div", "json-tree");

  function build(key, v, depth) {
    budget -= 1;
    const isContainer = v !== null && typeof v === "object";
    if (!isContainer) {
      const row = node("div", "jt-leaf");
      if (key !== null) row.append(node("span", "jt-key", key), node("span", "jt-colon", ": "));
      row.append(node("span", `jt-value ${leafClass(v)}`, leafText(v)));
      return row;
    }
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
    const details = node("details", "jt-node");
    details.open = depth < OPEN_DEPTH;
    const summary = node("summary", "jt-summary");
    if (key !== null) summary.append(node("span", "jt-key", key), node("span", "jt-colon", ": "));
    const brief = Array.isArray(v) ? `[${entries.length}]` : `{${entries.length}}`;
    summary.append(node("span", "jt-brief", brief));
    details.append(summary);
    const children = node("div", "jt-children");
    for (const [k, x] of entries) {
      if (budget <= 0) {
        children.append(node("div", "jt-more", "… (more not shown)"));
        break;
      }
      children.append(build(k, x, depth + 1));
    }
    details.append(children);
    return details;
  }

  root.append(build(null, value, 0));
  root.dataset.nodes = String(MAX_NODES - budget);
  return root;
}
