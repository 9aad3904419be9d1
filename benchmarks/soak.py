"""Soak: 3 producers and 50 viewers for 10 minutes; does the server's memory stay flat?

Run from the repo root (``--minutes 2`` for a quick look)::

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--producers 3] [--viewers 50] [--slow 5]

A real ``runwatch serve`` on 127.0.0.1. ``--producers`` SDK processes (``telemetry_producer.py``),
one run each, ticking at ``--rate`` Hz: 16 metrics (4 vitals; the SDK adds 4 ``sys/`` keys), ~3
events/s, a FIFO point set (+20 points a tick, cap 4,000), a 4,000-point "embedding" replaced
every 5 s, a 20-row leaderboard replaced every second, a snapshot every 5 s. One viewer process
(``live_viewers.py``) holds ``--viewers`` WebSockets spread over the runs, each reading from
``since=0`` (replay, then live); the last ``--slow`` of them read at ``--slow-kib`` KiB/s
(less than a run streams), so they fall behind and the server must bound what it keeps for them.

Every ``--sample`` s: the server's RSS (psutil), its open files and threads, its CPU and the
rest of the machine's (% of one core; this machine is shared), records delivered (all viewers),
the stored records (sum of the runs' seqs) and the data dir's size. At the end the producers
finish, the fast viewers must have every record of their run exactly once, in order, and the
run's close. Target: RSS at the end within 10% of RSS at minute 2 (minute 1 if ``--minutes``
<= 2); the slope after that minute is printed too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common
import httpx
import psutil

HERE = Path(__file__).resolve().parent
CPUS = psutil.cpu_count() or 1
MB = 2**20
Result = dict[str, Any]


def dir_bytes(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        with contextlib.suppress(OSError):
            total += p.stat().st_size if p.is_file() else 0
    return total


def run_seqs(http: httpx.Client, runs: list[str]) -> dict[str, int]:
    """Each run's current seq (0 until the SDK has created it)."""
    return {r: int(http.get(f"/api/v1/runs/{r}").json().get("seq", 0)) for r in runs}


def rss(proc: psutil.Process) -> int:
    try:
        return int(proc.memory_info().rss)
    except psutil.Error:  # it has exited
        return 0


