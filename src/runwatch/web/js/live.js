// One live WebSocket with runwatch's rules: apply each seq once, in order; re-hydrate on
// "reset"; reconnect with backoff after an unexpected close; never retry auth or unknown-run
// closes; stop for good after "run.closed" (which follows "run.deleted" too); say "live" with a reason while a "bus" message
// says the server's bus is down (updates then come from a re-read every second).

import { reportUnauthorized } from "./api.js";

// Close codes the server uses for "do not retry": the answer would be the same next time.
const FINAL_CLOSES = {
  4400: "bad request: a parameter may not contain NUL",
  4401: "not authorized: missing or invalid token",
  4403: "forbidden: this token may not read this",
  4404: "unknown run",
};
const BACKOFF_MIN_MS = 400;
const BACKOFF_MAX_MS = 8000;

/**
 * Open a live socket and keep it open until stop() or a final close.
 *
 * opts.url(lastSeq)   -> the ws:// URL to (re)connect to, resuming after lastSeq
 * opts.ordered        -> true for a run stream: drop seqs already applied and track the last one
 * opts.since          -> the seq the page is already current to (from /state)
 * opts.onMessage(msg) -> called once per applied message, in order
 * opts.onReset()      -> async re-hydration; resolves to the seq the new state is current to
 * opts.onConn(state, detail) -> "connecting" | "live" | "closed" | "error"; "live" with a
 *                        detail is live but degraded, the detail (server text) says why
 * opts.probe()        -> async; after a socket failed before opening, a reason to give up
 *                        (e.g. a 401 from the REST API) or null to keep retrying
 */
export function openLive(opts) {
  let lastSeq = opts.since ?? 0;
  let socket = null;
  let stopped = false;
  let finished = false; // "run.closed" seen: the server will close, we will not come back
  let attempt = 0;
  let timer = null;
  let resetting = null; // messages that arrived while re-hydrating, applied afterwards
  let abandoned = null; // a socket being closed on purpose: its last frames are ignored
  const conn = (state, detail = "") => opts.onConn && opts.onConn(state, detail);

  function accept(msg) {
    if (!opts.ordered || typeof msg.seq !== "number") return true;
    // run.closed repeats the last record's seq: it is a marker, not a record; so may
    // run.deleted (the run went while the stream re-read the store).
    if (msg.type === "run.closed" || msg.type === "run.deleted") return true;
    if (msg.seq <= lastSeq) return false;
    return true;
  }

  function apply(msg) {
    // A "bus" message repeats a seq, like run.closed; it is about the socket, not the data.
    if (msg.type === "bus") {
      conn("live", typeof msg.degraded === "string" ? msg.degraded : "");
      return;
    }
    if (!accept(msg)) return;
    if (msg.type === "reset") {
      startReset();
      return;
    }
    const marker = msg.type === "run.closed" || msg.type === "run.deleted";
    if (opts.ordered && typeof msg.seq === "number" && !marker) lastSeq = msg.seq;
    if (msg.type === "run.closed") finished = true;
    opts.onMessage(msg);
  }

  async function startReset() {
    resetting = [];
    try {
      const seq = opts.onReset ? await opts.onReset() : undefined;
      if (opts.ordered && typeof seq === "number") lastSeq = seq;
    } catch {
      // Applying what follows would leave a hole: drop it and reconnect from the last seq
      // applied, so the server replays (or resets us again).
      resetting = null;
      if (socket) {
        abandoned = socket;
        socket.close(4000, "re-sync failed");
      }
      return;
    }
    const queued = resetting;
    resetting = null;
    for (const msg of queued) handle(msg);
  }

  function handle(msg) {
    if (resetting) resetting.push(msg);
    else apply(msg);
  }

  function onFrame(event) {
    if (event.target === abandoned) return;
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return; // not ours; a malformed frame must not kill the stream
    }
    attempt = 0;
    for (const msg of Array.isArray(data) ? data : [data]) handle(msg);
  }

  function connect() {
    if (stopped) return;
    conn("connecting", attempt ? "reconnecting…" : "");
    let opened = false;
    const ws = new WebSocket(opts.url(lastSeq));
    socket = ws;
    ws.addEventListener("open", () => {
      opened = true;
      conn("live");
    });
    ws.addEventListener("message", onFrame);
    ws.addEventListener("close", (event) => onClose(ws, event, opened));
  }

  async function onClose(ws, event, opened) {
    if (ws !== socket || stopped) return;
    socket = null;
    if (finished) {
      conn("closed", "run finished");
      return;
    }
    if (event.code in FINAL_CLOSES) {
      if (event.code === 4401) reportUnauthorized();
      conn("error", event.reason || FINAL_CLOSES[event.code]);
      return;
    }
    // A refused handshake looks like a network error (1006); ask the REST API why, once.
    if (!opened && opts.probe) {
      const reason = await opts.probe().catch(() => null);
      if (stopped) return;
      if (reason) {
        conn("error", reason);
        return;
      }
    }
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** attempt) * (0.75 + Math.random() / 2);
    attempt += 1;
    conn("connecting", `reconnecting in ${Math.ceil(delay / 1000)} s`);
    timer = setTimeout(connect, delay);
  }

  connect();
  return {
    get lastSeq() {
      return lastSeq;
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      if (socket) socket.close(1000, "page closed");
      socket = null;
    },
  };
}
