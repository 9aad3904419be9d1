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

const deletedListeners = [];

/** Call `fn(path)` whenever a request here is answered 404 `run_deleted`: the run the request
 * was about was deleted (a page showing that run says so instead of breaking). */
export function onRunDeleted(fn) {
  deletedListeners.push(fn);
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
    // An array repeats its parameter, a value each (`key=a,b&key=c`: a key may hold a comma).
    if (Array.isArray(v)) for (const item of v) url.searchParams.append(k, String(item));
    else if (v !== null && v !== undefined && v !== "") url.searchParams.set(k, String(v));
  }
  return url;
}

/** The one way to the API: adds the bearer token, reports a 401 to the listeners, and turns a
 * network failure or a non-2xx answer into an ApiError with the server's message. Resolves to
 * the Response when `raw` (a binary answer), else to the decoded JSON. */
async function request(method, path, { params, body, headers = {}, keepalive = false, raw = false } = {}) {
  const sent = { Accept: "application/json", ...headers };
  const t = token();
  if (t) sent.Authorization = `Bearer ${t}`;
  let response;
  try {
    response = await fetch(withQuery(path, params), { method, headers: sent, body, keepalive });
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
    if (response.status === 404 && err.code === "run_deleted") for (const fn of deletedListeners) fn(path);
    throw new ApiError(response.status, err.code || "http", err.message || `HTTP ${response.status}`, err.field);
  }
  return raw ? response : response.json();
}

/** The API path of run `id`. */
export const runPath = (id) => `/api/v1/runs/${encodeURIComponent(id)}`;

/** A metric, media or histogram key as one URL path segment: its slashes go as %2F, which the
 * server's `{key:path}` routes decode back (as the exporter's quote(key, safe="") does). Kept as
 * separators, a `.` or `..` segment (`val/../img`) was removed by the browser before sending. */
export const keyPath = (key) => encodeURIComponent(key);

/** GET a JSON resource; throws ApiError with the server's message on a non-2xx answer. */
export function getJSON(path, params) {
  return request("GET", path, { params });
}

/** GET a binary resource (an image's bytes) as a Blob; throws ApiError like getJSON. */
export async function getBlob(path) {
  const response = await request("GET", path, { headers: { Accept: "*/*" }, raw: true });
  return response.blob();
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
export function postJSON(path, body, extraHeaders = {}) {
  const headers = { ...extraHeaders, Accept: "application/json", "Content-Type": "application/json" };
  return request("POST", path, { body: JSON.stringify(body), headers });
}

/** PATCH a JSON body; resolves to the JSON answer, throws ApiError with the server's message on
 * a non-2xx answer. */
export function patchJSON(path, body) {
  const headers = { Accept: "application/json", "Content-Type": "application/json" };
  return request("PATCH", path, { body: JSON.stringify(body), headers });
}

/** POST bytes (a File or Blob, sent as is) as `contentType`; resolves to the JSON answer,
 * throws ApiError on a non-2xx answer. */
export function postBinary(path, body, contentType = "application/octet-stream") {
  return request("POST", path, { body, headers: { "Content-Type": contentType } });
}

/** DELETE a resource; `keepalive` lets the request outlive an unloading page. Resolves to the
 * JSON answer, throws ApiError on a non-2xx answer. */
export function deleteJSON(path, { keepalive = false } = {}) {
  return request("DELETE", path, { keepalive });
}
