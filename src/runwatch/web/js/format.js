// Pure formatting helpers: no DOM, no globals, so every function is unit-testable on its own.

// A Map, not an object: `"constructor" in {}` is true, and a text value may be any word.
const NON_FINITE = new Map([
  ["nan", NaN], ["NaN", NaN], ["inf", Infinity], ["Infinity", Infinity], ["-inf", -Infinity], ["-Infinity", -Infinity],
]);

/** Whether a string spells a non-finite number: the wire's "nan"/"inf"/"-inf", or JS's own. */
export function isNonFiniteWord(value) {
  return NON_FINITE.has(value);
}

/** A wire value (number, null or "nan"/"inf"/"-inf") as a chartable number, or null for a gap. */
export function toPlotValue(raw) {
  if (typeof raw === "number") return Number.isFinite(raw) ? raw : null;
  return null;
}

/** A wire value as a JS number, keeping NaN and ±Infinity (null is NaN, as on the wire). */
export function toNumber(raw) {
  if (typeof raw === "number") return raw;
  if (raw === null || raw === undefined) return NaN;
  return NON_FINITE.has(raw) ? NON_FINITE.get(raw) : NaN;
}

/** A metric value for people: 4 significant digits, exponent only when very large or small. */
export function formatValue(raw) {
  const v = toNumber(raw);
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+∞";
  if (v === -Infinity) return "−∞";
  if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2).replace("e+", "e");
  return String(Number(v.toPrecision(4)));
}

/**
 * A summary value for a one-line cell: numbers (and "nan"/"inf"/"-inf", how a non-finite number
 * is stored) as formatValue shows them, text as itself, cut to `max` characters with "…".
 */
export function summaryText(raw, max = 24) {
  if (typeof raw === "number" || raw === null || raw === undefined || NON_FINITE.has(raw)) return formatValue(raw);
  const text = formatScalar(raw);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

// Past this, G would need four or more digits (and past 1e21 JS writes "1e+21" itself):
// exponents read better, as they do for tiny values.
const HUGE = 1e12;

/** An axis tick: shorter than formatValue, with k/M/G suffixes for big step counts. */
export function formatTick(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "";
  const a = Math.abs(v);
  if (a >= HUGE) return v.toExponential(2).replace(/\.?0+e/, "e").replace("e+", "e");
  if (a >= 1e9) return `${Number((v / 1e9).toPrecision(3))}G`;
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((v / 1e3).toPrecision(3))}k`;
  if (a !== 0 && a < 1e-3) return v.toExponential(1).replace("e+", "e");
  return String(Number(v.toPrecision(4)));
}

const TICK_SUFFIXES = [
  [1e9, "G"],
  [1e6, "M"],
  [1e3, "k"],
];

function tickLabels(ticks, scale, suffix, decimals) {
  return ticks.map((v) => {
    if (v === null || v === undefined || !Number.isFinite(v)) return "";
    const text = (v / scale).toFixed(decimals);
    return Number(text) === 0 ? "0" : `${text}${suffix}`;
  });
}

// Ticks sit on multiples of 1, 2, 2.5 or 5 times a power of ten, so one digit past the
// spacing's own shows any of them; a little more is allowed for odd ticks (log axes), no more.
const EXTRA_DIGITS = 3;

/**
 * The fewest digits (at least `least`) with which `show(v, digits)` reads back as every value,
 * to within float noise well below the spacing (0.30000000000000004 reads as 0.3).
 */
function exactDigits(values, least, step, show) {
  const noise = step * 1e-6;
  let digits = least;
  for (const v of values) {
    while (digits < Math.min(12, least + EXTRA_DIGITS) && Math.abs(Number(show(v, digits)) - v) > noise) digits += 1;
  }
  return digits;
}

/**
 * An axis's tick labels, with the precision their spacing needs so neighbours never read the
 * same ("776k 777k 777k" at a narrow zoom). `incr` is the tick spacing (taken from the ticks
 * when not given). One suffix (k/M/G) for the whole axis, and only while it needs at most two
 * decimals; exponents for axes of tiny or huge values.
 */
export function formatTicks(ticks, incr) {
  const finite = ticks.filter((v) => v !== null && v !== undefined && Number.isFinite(v));
  if (!finite.length) return ticks.map(() => "");
  let step = incr;
  if (!(step > 0)) {
    step = Infinity;
    for (let i = 1; i < finite.length; i++) {
      const d = Math.abs(finite[i] - finite[i - 1]);
      if (d > 0) step = Math.min(step, d);
    }
    if (!Number.isFinite(step)) step = Math.abs(finite[0]) || 1;
  }
  const top = Math.max(...finite.map(Math.abs));
  if (top !== 0 && (top < 1e-3 || top >= HUGE)) {
    const least = Math.max(0, Math.ceil(Math.log10(top / step) - 1e-9));
    const digits = exactDigits(finite, least, step, (v, d) => v.toExponential(d));
    return ticks.map((v) => (v === null || v === undefined || !Number.isFinite(v) ? "" : v === 0 ? "0" : v.toExponential(digits).replace("e+", "e")));
  }
  let [scale, suffix] = [1, ""];
  for (const [s, name] of TICK_SUFFIXES) {
    if (top >= (s === 1e3 ? 1e4 : s) && step / s >= 0.01) {
      [scale, suffix] = [s, name];
      break;
    }
  }
  // Enough decimals to show the spacing and each tick as it is (0.25, not 0.3); more only if
  // rounding still makes two labels equal.
  const least = Math.min(12, Math.max(0, Math.ceil(-Math.log10(step / scale) - 1e-9)));
  let decimals = exactDigits(finite.map((v) => v / scale), least, step / scale, (v, d) => v.toFixed(d));
  let labels = tickLabels(ticks, scale, suffix, decimals);
  while (new Set(labels.filter(Boolean)).size < new Set(finite).size && decimals < 12) {
    decimals += 1;
    labels = tickLabels(ticks, scale, suffix, decimals);
  }
  return labels;
}

/** A span of seconds as "42s", "3m 05s", "2h 04m" or "3d 07h". */
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.floor(seconds));
  const pad = (n) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d ${pad(Math.floor((s % 86400) / 3600))}h`;
}

