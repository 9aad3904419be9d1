// Commands sent to a run's producer (cancel, user mutations) and their states, as `command`
// messages report them: pending -> delivered -> applied | failed, never backwards.

import { getJSON, postJSON } from "./api.js";

export const MAX_COMMANDS = 200;
// A POST whose answer was lost (no connection, a proxy's 502-504) is sent again with its key,
// which makes it one command on the server; this many tries in all.
export const SEND_TRIES = 3;
const RETRY_MS = 500;
const RETRIED = new Set([0, 502, 503, 504]);

/** A fresh idempotency key: 128 random bits as hex (crypto.randomUUID needs a secure context). */
export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
const RANK = { pending: 0, delivered: 1, applied: 2, failed: 2 };

/** Show a command's state in `el` (a chip): "<label> <state>", the error (as text) when failed. */
export function showState(el, cmd, label = cmd.kind) {
  el.hidden = false;
  el.dataset.state = cmd.state;
  el.classList.add("cmd-state");
  const word = cmd.state === "applied" ? "applied ✓" : cmd.state === "failed" ? "failed" : `${cmd.state}…`;
  el.textContent = cmd.state === "failed" && cmd.error ? `${label} ${word}: ${cmd.error}` : `${label} ${word}`;
  el.title = cmd.error ? `${label}: ${cmd.state}\n${cmd.error}` : `${label}: ${cmd.state}`;
}

/** The run's commands; `onChange(cmd)` hears every state a command reaches, in order. */
export function mount({ base, onChange }) {
  const byId = new Map();

  function note(cmd) {
    if (!cmd || typeof cmd.id !== "number") return;
    const known = byId.get(cmd.id);
    if (known && (RANK[known.state] ?? 0) > (RANK[cmd.state] ?? 0)) return; // a late, older answer
    if (known && known.state === cmd.state && known.error === cmd.error) return;
    byId.delete(cmd.id);
    byId.set(cmd.id, cmd);
    while (byId.size > MAX_COMMANDS) byId.delete(byId.keys().next().value);
    onChange(cmd);
  }

  return {
    /** POST a command, once per call (one intent: one idempotency key, kept over retries);
     * resolves to it as newest known, or throws the server's ApiError. */
    async send(kind, payload = {}) {
      const headers = { "Idempotency-Key": newKey() };
      for (let attempt = 1; ; attempt++) {
        try {
          const cmd = await postJSON(`${base}/commands`, { kind, payload }, headers);
          note(cmd);
          return byId.get(cmd.id) || cmd; // a live message may have brought a newer state
        } catch (err) {
          if (attempt >= SEND_TRIES || !RETRIED.has(err.status)) throw err;
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS * attempt));
        }
      }
    },
    /** A live `command` message's command. */
    note,
    /** The commands sent before this page opened (newest first from the server). */
    async load() {
      const answer = await getJSON(`${base}/commands`);
      for (const cmd of [...(answer.commands || [])].reverse()) note(cmd);
    },
  };
}
