// The parameter fields of one run template, generated from its typed parameters: a select for a
// choice, a number input with bounds for int/float, a select listing the data dir for a file, a
// text input for a string. Each field shows its own message: the client's check on submit, or
// the server's 422 for that parameter.

/** Check one raw field value against its parameter: { value } or { error } (the server's words). */
export function checkValue(param, raw) {
  if (raw === null || raw === undefined || (raw === "" && param.type !== "string")) return { error: "a value is required" };
  if (param.type === "int" || param.type === "float") {
    const value = Number(raw);
    if (!Number.isFinite(value) || String(raw).trim() === "") return { error: `must be a number (${param.type})` };
    if (param.type === "int" && !Number.isInteger(value)) return { error: "must be a whole number" };
    if (param.min !== undefined && param.min !== null && value < param.min) return { error: `must be at least ${param.min}` };
    if (param.max !== undefined && param.max !== null && value > param.max) return { error: `must be at most ${param.max}` };
    return { value };
  }
  if (param.type === "choice") return { value: param.choices[Number(raw)] };
  if (param.type === "file") return { value: raw };
  const text = String(raw);
  const maxLength = param.max_length ?? 200;
  if (text.length > maxLength) return { error: `must be at most ${maxLength} characters` };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(text)) return { error: "must not contain control characters" };
  if (text.startsWith("-") && !param.allow_leading_dash) return { error: "must not start with '-' (it could be read as a flag)" };
  if (param.pattern) {
    let re = null;
    try {
      re = new RegExp(`^(?:${param.pattern})$`, "u");
    } catch {
      re = null; // a Python-only pattern: the server checks it
    }
    if (re && !re.test(text)) return { error: `must match the pattern ${param.pattern}` };
  }
  return { value: text };
}

function node(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function option(value, text) {
  const el = document.createElement("option");
  el.value = value;
  el.textContent = text;
  return el;
}

function hint(param) {
  const parts = [];
  if (param.help) parts.push(param.help);
  const has = (v) => v !== undefined && v !== null;
  if (has(param.min) && has(param.max)) parts.push(`${param.min} – ${param.max}`);
  else if (has(param.min)) parts.push(`≥ ${param.min}`);
  else if (has(param.max)) parts.push(`≤ ${param.max}`);
  if (param.type === "string" && param.pattern) parts.push(`pattern ${param.pattern}`);
  return parts.join(" · ");
}

function control(param, initial) {
  let input;
  if (param.type === "choice" || param.type === "file") {
    input = document.createElement("select");
    const items = param.type === "choice" ? param.choices : param.files || [];
    input.append(option("", param.type === "file" ? "choose a file…" : "choose…"));
    items.forEach((item, i) => input.append(option(param.type === "choice" ? String(i) : item, String(item))));
    if (param.type === "choice") {
      const at = param.choices.findIndex((c) => c === initial);
      input.value = at >= 0 ? String(at) : "";
    } else {
      input.value = items.includes(initial) ? initial : "";
    }
  } else {
    input = document.createElement("input");
    if (param.type === "string") {
      input.type = "text";
      input.maxLength = param.max_length ?? 200;
    } else {
      input.type = "number";
      input.step = param.type === "int" ? "1" : "any";
      if (param.min !== undefined && param.min !== null) input.min = String(param.min);
      if (param.max !== undefined && param.max !== null) input.max = String(param.max);
    }
    input.autocomplete = "off";
    input.value = initial === undefined || initial === null ? "" : String(initial);
  }
  input.id = `param-${param.name}`;
  input.name = param.name;
  return input;
}

/** Build the fields of `template` into `el` (values from `initial`, else each default).
 * Returns { read() → { params } | { errors }, showError(name, message), clear() }. */
export function mount(el, template, initial = {}) {
  el.replaceChildren();
  const fields = new Map();
  for (const param of template.params) {
    const box = node("div", "field param-field");
    box.dataset.param = param.name;
    const label = node("label", "field-label", param.label || param.name);
    const input = control(param, param.name in initial ? initial[param.name] : param.default);
    label.htmlFor = input.id;
    const error = node("span", "field-error");
    error.id = `error-${param.name}`;
    error.setAttribute("role", "alert");
    input.setAttribute("aria-describedby", error.id);
    box.append(label, input);
    const help = hint(param);
    if (help) box.append(node("span", "field-help", help));
    box.append(error);
    input.addEventListener("input", () => showError(param.name, ""));
    fields.set(param.name, { param, input, error, box });
    el.append(box);
  }
  if (!template.params.length) el.append(node("p", "field-help", "This template takes no parameters."));

  function showError(name, message) {
    const f = fields.get(name);
    if (!f) return false;
    f.error.textContent = message;
    f.box.dataset.invalid = message ? "true" : "false";
    f.input.setAttribute("aria-invalid", message ? "true" : "false");
    return true;
  }

  return {
    read() {
      const params = {};
      const errors = {};
      for (const [name, f] of fields) {
        const checked = checkValue(f.param, f.input.value);
        if ("error" in checked) errors[name] = checked.error;
        else params[name] = checked.value;
      }
      return Object.keys(errors).length ? { errors } : { params };
    },
    showError,
    focus(name) {
      fields.get(name)?.input.focus();
    },
    clear() {
      for (const name of fields.keys()) showError(name, "");
    },
  };
}
