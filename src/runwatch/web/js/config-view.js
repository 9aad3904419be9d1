// The run's config as a two-column key/value list; nested objects flattened as "a.b".

import { flattenConfig } from "./format.js";

/** Render `config` into `el` (a container); returns how many entries it shows. */
export function mount(el, config) {
  const entries = flattenConfig(config || {});
  el.replaceChildren();
  if (entries.length === 0) {
    const empty = document.createElement("p");
    empty.className = "empty";
    empty.textContent = "No config recorded for this run.";
    el.append(empty);
    return 0;
  }
  const list = document.createElement("dl");
  list.className = "kv";
  for (const [key, value] of entries) {
    const dt = document.createElement("dt");
    dt.textContent = key;
    dt.title = key;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dd.title = value;
    list.append(dt, dd);
  }
  el.append(list);
  return entries.length;
}
