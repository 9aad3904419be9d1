// The New-sweep form's pure part: a sweep configuration (W&B's, as POST /api/v1/sweeps takes it)
// from what the form holds, and parameter rows from a run template's typed parameters. No DOM.

export const MAX_ROWS = 100; // parameter rows one form holds
export const DISTRIBUTIONS = ["uniform", "int_uniform", "log_uniform_values", "q_uniform", "q_log_uniform_values"];

/** A values list as typed ("1, 2.5, adam, true"): each item a JSON number, boolean or null
 * when it reads as one, else the text itself; empty items left out. */
export function parseValues(text) {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item) => {
      if (/^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)$/.test(item)) return JSON.parse(item);
      return item;
    });
}

/** A bound as typed: a number, or the text itself (the server names the key it refuses). */
function bound(text) {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  const n = Number(trimmed);
  return Number.isFinite(n) ? n : trimmed;
}

/**
 * The configuration of `form`: {project, name, method, metric: {name, goal}, runCap, rows:
 * [{name, kind: "values" | "distribution", values, distribution, min, max}]} (all text as
 * typed). Blank optional fields are left out; the server checks the rest.
 */
export function buildConfig(form) {
  const config = { method: form.method, parameters: {} };
  if (form.project.trim()) config.project = form.project.trim();
  if (form.name.trim()) config.name = form.name.trim();
  if (form.metric.name.trim()) config.metric = { name: form.metric.name.trim(), goal: form.metric.goal };
  if (form.runCap.trim()) config.run_cap = bound(form.runCap);
  for (const row of form.rows) {
    const name = row.name.trim();
    if (!name) continue;
    if (row.kind === "values") {
      config.parameters[name] = { values: parseValues(row.values) };
    } else {
      const param = { distribution: row.distribution };
      for (const key of ["min", "max"]) {
        const value = bound(row[key]);
        if (value !== undefined) param[key] = value;
      }
      config.parameters[name] = param;
    }
  }
  return config;
}

/** Form rows from a run template's parameters: numbers as a distribution over their min..max
 * (int_uniform for ints), choices as values; other types (strings, files) are not swept. */
export function rowsFromTemplate(template) {
  const rows = [];
  for (const p of template.params || []) {
    if (p.type === "choice" && p.choices && p.choices.length) {
      const offered = p.choices.filter((c) => !(p.unavailable || []).includes(c));
      rows.push(emptyRow(p.name, { values: offered.map(String).join(", ") }));
    } else if ((p.type === "int" || p.type === "float") && p.min != null && p.max != null) {
      rows.push(emptyRow(p.name, {
        kind: "distribution", distribution: p.type === "int" ? "int_uniform" : "uniform", min: String(p.min), max: String(p.max),
      }));
    } else if (p.type === "int" || p.type === "float") {
      rows.push(emptyRow(p.name, { values: p.default != null ? String(p.default) : "" }));
    }
  }
  return rows.slice(0, MAX_ROWS);
}

/** A parameter row with `changes` over the defaults (a values list). */
export function emptyRow(name = "", changes = {}) {
  return { name, kind: "values", values: "", distribution: "uniform", min: "", max: "", ...changes };
}

/** The command that runs the sweep's trials, shown once it is created. */
export function agentCommand(sweepId) {
  return `runwatch agent ${sweepId} -- python train.py`;
}
