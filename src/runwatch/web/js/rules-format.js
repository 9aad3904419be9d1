// Pure helpers of the Alerts page: rules and actions described in words, and a rule built
// from the form's fields (unit-testable: no DOM).

/** One line that says what a condition watches. */
export function describeCondition(c) {
  switch (c.type) {
    case "nonfinite":
      return `${c.key} is NaN or ±inf`;
    case "threshold":
      return `${c.key} ${c.op} ${c.value}` + (c.points > 1 ? ` for ${c.points} points` : "");
    case "plateau": {
      const waits = [c.steps ? `${c.steps} steps` : "", c.minutes ? `${c.minutes} min` : ""].filter(Boolean);
      return `${c.key} (${c.mode}) not improving for ${waits.join(" or ")}`;
    }
    case "stalled":
      return `no new data for ${c.minutes} min while running`;
    case "status":
      return `status becomes ${c.states.join(" or ")}`;
    default:
      return c.type;
  }
}

/** One word or two per action; a webhook shows only its (masked) target. */
export function describeAction(a) {
  switch (a.type) {
    case "event":
      return `event (${a.level})`;
    case "webhook":
      return `webhook ${a.url || a.target || ""}`.trim();
    case "command":
      return `command ${a.kind}`;
    default:
      return a.type;
  }
}

/** An alert action's outcome as shown in the table: "webhook http://host/… delivered". */
export function describeOutcome(o) {
  let text = `${describeAction(o)}: ${o.state}`;
  if (o.attempts > 1) text += ` after ${o.attempts} attempts`;
  if (o.error) text += ` (${o.error})`;
  return text;
}

// A plain decimal number, as the form's placeholders show: Number() would also read " " as 0,
// "0x10" as 16 and "Infinity" as a number.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;
const LABELS = { value: "Value", points: "Points in a row", steps: "Steps", minutes: "Minutes" };

/** The number in field `name`: undefined when it is empty or only spaces (left out); throws
 * an Error naming the field when it holds anything but a finite decimal number. */
function number(f, name) {
  const text = String(f[name] ?? "").trim();
  if (text === "") return undefined;
  const value = DECIMAL.test(text) ? Number(text) : Number.NaN;
  if (!Number.isFinite(value)) {
    throw new Error(`${LABELS[name]}: "${text}" is not a number (write it in decimal: 10, 0.5, 1e-3)`);
  }
  return value;
}

/** The POST body for a rule, from the form's raw string fields; empty fields (or only spaces)
 * are left out so the server's defaults (and its 400 naming a missing field) apply. Throws an
 * Error naming the field when a number field holds something else than a decimal number. */
export function ruleFromFields(f) {
  const condition = { type: f.type };
  if (f.type !== "stalled" && f.type !== "status") condition.key = f.key;
  if (f.type === "threshold") {
    condition.op = f.op;
    condition.value = number(f, "value");
    if (number(f, "points") !== undefined) condition.points = number(f, "points");
  }
  if (f.type === "plateau") {
    condition.mode = f.mode;
    if (number(f, "steps") !== undefined) condition.steps = number(f, "steps");
    if (number(f, "minutes") !== undefined) condition.minutes = number(f, "minutes");
  }
  if (f.type === "stalled") condition.minutes = number(f, "minutes");
  if (f.type === "status") condition.states = (f.states || "failed,crashed").split(",").map((s) => s.trim()).filter(Boolean);
  const actions = [{ type: "event", level: f.level || "warning" }];
  if (f.webhook) actions.push({ type: "webhook", url: f.webhook });
  if (f.command) actions.push({ type: "command", kind: f.command });
  if (f.cancel) actions.push({ type: "cancel" });
  const rule = { name: f.name, condition, actions };
  if (f.run) rule.run = f.run;
  return rule;
}
