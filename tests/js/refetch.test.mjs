// refetch.js: a read repeated on demand, never two at once, pokes during one coalesced into one
// more that waits out the gap.
import assert from "node:assert/strict";
import { test } from "node:test";

import { coalesce } from "../../src/runwatch/web/js/refetch.js";

/** A read whose every call waits until released; `called(n)` resolves at its n-th call. */
function controlledRead() {
  const starts = [];
  const releases = [];
  const waiters = new Map();
  const read = () => {
    starts.push(performance.now());
    waiters.get(starts.length)?.();
    return new Promise((resolve) => releases.push(resolve));
  };
  const called = (n) => (starts.length >= n ? Promise.resolve() : new Promise((r) => waiters.set(n, r)));
  return { read, starts, releases, called };
}

test("pokes during a read make one more read, no sooner than the gap after the first began", async () => {
  const r = controlledRead();
  const refetch = coalesce(r.read, 40);
  const first = refetch.now();
  refetch.poke();
  refetch.poke();
  refetch.now(); // one in flight: no second read beside it
  assert.equal(r.starts.length, 1);
  r.releases[0]();
  await first;
  await r.called(2);
  assert.equal(r.starts.length, 2);
  assert.ok(r.starts[1] - r.starts[0] >= 39, `${r.starts[1] - r.starts[0]} ms apart`);
  refetch.poke(); // asked while the second is in flight: a third, after it
  r.releases[1]();
  await r.called(3);
  assert.equal(r.starts.length, 3);
  r.releases[2]();
});

test("a read that fails does not stop later ones", async () => {
  let calls = 0;
  let third;
  const thirdCalled = new Promise((resolve) => (third = resolve));
  const refetch = coalesce(async () => {
    calls += 1;
    if (calls === 3) third();
    if (calls === 1) throw new Error("refused");
  }, 0);
  await assert.rejects(refetch.now(), /refused/);
  await refetch.now();
  refetch.poke();
  await thirdCalled;
  assert.equal(calls, 3);
});

test("fromEnd: the gap is counted from when the last read ended", async () => {
  const r = controlledRead();
  const refetch = coalesce(r.read, 40, { fromEnd: true });
  const first = refetch.now();
  refetch.poke();
  await new Promise((resolve) => setTimeout(resolve, 60)); // a read longer than the gap
  const ended = performance.now();
  r.releases[0]();
  await first;
  await r.called(2);
  assert.ok(r.starts[1] - ended >= 39, `${r.starts[1] - ended} ms after the first ended`);
  r.releases[1]();
});

test("stop: nothing asked before or after it is read, and a read in flight asks for no more", async () => {
  const r = controlledRead();
  const refetch = coalesce(r.read, 0);
  const first = refetch.now();
  refetch.poke(); // would be one more after the first
  refetch.stop();
  refetch.poke();
  await refetch.now();
  r.releases[0]();
  await first;
  await new Promise((resolve) => setTimeout(resolve, 0)); // after any 0 ms timer set before it
  assert.equal(r.starts.length, 1);
});
