// The runs list's "New run" and "New sweep" buttons. New run: shown only when the server
// declares run templates and the token may launch runs (the 'admin' scope). New sweep: shown
// when the token may write. Both carry the project being viewed to their form.

import { getJSON } from "./api.js";
import { may, whoami } from "./whoami.js";

let link = null;
let sweepLink = null;
let project = "";

function update() {
  const query = project ? `?project=${encodeURIComponent(project)}` : "";
  if (link) link.href = `/new${query}`;
  if (sweepLink) sweepLink.href = `/new-sweep${query}`;
}

/** Show `el` once /api/v1/templates lists at least one template. */
export async function mount(el) {
  link = el;
  update();
  try {
    const [{ templates }, who] = await Promise.all([getJSON("/api/v1/templates"), whoami()]);
    el.hidden = !templates.length || !may(who, "admin");
  } catch {
    el.hidden = true; // no read access or an older server: no button
  }
}

/** Show `el` (New sweep) when the token may write. */
export async function mountSweep(el) {
  sweepLink = el;
  update();
  el.hidden = !may(await whoami(), "write");
}

/** The runs list now shows `name` ("" for every project). */
export function follow(name) {
  project = name || "";
  update();
}
