// The run's managed TensorBoard, embedded: an admin starts it ("Open TensorBoard"); any reader
// then sees it inside the page, through the server's same-origin proxy. The page trades its
// token for a proxy ticket (a cookie for that path only: the frame's own requests cannot carry
// a header), renews the lease and the ticket while it is open, and an admin's page stops the
// process when it goes away.

import { ApiError, deleteJSON, describeError, getJSON, postJSON } from "./api.js";
import { node } from "./dom.js";
import { may, needs, whoami } from "./whoami.js";

export const RENEW_MS = 20_000; // the server's lease is 60 s: three chances before it lapses

/** Mount into `root` (an empty element); `base` is the run's API path. */
export function mount(root, { base }) {
  const path = `${base}/tensorboard`;
  const button = node("button", "button button-primary tb-open", "Open TensorBoard");
  button.type = "button";
  const stop = node("button", "button button-ghost tb-stop", "Stop");
  stop.type = "button";
  stop.hidden = true;
  const status = node("p", "tb-status");
  status.hidden = true;
  const link = node("a", "tb-link", "Open in a new tab");
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  link.hidden = true;
  const frame = node("iframe", "tb-frame");
  frame.title = "TensorBoard";
  frame.hidden = true;
  const actions = node("div", "tb-actions");
  actions.append(button, link, stop);
  root.replaceChildren(actions, status, frame);

  let timer = null;
  let running = false;
  let admin = false;

  function say(text, tone = "") {
    status.textContent = text;
    status.dataset.tone = tone;
    status.hidden = !text;
  }

  /** Get (or renew) the proxy ticket, which also renews the lease; show the frame. */
  async function attach() {
    const session = await postJSON(`${path}/session`, {});
    running = true;
    const url = new URL(session.proxy, location.origin).toString();
    if (frame.src !== url) frame.src = url; // once: a renewal must not reload the view
    frame.hidden = false;
    link.href = url;
    link.hidden = false;
    button.hidden = true;
    stop.hidden = !admin;
    say("Served by this server's TensorBoard; kept running while this page is open.");
    if (!timer) timer = setInterval(renew, RENEW_MS);
  }

  async function renew() {
    try {
      if (admin) await postJSON(path, {}); // restarts it if it died meanwhile
      await attach();
    } catch (err) {
      // A network blip keeps the view (the next renewal may get through); a refusal ends it.
      if (err instanceof ApiError && err.status !== 0) {
        reset();
        say(`TensorBoard stopped: ${describeError(err)}`, "bad");
      }
    }
  }

  async function start() {
    button.disabled = true;
    button.textContent = "Starting TensorBoard…";
    say("");
    try {
      await postJSON(path, {});
      await attach();
    } catch (err) {
      reset();
      const why = err instanceof ApiError && err.status === 403
        ? "only an admin token may start one (it runs a process on the server)."
        : describeError(err);
      say(`Could not start TensorBoard: ${why}`, "bad");
    } finally {
      button.disabled = !admin;
      button.textContent = "Open TensorBoard";
    }
  }

  function reset() {
    clearInterval(timer);
    timer = null;
    running = false;
    link.hidden = true;
    frame.hidden = true;
    frame.removeAttribute("src");
    button.hidden = false;
    stop.hidden = true;
  }

  /** Stop the server's process; `keepalive` lets the request outlive an unloading page. */
  async function release({ keepalive = false } = {}) {
    if (!running) return;
    reset();
    if (!admin) return; // a reader leaves it to its lease
    await deleteJSON(path, { keepalive });
  }

  button.disabled = true; // until the token's scope is known
  whoami().then(async (who) => {
    admin = may(who, "admin");
    button.disabled = !admin;
    if (admin) return;
    // A reader cannot start one, but sees one an admin started.
    const state = await getJSON(path).catch(() => null);
    if (state && state.running) {
      await attach().catch((err) => say(`Could not show TensorBoard: ${describeError(err)}`, "bad"));
    } else {
      say(needs(who, "admin", "TensorBoard runs a process on the server: it"), "bad");
    }
  });
  button.addEventListener("click", () => start());
  stop.addEventListener("click", async () => {
    try {
      await release();
      say("Stopped.");
    } catch (err) {
      say(`Could not stop TensorBoard: ${describeError(err)}`, "bad");
    }
  });
  // The page is going away: a failure has no one left to tell (its lease ends it anyway).
  addEventListener("pagehide", () => release({ keepalive: true }).catch(() => null));

  return {
    get running() {
      return running;
    },
  };
}