def soak(args: Any, tmp: Path) -> Result:
    server = common.Server(tmp / "data").start()
    http = httpx.Client(base_url=server.url, timeout=30)
    producers: list[common.Child] = []
    viewers: common.Child | None = None
    try:
        bound = args.minutes * 60 + 240
        for i in range(args.producers):
            cmd = [sys.executable, str(HERE / "telemetry_producer.py"), server.url, "bench-soak",
                   f"producer-{i}", "--rate", str(args.rate), "--seconds", str(bound),
                   "--run-dir", str(tmp / f"run-{i}")]  # fmt: skip
            producers.append(common.Child(cmd, stderr=tmp / f"producer-{i}.err"))
        runs = [p.lines.wait("RUN ", 60).split()[1] for p in producers]
        common.wait_for(lambda: all(s > 0 for s in run_seqs(http, runs).values()), 60, "the runs")
        cmd = [sys.executable, str(HERE / "live_viewers.py"), server.url, ",".join(runs),
               str(args.viewers), "--slow", str(args.slow), "--slow-kib", str(args.slow_kib),
               "--since", "0"]  # fmt: skip
        viewers = common.Child(cmd)
        if not viewers.lines.wait("READY", 120):
            raise RuntimeError("the viewers did not connect")
        srv = psutil.Process(server.pid)
        procs = {"server": srv, "viewers": psutil.Process(viewers.proc.pid),
                 **{f"p{i}": psutil.Process(p.proc.pid) for i, p in enumerate(producers)}}  # fmt: skip
        print(f"{args.producers} producers, {args.viewers} viewers ({args.slow} slow) on runs "
              f"{', '.join(runs)}; sampling every {args.sample:g} s", flush=True)  # fmt: skip
        samples: list[Result] = []
        t0, cpu0, last_delivered = time.monotonic(), common.cpu_snapshot(procs), 0
        t_prev = t0
        for k in range(1, max(1, round(args.minutes * 60 / args.sample)) + 1):
            time.sleep(max(0.0, t0 + k * args.sample - time.monotonic()))
            cpu1, now = common.cpu_snapshot(procs), time.monotonic()
            wall, t_prev = now - t_prev, now
            used = common.cpu_percent(cpu0, cpu1, wall)
            busy = (cpu1["machine"] - cpu0["machine"]) * 100 / wall / CPUS
            cpu0 = cpu1
            stats = viewers.ask("STATS", "STATS ") or {}
            delivered = stats.get("all", {}).get("records", 0)
            mem = srv.memory_info()
            sample = {"t": now - t0, "rss": mem.rss, "fds": srv.num_fds(),
                      "threads": srv.num_threads(), "cpu": used, "busy": busy,
                      "delivered": delivered, "rate": (delivered - last_delivered) / wall,
                      "stored": sum(run_seqs(http, runs).values()),
                      "disk": dir_bytes(tmp / "data"), "stats": stats,
                      "alive": sum(p.proc.poll() is None for p in producers),
                      "producer_rss": max(rss(procs[f"p{i}"]) for i in range(len(producers)))}  # fmt: skip
            last_delivered = delivered
            samples.append(sample)
            print(f"  {sample['t']:5.0f} s  RSS {mem.rss / MB:6.1f} MB  server {used['server']:3.0f}%"
                  f"  others {used['others']:3.0f}%  delivered {delivered:,}", flush=True)  # fmt: skip
        # The end: producers finish; the fast viewers must catch up with every record.
        for p in producers:
            p.say("STOP")
        done = [p.lines.wait("DONE ", 120) for p in producers]
        final = run_seqs(http, runs)
        end_stats: Result = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            end_stats = viewers.ask("STATS", "STATS ") or {}
            fast = end_stats.get("fast", {})
            if fast and fast.get("closed", 0) >= fast.get("viewers", 0):
                break
            time.sleep(1)
        rss_after = srv.memory_info().rss
        viewers.say("QUIT")
        errors = {i: (tmp / f"producer-{i}.err").read_text() for i in range(len(producers))}
        return {"samples": samples, "runs": runs, "final": final, "end_stats": end_stats,
                "done": [json.loads(d[5:]) if d else None for d in done], "errors": errors,
                "rss_after": rss_after}  # fmt: skip
    finally:
        for child in [*producers, *([viewers] if viewers else [])]:
            common.stop(child.proc)
        http.close()
        server.stop()


