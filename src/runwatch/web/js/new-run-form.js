// The parameter fields of one run template, generated from its typed parameters: a select for a
// choice, a number input with bounds for int/float, a select listing the data dir for a file, a
// text input for a string. Each field shows its own message: the client's check on submit, or
// the server's 422 for that parameter. A choice the server cannot offer (its check failed) is
// shown disabled, "(install required)"; a file parameter that takes uploads offers the uploaded
// files first, then the template's own, in one picker, with an upload button beside it.

import { describeError, postBinary } from "./api.js";
import { node } from "./dom.js";

const UPLOADED = "@uploads/";

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

function group(label, values, text) {
  const el = document.createElement("optgroup");
  el.label = label;
  for (const value of values) el.append(option(value, text(value)));
  return el;
}

function control(param, initial) {
  let input;
  if (param.type === "file" && param.uploads) {
    input = document.createElement("select");
    input.append(option("", "choose a file…"));
    const uploaded = group("Uploaded", param.uploaded || [], (v) => v.slice(UPLOADED.length));
    uploaded.dataset.group = "uploaded";
    input.append(uploaded, group("Samples", param.files || [], (v) => v));
    const known = [...(param.uploaded || []), ...(param.files || [])];
    input.value = known.includes(initial) ? initial : "";
  } else if (param.type === "choice" || param.type === "file") {
    input = document.createElement("select");
    const items = param.type === "choice" ? param.choices : param.files || [];
    input.append(option("", param.type === "file" ? "choose a file…" : "choose…"));
    items.forEach((item, i) => input.append(option(param.type === "choice" ? String(i) : item, String(item))));
    if (param.type === "choice") {
      const unavailable = param.unavailable || [];
      param.choices.forEach((c, i) => {
        if (!unavailable.some((u) => u === c)) return;
        const opt = input.options[i + 1];
        opt.disabled = true;
        opt.textContent = `${c} (install required)`;
      });
      const at = param.choices.findIndex((c) => c === initial && !unavailable.includes(c));
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

/** Send `file` to the server's uploads; resolves to its answer ({ name, value, size, sha256 }). */
function upload(file) {
  return postBinary(`/api/v1/uploads?name=${encodeURIComponent(file.name)}`, file);
}

/** An upload button for a file parameter's picker: the new file is selected once stored. */
function uploader(param, select, say) {
  const box = node("span", "upload-box");
  const picker = document.createElement("input");
  picker.type = "file";
  picker.id = `upload-${param.name}`;
  picker.className = "upload-input";
  picker.setAttribute("aria-label", `Upload a file for ${param.label || param.name}`);
  const status = node("span", "field-help upload-status");
  box.append(picker, status);
  picker.addEventListener("change", async () => {
    const file = picker.files && picker.files[0];
    if (!file) return;
    say("");
    status.textContent = `Uploading ${file.name}…`;
    try {
      const stored = await upload(file);
      const groupEl = select.querySelector('optgroup[data-group="uploaded"]');
      if (![...select.options].some((o) => o.value === stored.value)) {
        groupEl.prepend(option(stored.value, stored.name));
      }
      select.value = stored.value;
      status.textContent = `Uploaded ${stored.name}.`;
    } catch (err) {
      status.textContent = "";
      say(`Upload failed: ${describeError(err)}`);
    } finally {
      picker.value = "";
    }
  });
  return box;
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
    if (param.type === "file" && param.uploads) box.append(uploader(param, input, (m) => showError(param.name, m)));
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