/** How long ago `ts` was, relative to `now` (both unix seconds): "3 s ago", "5 min ago". */
export function formatAgo(ts, now) {
  if (ts === null || ts === undefined) return "—";
  const d = Math.max(0, now - ts);
  if (d < 1) return "just now";
  if (d < 60) return `${Math.floor(d)} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  return `${Math.floor(d / 86400)} d ago`;
}

/** Wall-clock time of day, "14:03:27", in the viewer's zone. */
export function formatClock(ts) {
  if (ts === null || ts === undefined) return "—";
  const d = new Date(ts * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Date and time, "2024-05-01 14:03", in the viewer's zone. */
export function formatDateTime(ts) {
  return ts === null || ts === undefined ? "—" : formatWallTime(ts, -1);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/**
 * A time axis's tick labels (unix seconds, the viewer's zone), one short line each: "14:05:30"
 * for spacings under a minute (with tenths or less below a second), "14:05" under a day, "Dec 6"
 * beyond. The first tick and each on a new day also name the day: "Dec 6 14:05".
 */
export function formatTimeTicks(ticks, incr) {
  const pad = (n) => String(n).padStart(2, "0");
  const fraction = incr < 1 ? Math.min(3, Math.ceil(-Math.log10(incr) - 1e-9)) : 0;
  let day = null;
  return ticks.map((t) => {
    if (t === null || t === undefined || !Number.isFinite(t)) return "";
    const d = new Date(t * 1000);
    const date = `${MONTHS[d.getMonth()]} ${d.getDate()}`;
    if (incr >= 86400) return date;
    let time = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    if (incr < 60) {
      const seconds = d.getSeconds() + (fraction ? (t - Math.floor(t)) : 0);
      time += `:${seconds.toFixed(fraction).padStart(fraction ? fraction + 3 : 2, "0")}`;
    }
    const label = date === day ? time : `${date} ${time}`;
    day = date;
    return label;
  });
}

// Precision escalates until every tick reads differently; past this many decimals a time axis
// would be finer than the float seconds it plots can resolve.
const MAX_TIME_DIGITS = 6;

/** Decimals of a second that show a time spacing of `incr` seconds (0 for a second or more). */
function secondDigits(incr) {
  return incr > 0 && incr < 1 ? Math.min(MAX_TIME_DIGITS, Math.ceil(-Math.log10(incr) - 1e-9)) : 0;
}

function distinctLabels(labels, ticks) {
  const finite = ticks.filter((v) => v !== null && v !== undefined && Number.isFinite(v));
  return new Set(labels.filter(Boolean)).size === new Set(finite).size;
}

/**
 * Seconds since a run's start, compact: "0s", "42s", "1m30s", "2h05m", "3d04h", "-5s"; zero
 * components at the end are left out ("2h", not "2h00m00s"). `digits`: decimals of the seconds.
 */
export function formatRelative(seconds, digits = 0) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "";
  const scale = 10 ** digits;
  // Whole units of 10^-digits seconds, so 59.9996 at three digits carries into the minute.
  let units = Math.round(Math.abs(seconds) * scale);
  const sign = seconds < 0 && units > 0 ? "-" : "";
  const fraction = units % scale;
  let s = (units - fraction) / scale;
  const parts = [];
  for (const [size, name] of [[86400, "d"], [3600, "h"], [60, "m"]]) {
    const n = Math.floor(s / size);
    s -= n * size;
    if (n || parts.length) parts.push([n, name]);
  }
  parts.push([s, "s", fraction]);
  while (parts.length > 1 && parts[parts.length - 1][0] === 0 && !parts[parts.length - 1][2]) parts.pop();
  const pad = (n, i) => (i ? String(n).padStart(2, "0") : String(n));
  return sign + parts.map(([n, name, frac], i) => {
    const whole = pad(n, i);
    return frac ? `${whole}.${String(frac).padStart(digits, "0").replace(/0+$/, "")}${name}` : `${whole}${name}`;
  }).join("");
}

/**
 * A relative-time axis's tick labels: formatRelative at the precision of the spacing `incr`
 * (a digit or two more for ticks off it, as 0.25 s apart), finer while two would read the same.
 */
export function formatRelativeTicks(ticks, incr) {
  const noise = (incr > 0 ? incr : 1) * 1e-6;
  const exact = (d) => ticks.every((t) => !Number.isFinite(t) || Math.abs(Math.round(t * 10 ** d) / 10 ** d - t) <= noise);
  let digits = secondDigits(incr);
  while (!exact(digits) && digits < secondDigits(incr) + 2) digits += 1; // 0.25 s apart: "10.25s"
  let labels = ticks.map((t) => formatRelative(t, digits));
  while (!distinctLabels(labels, ticks) && digits < MAX_TIME_DIGITS) {
    digits += 1;
    labels = ticks.map((t) => formatRelative(t, digits));
  }
  return labels;
}

/**
 * Unix seconds as "2024-05-01 14:03:27.250" in the viewer's zone: `digits` decimals of the
 * second; -1 stops at the minute ("2024-05-01 14:03"), -2 at the day ("2024-05-01").
 */
export function formatWallTime(ts, digits = 0) {
  if (ts === null || ts === undefined || !Number.isFinite(ts)) return "";
  let whole = Math.floor(ts);
  let frac = digits > 0 ? Math.round((ts - whole) * 10 ** digits) : 0;
  if (frac === 10 ** digits) [whole, frac] = [whole + 1, 0]; // 27.9999 at three digits is 28.000
  const d = new Date(whole * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  let text = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  if (digits >= -1) text += ` ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (digits >= 0) text += `:${pad(d.getSeconds())}`;
  if (digits > 0) text += `.${String(frac).padStart(digits, "0")}`;
  return text;
}

