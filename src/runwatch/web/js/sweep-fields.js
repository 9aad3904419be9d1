// Run fields as the runs query names them (`config.optim.lr`, `summary["train/loss"]`,
// `summary.acc.max`): parsed once, read from a run object the way the server reads them, so a
// value the page places on an axis is the value a query over that field compares.

const WORD = /^[A-Za-z_][A-Za-z0-9_]*/;
const WORD_ONLY = /^[A-Za-z_][A-Za-z0-9_]*$/;
// A metric's last value when it was not finite: the server stores it as one of these strings.
export const NON_FINITE = new Set(["nan", "inf", "-inf"]);

/**
 * Parse a field name into {doc, keys, stat}: doc "config" or "summary"; for a summary, stat is
 * "last", "min" or "max" (`summary.KEY.min`). Returns null for a name that is neither.
 */
export function parseField(name) {
  const head = WORD.exec(name);
  if (!head || (head[0] !== "config" && head[0] !== "summary")) return null;
  const keys = [];
  let at = head[0].length;
  while (at < name.length) {
    if (name[at] === ".") {
      const word = WORD.exec(name.slice(at + 1));
      if (!word) return null;
      keys.push(word[0]);
      at += 1 + word[0].length;
    } else if (name.startsWith('["', at)) {
      const end = name.indexOf('"]', at + 2);
      if (end < 0) return null;
      keys.push(name.slice(at + 2, end));
      at = end + 2;
    } else {
      return null;
    }
  }
  if (!keys.length) return null;
  if (head[0] === "config") return { doc: "config", keys, stat: null };
  if (keys.length === 1) return { doc: "summary", keys, stat: "last" };
  if (keys.length === 2 && ["last", "min", "max"].includes(keys[1])) {
    return { doc: "summary", keys: [keys[0]], stat: keys[1] };
  }
  return null;
}

/** The name a query uses for a config path or a summary key with its stat. */
export function fieldName(doc, keys, stat = null) {
  const path = keys.map((k) => (WORD_ONLY.test(k) ? `.${k}` : `["${k}"]`)).join("");
  return stat && stat !== "last" ? `${doc}${path}.${stat}` : `${doc}${path}`;
}

/** A field's value in a run (undefined when the run has none), as the query compares it. */
export function readField(run, field) {
  if (field.doc === "summary") {
    const key = field.keys[0];
    if (field.stat === "last") return run.summary ? run.summary[key] : undefined;
    const ext = run.extremes && run.extremes[key];
    return ext ? ext[field.stat] : undefined;
  }
  let value = run.config;
  for (const key of field.keys) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
    if (!Object.prototype.hasOwnProperty.call(value, key)) return undefined;
    value = value[key];
  }
  return value;
}

/** A finite number, as a query's `<`/`>` compare it (booleans and strings are not numbers). */
export function isNumber(v) {
  return typeof v === "number" && Number.isFinite(v);
}

/**
 * What an axis over these values is: "number" when some value is a number and the others are
 * missing, null or a non-finite metric's marker; else "category"; null when no run has a value.
 */
export function fieldKind(values) {
  let numbers = 0;
  let others = 0;
  for (const v of values) {
    if (isNumber(v)) numbers += 1;
    else if (v !== undefined && v !== null && !NON_FINITE.has(v)) others += 1;
  }
  if (numbers && !others) return "number";
  if (others) return "category";
  return numbers ? "number" : null;
}

/**
 * The picker's fields from /api/v1/run-fields: config fields as listed, and per summary key
 * its last, min and max. Sorted, most common first within each document.
 */
export function pickerFields(answer) {
  const byCount = (obj) => Object.entries(obj || {}).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const config = byCount(answer.config).map(([name]) => name);
  const summary = [];
  for (const [name] of byCount(answer.summary)) {
    const field = parseField(name);
    if (!field) continue;
    summary.push(name, fieldName("summary", field.keys, "min"), fieldName("summary", field.keys, "max"));
  }
  return { config, summary };
}
