// sweep-runs.js: the sweep page's runs are re-read one read at a time, and a change heard during
// a read is read after it. The browser's fetch, WebSocket, location and sessionStorage are
// stubbed (node has none of a page's); the answers are real Response objects.
import assert from "node:assert/strict";
import { test } from "node:test";

import { followRuns } from "../../src/runwatch/web/js/sweep-runs.js";

globalThis.sessionStorage = { getItem: () => null };
globalThis.location = { origin: "http://hub.test", protocol: "http:" };

const sockets = [];
globalThis.WebSocket = class extends EventTarget {
  constructor(url) {
    super();
    sockets.push(this);
  }
  close() {}
};
const say = (msg) => sockets.at(-1).dispatchEvent(Object.assign(new Event("message"), { data: JSON.stringify(msg) }));

const requests = []; // {url, answer(body)}: each answered when the test says
const waiters = new Map();
let open = 0;
let mostOpen = 0;
globalThis.fetch = (url) =>
  new Promise((resolve) => {
    open += 1;
    mostOpen = Math.max(mostOpen, open);
    requests.push({
      url: new URL(url),
      answer(body) {
        open -= 1;
        resolve(Response.json(body));
      },
    });
    waiters.get(requests.length)?.();
  });
const requested = (n) => (requests.length >= n ? Promise.resolve() : new Promise((r) => waiters.set(n, r)));

test("a run changed while its re-read is in flight is read after it, never beside it", async () => {
  const run = (id) => ({ id, created_at: 1 });
  const source = followRuns({ project: "p", tag: "sweep:s" }, { onChange() {}, onError() {}, onConn() {} });
  say({ type: "runs", runs: [] });
  await requested(1);
  requests[0].answer({ runs: [run("r1"), run("r2")], total: 2, cursor: null });
  say({ type: "run", run: run("r1") });
  await requested(2);
  assert.match(requests[1].url.searchParams.get("q"), /"r1"/);
  // Past the gap with the re-read still running: the next change waits for it.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  say({ type: "run", run: run("r2") });
  await new Promise((resolve) => setTimeout(resolve, 0)); // after any 0 ms timer the change set
  assert.equal(requests.length, 2);
  requests[1].answer({ runs: [run("r1")], total: 1, cursor: null });
  await requested(3);
  assert.match(requests[2].url.searchParams.get("q"), /"r2"/);
  requests[2].answer({ runs: [run("r2")], total: 1, cursor: null });
  source.stop();
  assert.equal(mostOpen, 1);
});