def report(res: Result, args: Any) -> None:
    samples = res["samples"]
    print(f"\nsoak: {args.minutes:g} min, {args.producers} producers, {args.viewers} viewers "
          f"({args.slow} slow at {args.slow_kib:g} KiB/s) · {common.machine_line()}")  # fmt: skip
    ref_t = 120.0 if args.minutes > 2 else 60.0
    ref = min(samples, key=lambda s: abs(s["t"] - ref_t))
    end = samples[-1]
    rows = []
    for s in samples:
        c, slow = s["cpu"], s["stats"].get("slow", {})
        rows.append([f"{s['t']:.0f}", s["rss"] / MB, common.ratio(s["rss"], ref["rss"]), s["fds"],
                     s["threads"], f"{c['server']:.0f}%", f"{c['viewers']:.0f}%",
                     f"{c['others']:.0f}%", f"{s['busy']:.0f}%", s["stored"], s["delivered"],
                     s["rate"], slow.get("records", 0), slow.get("resets", 0), slow.get("drops", 0),
                     s["disk"] / MB, s["producer_rss"] / MB, s["alive"]])  # fmt: skip
    common.print_table(
        "server RSS every sample (x ref = / RSS at the reference minute; CPU: % of one core; "
        "busy: the whole machine)",
        ["t s", "RSS MB", "x ref", "fds", "threads", "server", "viewers", "others", "busy",
         "stored", "delivered", "rec/s", "slow recs", "resets", "slow drops", "data MB", "producer MB",
         "producers"], rows)  # fmt: skip
    after = [(s["t"], s["rss"]) for s in samples if s["t"] >= ref["t"] - 1]
    ratio = end["rss"] / ref["rss"]
    print(f"\nRSS at {ref['t']:.0f} s: {ref['rss'] / MB:.1f} MB; at the end ({end['t']:.0f} s): "
          f"{end['rss'] / MB:.1f} MB ({ratio:.3f}x); slope after {ref['t']:.0f} s: "
          f"{common.slope(after) * 60 / MB:+.2f} MB/min; after the producers finished: "
          f"{res['rss_after'] / MB:.1f} MB")  # fmt: skip
    st, final = res["end_stats"], res["final"]
    fast, slow = st.get("fast", {}), st.get("slow", {})
    print(f"records stored: {sum(final.values()):,} over {len(final)} runs; delivered to viewers: "
          f"{st.get('all', {}).get('records', 0):,} "
          f"({st.get('all', {}).get('bytes', 0) / MB:,.0f} MB)")  # fmt: skip
    caught = all(r.get("fast_min") == final[run] for run, r in st.get("runs", {}).items())
    lag = {run: final[run] - r.get("slow_min", 0) for run, r in st.get("runs", {}).items()
           if r.get("slow_min", 1 << 62) < 1 << 62}  # fmt: skip
    print(f"fast viewers: {fast.get('closed', 0)}/{fast.get('viewers', 0)} saw their run close; "
          f"dups {fast.get('dups')}, gaps {fast.get('gaps')}, resets {fast.get('resets')}, "
          f"dropped connections {fast.get('drops')} (close codes: {fast.get('codes') or '-'})")  # fmt: skip
    print(f"slow viewers: {slow.get('records', 0):,} records, dups {slow.get('dups')}, gaps "
          f"{slow.get('gaps')}, resets {slow.get('resets')}, dropped and reopened {slow.get('drops')} (close "
          f"codes: {slow.get('codes') or '-'}); records "
          f"still behind per run at the end: {lag}")  # fmt: skip
    for i, d in enumerate(res["done"]):
        err = res["errors"][i]
        undelivered = "not everything was delivered" in err
        tick = f"tick work p99 {d['tick_ms']['p99']:.1f} ms, {d['late']} late" if d else "no DONE"
        print(f"producer {i}: {d['ticks'] if d else 0:,} ticks, {tick}; "
              f"{'UNDELIVERED: ' + err.strip()[-200:] if undelivered else 'all delivered'}")  # fmt: skip
    print("targets:")
    common.check(f"server RSS at the end within 10% of {ref['t']:.0f} s: {ratio:.3f}x",
                 abs(ratio - 1) <= 0.10)  # fmt: skip
    common.check("every fast viewer got every record of its run, once, in order, and the close",
                 caught and not fast.get("dups") and not fast.get("gaps") and not fast.get("resets")
                 and fast.get("closed") == fast.get("viewers"))  # fmt: skip
    common.check(f"slow viewers: no duplicates or gaps ({slow.get('dups')}, {slow.get('gaps')})",
                 not slow.get("dups") and not slow.get("gaps"))  # fmt: skip
    common.check(f"no viewer's connection dropped before its run closed ({st.get('all', {}).get('drops')})",
                 not st.get("all", {}).get("drops"))  # fmt: skip
    undelivered = any("not everything" in e for e in res["errors"].values())
    common.check("every producer finished with everything delivered",
                 all(res["done"]) and not undelivered)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--producers", type=int, default=3)
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--slow", type=int, default=5, help="how many viewers read slowly")
    parser.add_argument("--slow-kib", type=float, default=32.0, help="a slow viewer's KiB/s")
    parser.add_argument("--rate", type=float, default=10.0, help="producer ticks per second")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    args = parser.parse_args()
    common.raise_nofile()
    os.environ.pop("RUNWATCH_URL", None)
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        res = soak(args, Path(tmp))
    report(res, args)


if __name__ == "__main__":
    main()
