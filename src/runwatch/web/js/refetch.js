// A read a page repeats because live messages say its answer changed: never two at once, at most
// one start per gap however many messages come, and one more after a read in flight when asked
// for meanwhile (so the last answer shown is never older than the last message).

/**
 * Repeat `read()` (async) on demand, at most once per `minGapMs`, counted from when the last
 * read began (`fromEnd`: from when it ended, so a slow read spaces out the next). Returns
 * {poke(), now(), stop()}: poke asks for a read after the gap; now starts one at once (or, with
 * one in flight, one more after it) and resolves when the read it started ends; stop cancels
 * what is asked and ignores later asks.
 */
export function coalesce(read, minGapMs, { fromEnd = false } = {}) {
  let last = -Infinity; // when the last read started (fromEnd: ended)
  let timer = null;
  let busy = false;
  let again = false;
  let stopped = false;

  async function run() {
    clearTimeout(timer);
    timer = null;
    busy = true;
    last = performance.now();
    try {
      await read();
    } finally {
      busy = false;
      if (fromEnd) last = performance.now();
      if (again) {
        again = false;
        poke();
      }
    }
  }

  function poke() {
    if (stopped) return;
    if (busy) again = true;
    else if (timer === null) timer = setTimeout(run, Math.max(0, last + minGapMs - performance.now()));
  }

  function now() {
    if (stopped) return Promise.resolve();
    if (!busy) return run();
    again = true;
    return Promise.resolve();
  }

  function stop() {
    stopped = true;
    clearTimeout(timer);
    timer = null;
  }

  return { poke, now, stop };
}