/**
 * A wall-clock axis's tick labels (unix seconds, the viewer's zone): formatTimeTicks's short
 * labels while they all differ; else (yearly ticks, the hour a clock goes back, spacings under a
 * millisecond) full dates and times, down to the fraction of a second that tells them apart.
 */
export function formatWallTicks(ticks, incr) {
  const short = formatTimeTicks(ticks, incr);
  if (distinctLabels(short, ticks)) return short;
  const offset = (t) => {
    const m = -new Date(Math.floor(t) * 1000).getTimezoneOffset();
    const pad = (n) => String(n).padStart(2, "0");
    return ` ${m < 0 ? "-" : "+"}${pad(Math.floor(Math.abs(m) / 60))}:${pad(Math.abs(m) % 60)}`;
  };
  let labels = short;
  const first = incr >= 86400 ? -2 : incr >= 60 ? -1 : secondDigits(incr);
  for (let digits = first; digits <= MAX_TIME_DIGITS; digits++) {
    labels = ticks.map((t) => formatWallTime(t, digits));
    if (distinctLabels(labels, ticks)) return labels;
  }
  // Only the zone's offset tells the two 01:30s of a night the clocks go back apart.
  return ticks.map((t, i) => (labels[i] ? labels[i] + offset(t) : ""));
}

/** Any JSON value as one line of text (strings as themselves, the rest as JSON). */
export function formatScalar(value) {
  if (typeof value === "string") return value;
  if (value === undefined) return "";
  return JSON.stringify(value);
}

/** A nested config as sorted [["a.b", "text"], ...]; arrays stay whole (one line of JSON). */
export function flattenConfig(config, prefix = "", out = []) {
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    if (prefix) out.push([prefix, formatScalar(config)]);
    return out;
  }
  const keys = Object.keys(config);
  if (keys.length === 0 && prefix) out.push([prefix, "{}"]);
  for (const key of keys) flattenConfig(config[key], prefix ? `${prefix}.${key}` : key, out);
  if (!prefix) out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return out;
}

/** A duration for a payload: "850ms", "3.5s", "42.1s", "3m 05s"; null when not a duration. */
export function shortDuration(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) return null;
  if (seconds < 1) return `${Number((seconds * 1000).toPrecision(3))}ms`;
  if (seconds < 60) return `${Number(seconds.toPrecision(3))}s`;
  return formatDuration(seconds);
}

