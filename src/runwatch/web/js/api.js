// HTTP access to the runwatch API: one place that knows about the optional bearer token.

const TOKEN_KEY = "runwatch_token";

/** The token this tab was given (sessionStorage, so it never outlives the tab), or null. */
export function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null; // storage can be disabled; then the server must be open
  }
}

const unauthorizedListeners = [];

/** Call `fn` whenever the server refuses this tab's token (or its lack of one): a 401 from any
 * request here, or a socket closed 4401. The token prompt listens, so every page asks. */
export function onUnauthorized(fn) {
  unauthorizedListeners.push(fn);
}

/** Tell the listeners the server wants a (valid) token. */
export function reportUnauthorized() {
  for (const fn of unauthorizedListeners) fn();
}

/** An API failure carrying the server's `{"error": {code, message, field}}`. */
export class ApiError extends Error {
  constructor(status, code, message, field = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

function withQuery(path, params) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== null && v !== undefined && v !== "") url.searchParams.set(k, String(v));
  }
  return url;
}

/** GET a JSON resource; throws ApiError with the server's message on a non-2xx answer. */
export async function getJSON(path, params) {
  const headers = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let response;
  try {
    response = await fetch(withQuery(path, params), { headers });
  } catch (err) {
    throw new ApiError(0, "network", `cannot reach the server (${err.message})`);
  }
  if (!response.ok) {
    if (response.status === 401) reportUnauthorized();
    let err = {};
    try {
      err = (await response.json()).error || {};
    } catch {
      // not JSON: keep the HTTP status as the message
    }
    throw new ApiError(response.status, err.code || "http", err.message || `HTTP ${response.status}`, err.field);
  }
  return response.json();
}

/** A ws:// or wss:// URL for `path`; a socket cannot send headers, so the token rides in the query. */
export function socketURL(path, params) {
  const url = withQuery(path, params);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const t = token();
  if (t) url.searchParams.set("token", t);
  return url.toString();
}

/** A short, human sentence for an error shown in a banner. */
export function describeError(err) {
  if (err instanceof ApiError) {
    if (err.status === 401) return "Not authorized: this server needs a token (sessionStorage 'runwatch_token').";
    // The server's refusal says why: the scope the token lacks, or the project it is limited to.
    if (err.status === 403) return `Forbidden: ${err.message}`;
    return err.message;
  }
  return String(err && err.message ? err.message : err);
}

/** POST a JSON body (always as application/json: the server refuses anything else with 415),
 * with `extraHeaders` (an Idempotency-Key); resolves to the JSON answer, throws ApiError with the server's message on a non-2xx answer. */
export async function postJSON(path, body, extraHeaders = {}) {
  const headers = { ...extraHeaders, Accept: "application/json", "Content-Type": "application/json" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let response;
  try {
    response = await fetch(withQuery(path), { method: "POST", headers, body: JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, "network", `cannot reach the server (${err.message})`);
  }
  if (!response.ok) {
    if (response.status === 401) reportUnauthorized();
    let err = {};
    try {
      err = (await response.json()).error || {};
    } catch {
      // not JSON: keep the HTTP status as the message
    }
    throw new ApiError(response.status, err.code || "http", err.message || `HTTP ${response.status}`, err.field);
  }
  return response.json();
}

/** DELETE a resource; resolves to the JSON answer, throws ApiError on a non-2xx answer. */
export async function deleteJSON(path) {
  const headers = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let response;
  try {
    response = await fetch(withQuery(path), { method: "DELETE", headers });
  } catch (err) {
    throw new ApiError(0, "network", `cannot reach the server (${err.message})`);
  }
  if (!response.ok) {
    if (response.status === 401) reportUnauthorized();
    let err = {};
    try {
      err = (await response.json()).error || {};
    } catch {
      // not JSON: keep the HTTP status as the message
    }
    throw new ApiError(response.status, err.code || "http", err.message || `HTTP ${response.status}`, err.field);
  }
  return response.json();
}
