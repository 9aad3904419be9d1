// "Open TensorBoard": asks the server for a managed TensorBoard over the run's directory, shows
// its address, renews the lease while the page is open and stops it when the page goes away.

import { ApiError, describeError, postJSON, token } from "./api.js";
import { may, needs, whoami } from "./whoami.js";

export const RENEW_MS = 20_000; // the server's lease is 60 s: three chances before it lapses

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Mount into `root` (an empty element); `base` is the run's API path. */
export function mount(root, { base }) {
  const path = `${base}/tensorboard`;
  const button = el("button", "button button-primary tb-open", "Open TensorBoard");
  button.type = "button";
  const stop = el("button", "button button-ghost tb-stop", "Stop");
  stop.type = "button";
  stop.hidden = true;
  const status = el("p", "tb-status");
  status.hidden = true;
  const link = el("a", "tb-link");
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  link.hidden = true;
  const actions = el("div", "tb-actions");
  actions.append(button, link, stop);
  root.replaceChildren(actions, status);

  let timer = null;
  let running = false;

  function say(text, tone = "") {
    status.textContent = text;
    status.dataset.tone = tone;
    status.hidden = !text;
  }

  function showInfo(info) {
    link.href = info.url;
    link.textContent = info.url;
    link.hidden = false;
    button.hidden = true;
    stop.hidden = false;
    say("Served on this machine; kept running while this page is open.");
  }

  async function start({ renewing = false } = {}) {
    if (!renewing) {
      button.disabled = true;
      button.textContent = "Starting TensorBoard…";
      say("");
    }
    try {
      const info = await postJSON(path, {});
      running = true;
      showInfo(info);
      if (!timer) timer = setInterval(() => start({ renewing: true }), RENEW_MS);
    } catch (err) {
      if (!renewing || (err instanceof ApiError && err.status !== 0)) reset();
      const why = err instanceof ApiError && err.status === 403
        ? "only an admin token may start one (it runs a process on the server)."
        : describeError(err);
      say(`Could not start TensorBoard: ${why}`, "bad");
    } finally {
      button.disabled = false;
      button.textContent = "Open TensorBoard";
    }
  }

  function reset() {
    clearInterval(timer);
    timer = null;
    running = false;
    link.hidden = true;
    button.hidden = false;
    stop.hidden = true;
  }

  /** Stop the server's process; `keepalive` lets the request outlive an unloading page. */
  function release({ keepalive = false } = {}) {
    if (!running) return null;
    reset();
    const headers = {};
    const t = token();
    if (t) headers.Authorization = `Bearer ${t}`;
    return fetch(path, { method: "DELETE", headers, keepalive }).catch(() => null);
  }

  button.disabled = true; // until the token's scope is known
  whoami().then((who) => {
    button.disabled = !may(who, "admin");
    if (button.disabled) say(needs(who, "admin", "TensorBoard runs a process on the server: it"), "bad");
  });
  button.addEventListener("click", () => start());
  stop.addEventListener("click", async () => {
    await release();
    say("Stopped.");
  });
  addEventListener("pagehide", () => release({ keepalive: true }));

  return {
    get running() {
      return running;
    },
  };
}
