// The runs list's "New run" button: shown only when the server declares run templates and the
// token may launch runs (the 'admin' scope); it carries the project being viewed to the form.

import { getJSON } from "./api.js";
import { may, whoami } from "./whoami.js";

let link = null;
let project = "";

function update() {
  if (link) link.href = project ? `/new?project=${encodeURIComponent(project)}` : "/new";
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

/** The runs list now shows `name` ("" for every project). */
export function follow(name) {
  project = name || "";
  update();
}
