// What the New-run form takes from an earlier run (`/new?from=RUN`, the runs table's "Queue
// again"): the template it was queued from, and the parameter values to start from. No DOM:
// the form sets each value as an input's value, never as markup.

/** The template a run was queued from (its request snapshot names it), or null. */
export function templateOf(run) {
  const snap = run && run.snapshot;
  return snap && typeof snap.template === "string" && snap.params && typeof snap.params === "object" ? snap.template : null;
}

/**
 * The values of `template`'s parameters from `run`: the parameters it was queued with when it
 * came from this template, else its config values under the parameters' names (top-level keys).
 * Returns {values: {name: value}, filled: [names]}.
 */
export function valuesFrom(run, template) {
  const source = templateOf(run) === template.name ? run.snapshot.params : run.config || {};
  const values = {};
  for (const param of template.params) {
    if (Object.hasOwn(source, param.name)) values[param.name] = source[param.name];
  }
  return { values, filled: Object.keys(values) };
}

/** The note over the form, as text: where its values came from. `declared`: the names of the
 * templates the server declares (the run's own may have gone since). */
export function prefillNote(run, template, filled, declared) {
  const what = `run ${run.name} (${run.id})`;
  const from = templateOf(run);
  if (from === template.name) return `Prefilled from ${what}, queued from template ${from}: review and queue.`;
  const got = filled.length
    ? `parameters named like its config keys are filled from it (${filled.join(", ")})`
    : `none of its config keys names a parameter of ${template.name}`;
  if (from && declared.includes(from)) return `${what} was queued from template ${from}; under ${template.name}, ${got}.`;
  const lead = from ? `${what} was queued from template ${from}, which this server no longer declares` : `${what} was not queued from a template`;
  return `${lead}: pick a template; ${got}.`;
}
