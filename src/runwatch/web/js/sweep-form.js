// The New-sweep form's pure part: a sweep configuration (W&B's, as POST /api/v1/sweeps takes it)
// from what the form holds, and parameter rows from a run template's typed parameters. No DOM.

export const MAX_ROWS = 100; // parameter rows one form holds
export const DISTRIBUTIONS = ["uniform", "int_uniform", "log_uniform_values", "q_uniform", "q_log_uniform_values"];

// A decimal number as people type one: a sign, digits with at most one point (either side may be
// empty, not both), an exponent. Hex, `1.2.3` and `Infinity` do not match: they stay text.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const LITERALS = new Set(["true", "false", "null"]);

// Trimmed `text` as a number when it reads as a decimal one (`.5`, `-.5`, `+2`, `1E3`), else
// null; one too large for a double (1e999) is no number JSON can carry, so null too.
function readNumber(text) {
  if (!DECIMAL.test(text)) return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

/** A values list as typed ("1, .5, adam, true"): each item a decimal number (not hex), a JSON
 * boolean or null when it reads as one, else the text itself; empty items left out. */
export function parseValues(text) {
  return text
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item) => readNumber(item) ?? (LITERALS.has(item) ? JSON.parse(item) : item));
}

/** A bound as typed: a number, or the text itself (the server names the key it refuses). */
function bound(text) {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  return readNumber(trimmed) ?? trimmed;
}

/** Whether `row` holds nothing typed in what it shows (a fresh row left empty is not sent). */
function isBlank(row) {
  const typed = row.kind === "values" ? [row.values] : [row.min, row.max];
  return !row.name.trim() && typed.every((text) => !text.trim());
}

/** The rows' mistakes the server cannot see, since the configuration has one key per name: a
 * row with content but no name, and a name an earlier row already has. [{row (0-based index),
 * message}], each message naming its row as the form numbers them (from 1). */
function rowProblems(rows) {
  const problems = [];
  const first = new Map(); // name -> index of the first row with it
  rows.forEach((row, index) => {
    if (isBlank(row)) return;
    const name = row.name.trim();
    const label = `parameter ${index + 1}`;
    if (!name) {
      problems.push({ row: index, message: `${label}: has no name` });
    } else if (first.has(name)) {
      problems.push({ row: index, message: `${label}: ${name} is also the name of parameter ${first.get(name) + 1}` });
    } else {
      first.set(name, index);
    }
  });
  return problems;
}

/**
 * The configuration of `form`: {project, name, method, metric: {name, goal}, runCap, rows:
 * [{name, kind: "values" | "distribution", values, distribution, min, max}]} (all text as
 * typed), as {config, problems}. Blank optional fields and blank rows are left out; the server
 * checks the rest. When rows have problems (see `rowProblems`), config is null: nothing to send.
 */
export function buildConfig(form) {
  const problems = rowProblems(form.rows);
  if (problems.length) return { config: null, problems };
  const config = { method: form.method, parameters: {} };
  if (form.project.trim()) config.project = form.project.trim();
  if (form.name.trim()) config.name = form.name.trim();
  if (form.metric.name.trim()) config.metric = { name: form.metric.name.trim(), goal: form.metric.goal };
  if (form.runCap.trim()) config.run_cap = bound(form.runCap);
  for (const row of form.rows) {
    if (isBlank(row)) continue;
    const name = row.name.trim();
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
  return { config, problems };
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
