// The runs table's "Queue again" action: the best run of the table (its top row in the current
// sort) or the best of the checked runs opens the New-run form prefilled with that run's config
// (/new?from=RUN), where the person reviews it and queues it. Shown when the server declares run
// templates; a token without the 'admin' scope sees it disabled, with a note naming that scope.

import { describeError, getJSON } from "./api.js";
import { formatCount } from "./format.js";
import { may, needs, whoami } from "./whoami.js";

// Checked runs the best is picked from at most: one `id in (…)` query (its limit is 64 values).
export const MAX_BEST_OF = 64;

/** The New-run form's address prefilled from run `id`. */
export function formURL(id) {
  return `/new?from=${encodeURIComponent(id)}`;
}

/**
 * Mount on the action's <select> (options "", "best", "selected") and its note. `pick(choice,
 * ids)` resolves to the run to queue again (null when there is none): the top row for "best",
 * the best of `ids` in the table's sort for "selected".
 */
export function mount(select, note, pick) {
  const selectedOption = select.querySelector('option[value="selected"]');
  let ids = [];
  let allowed = false;

  function say(text) {
    note.textContent = text;
    note.hidden = !text;
  }

  function showSelection() {
    const n = ids.length;
    selectedOption.disabled = n === 0 || n > MAX_BEST_OF;
    if (n > MAX_BEST_OF) selectedOption.textContent = `check at most ${MAX_BEST_OF} runs to pick the best`;
    else selectedOption.textContent = n > 1 ? `the best of the ${formatCount(n)} checked runs` : "the checked run";
  }

  select.addEventListener("change", async () => {
    const choice = select.value;
    select.value = "";
    if (!choice || !allowed) return;
    select.disabled = true;
    say("");
    try {
      const run = await pick(choice, ids);
      if (run) {
        location.assign(formURL(run.id));
        return;
      }
      say(choice === "best" ? "No run in this table to queue again." : "The checked runs are gone.");
    } catch (err) {
      say(describeError(err));
    }
    select.disabled = false;
  });

  select.disabled = true; // until the token's scope is known
  showSelection();
  Promise.all([getJSON("/api/v1/templates"), whoami()])
    .then(([{ templates }, who]) => {
      select.hidden = !templates.length;
      if (!templates.length) return;
      allowed = may(who, "admin");
      select.disabled = !allowed;
      if (!allowed) say(needs(who, "admin", "Queuing a run again"));
    })
    .catch(() => {
      select.hidden = true; // no read access or an older server: no action
    });

  return {
    /** The checked runs' ids changed. */
    setSelection(next) {
      ids = [...next];
      showSelection();
    },
  };
}
