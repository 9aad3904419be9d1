// A read a page repeats because live messages say its answer changed: never two at once, at most
// one start per gap however many messages come, and one more after a read in flight when asked
// for meanwhile (so the last answer shown is never older than the last message).

/**
 * Repeat `read()` (async) on demand, at most once per `minGapMs`. Returns
 * {poke(), now()}: poke asks for a read after the gap; now starts one at once (or, with one in
 * flight, one more after it) and resolves when the read it started ends.
 */
export function coalesce(read, minGapMs) {
  let last = -Infinity; // when the last read started
  let timer = null;
  let busy = false;
  let again = false;

  async function run() {
    clearTimeout(timer);
    timer = null;
    busy = true;
    last = performance.now();
    try {
      await read();
    } finally {
      busy = false;
      if (again) {
        again = false;
        poke();
      }
    }
  }

  function poke() {
    if (busy) again = true;
    else if (timer === null) timer = setTimeout(run, Math.max(0, last + minGapMs - performance.now()));
  }

  function now() {
    if (!busy) return run();
    again = true;
    return Promise.resolve();
  }

  return { poke, now };
}