// Payload keys that hold a duration, and how many seconds one unit of them is.
const DURATION_KEYS = [
  [/_ms$/, 1e-3],
  [/_(sec|secs|seconds)$/, 1],
  [/(^|_)(duration|elapsed|took|latency|wall)_s$/, 1],
];

/** A payload entry as shown: durations shortened ("duration_ms=3500" -> "duration=3.5s"). */
export function describeEntry(key, value) {
  for (const [pattern, unit] of DURATION_KEYS) {
    if (!pattern.test(key)) continue;
    const text = shortDuration(typeof value === "number" ? value * unit : NaN);
    if (text !== null) return `${key.replace(/_(ms|sec|secs|seconds|s)$/, "")}=${text}`;
  }
  return `${key}=${formatScalar(value)}`;
}

/** An event payload as "k=v k2=v2" (nulls left out, durations shortened), cut to `max` characters. */
export function describePayload(payload, max = 240) {
  if (payload === null || typeof payload !== "object") return "";
  const parts = [];
  for (const [key, value] of Object.entries(payload)) {
    if (value === null || value === undefined) continue;
    parts.push(describeEntry(key, value));
  }
  const text = parts.join("  ");
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A stable colour index for a metric key, so a key keeps its colour across reloads. */
export function hashIndex(text, modulo) {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % modulo;
}

/** A whole number with thousands separators, "12,345" (steps, counts). */
export function formatCount(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return "—";
  return Math.round(n).toLocaleString("en-US");
}

// ---------- run page widgets: leaderboard cells, vitals ----------

/** A leaderboard cell: integers bare, floats to 4 decimals, tiny non-zero floats as "1.23e-5". */
export function formatCell(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return formatValue(value);
    if (Number.isInteger(value)) return String(value);
    if (Math.abs(value) < 1e-4) return value.toExponential(2).replace("e+", "e");
    return value.toFixed(4);
  }
  return formatScalar(value);
}

// Vital keys end in their unit: "sys/cpu_percent", "sys/rss_mb", "sys/records_per_s",
// "sys/mem_bytes"; a bare "rss" is a resident set size in bytes.
const VITAL_UNITS = [
  ["_percent", "%"],
  ["_util", "%"],
  ["_mb", " MB"],
  ["_per_s", "/s"],
  ["_bytes", "bytes"],
];
const BYTE_UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];

/** Whether a key's values are byte counts: "*_bytes", or "rss" as the key's last word. */
export function isByteKey(key) {
  return key.endsWith("_bytes") || /(^|[/_.])rss$/.test(key);
}

/** The unit suffix a vital key implies ("%", " MB", "/s", "bytes") or "" when it names none. */
export function vitalUnit(key) {
  if (isByteKey(key)) return "bytes";
  const found = VITAL_UNITS.find(([suffix]) => key.endsWith(suffix));
  return found ? found[1] : "";
}

/** A byte count in binary units: "512 B", "1.5 KB", "87.3 MB", "3.0 GB" (1 KB = 1024 B). */
export function formatBytes(raw) {
  const v = toNumber(raw);
  if (!Number.isFinite(v)) return formatValue(raw);
  let scaled = Math.abs(v);
  let unit = 0;
  // Step up at 1000, not 1024: never a four-digit "1023 KB".
  while (scaled >= 1000 && unit < BYTE_UNITS.length - 1) {
    scaled /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${Math.round(v)} B`;
  // Three significant digits at most, so the card keeps one width as the value moves.
  const text = scaled >= 100 ? scaled.toFixed(0) : scaled.toFixed(1);
  return `${v < 0 ? "-" : ""}${text} ${BYTE_UNITS[unit]}`;
}

/** A vital's short label: "sys/cpu_percent" -> "cpu", "sys/gpu0_mem_mb" -> "gpu0 mem", "sys/mem_bytes" -> "mem". */
export function vitalLabel(key) {
  let name = key.startsWith("sys/") ? key.slice(4) : key;
  const found = VITAL_UNITS.find(([suffix]) => name.endsWith(suffix) && name.length > suffix.length);
  if (found) name = name.slice(0, -found[0].length);
  return name.replaceAll("_", " ");
}

/** A vital's latest value with its unit: "42.5%", "1,234 MB", "87.3 MB", "1.2k/s", "0.25". */
export function formatVital(key, raw) {
  const v = toNumber(raw);
  if (!Number.isFinite(v)) return formatValue(raw);
  const unit = vitalUnit(key);
  if (unit === "%") return `${Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1)}%`;
  if (unit === " MB") return Math.abs(v) >= 100 ? `${formatCount(v)} MB` : `${v.toFixed(1)} MB`;
  if (unit === "bytes") return formatBytes(v);
  if (unit === "/s") return `${Math.abs(v) >= 1e4 ? formatTick(v) : String(Number(v.toPrecision(3)))}/s`;
  return formatValue(v);
}
