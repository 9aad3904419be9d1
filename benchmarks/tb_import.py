"""Import benchmark: TensorBoard scalars and offline W&B history, against their own readers.

Run: ``.venv/bin/python benchmarks/tb_import.py [--scalars 200000] [--wandb-rows 20000]``.

Writes real files (tensorboardX's SummaryWriter; ``wandb`` in offline mode), then reads them
back in one run with TensorBoard's ``EventFileLoader`` (its own reader, no TensorFlow) and with
runwatch's readers (``launcher.tensorboard``, ``launcher.wandb_offline``). Goal: >= 5x the
TensorBoard reader. W&B ships no reader of its run files; the peer for its rows is parsing every
record with W&B's own protobuf classes, reading nothing out of them (a floor for any reader built
on them). Goal: >= 100,000 history rows/s, printed with the ratio to that peer measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from runwatch.launcher.tensorboard import EventFileTail
from runwatch.launcher.wandb_offline import FILE_HEADER, WandbRunTail


def write_events(directory: Path, scalars: int) -> Path:
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(str(directory))
    for step in range(scalars // 2):
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
        writer.add_scalar("train/acc", step / scalars, step)
    writer.close()
    return next(directory.glob("events.out.tfevents.*"))


def write_wandb(directory: Path, rows: int) -> Path:
    script = textwrap.dedent(f"""
        import wandb
        run = wandb.init(project="bench", dir={str(directory)!r}, config={{"lr": 0.1}})
        for step in range({rows}):
            wandb.log({{"loss": 1.0 / (step + 1), "reward": step * 0.5}})
        run.finish()
    """)
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=600)
    return next(directory.glob("wandb/*/run-*.wandb"))


def timed(fn):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def best_of(repeats: int, fn):  # type: ignore[no-untyped-def]
    """``timed`` of the fastest of ``repeats`` calls (each reads the whole file afresh): the
    machine is shared, so the least disturbed call is the one compared."""
    return min((timed(fn) for _ in range(repeats)), key=lambda timing: timing[1])


def tensorboard_reader(path: Path) -> int:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    return sum(len(event.summary.value) for event in EventFileLoader(str(path)).Load())


def _import_wandb_classes() -> None:
    from wandb.proto import wandb_internal_pb2  # noqa: F401


def wandb_classes_parse(path: Path) -> int:
    """Every record of the run file parsed by W&B's ``Record`` class; the history rows counted."""
    from wandb.proto.wandb_internal_pb2 import Record

    framing = WandbRunTail(path)
    framing.offset = FILE_HEADER
    rows = 0
    for payload in framing._records(path.read_bytes()):
        record = Record()
        record.ParseFromString(payload)
        rows += record.WhichOneof("record_type") == "history"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalars", type=int, default=200_000)
    parser.add_argument("--wandb-rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5, help="W&B reads timed, best kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        events = write_events(Path(tmp) / "tb", args.scalars)
        size_mib = events.stat().st_size / 2**20
        theirs, their_s = timed(lambda: tensorboard_reader(events))
        ours, our_s = timed(lambda: len(EventFileTail(events).read_new()))
        run_file = write_wandb(Path(tmp), args.wandb_rows)
        import_s = timed(_import_wandb_classes)[1]  # once per process: not part of reading
        first_s = timed(lambda: WandbRunTail(run_file).read_new())[1]  # builds its classes
        rows, wandb_s = best_of(args.repeats, lambda: len(WandbRunTail(run_file).read_new()))
        parsed, parse_s = best_of(args.repeats, lambda: wandb_classes_parse(run_file))
    print(f"\nimport benchmark ({size_mib:.1f} MiB event file)\n")
    print(f"{'reader':<40}{'values':>10}{'seconds':>10}{'values/s':>12}")
    print(
        f"{'TensorBoard EventFileLoader':<40}{theirs:>10,}{their_s:>10.2f}{theirs / their_s:>12,.0f}"
    )
    print(f"{'runwatch EventFileTail':<40}{ours:>10,}{our_s:>10.2f}{ours / our_s:>12,.0f}")
    print(
        f"{'runwatch WandbRunTail (history rows)':<40}{rows:>10,}{wandb_s:>10.2f}{rows / wandb_s:>12,.0f}"
    )
    print(
        f"{'W&B Record classes, parse only':<40}{parsed:>10,}{parse_s:>10.2f}{parsed / parse_s:>12,.0f}"
    )
    print(
        f"\nrunwatch / TensorBoard reader: {(ours / our_s) / (theirs / their_s):.1f}x (goal >= 5x)"
    )
    print(
        f"runwatch W&B history: {rows / wandb_s:,.0f} rows/s (goal >= 100,000; best of"
        f" {args.repeats} reads; the first read took {first_s:.2f} s; importing W&B's protobuf"
        f" classes first took {import_s:.2f} s, not counted)"
    )
    print(
        f"runwatch W&B reader / W&B Record classes parse-only: {parse_s / wandb_s:.2f}"
        " (above 1: faster than only parsing every record with W&B's classes)"
    )


if __name__ == "__main__":
    main()
