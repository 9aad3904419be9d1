"""Import benchmark: TensorBoard scalars and offline W&B history, against their own readers.

Run: ``.venv/bin/python benchmarks/tb_import.py [--scalars 200000] [--wandb-rows 20000]
[--images 2000] [--side 16]``.

Writes real files (tensorboardX's SummaryWriter; ``wandb`` in offline mode), then reads them
back in one run with TensorBoard's ``EventFileLoader`` (its own reader, no TensorFlow) and with
runwatch's readers (``launcher.tensorboard``, ``launcher.wandb_offline``). Goal: >= 5x the
TensorBoard reader. W&B ships no reader of its run files; the peer for its rows is parsing every
record with W&B's own protobuf classes, reading nothing out of them (a floor for any reader built
on them). Goal: >= 100,000 history rows/s, printed with the ratio to that peer measured in the same run.

Then images (``--images 2000``, 0: none): a TensorBoard log of that many small RGB images
(``--side`` pixels square, spread over 100 tags so that every one is kept) goes into a real
``runwatch serve`` on 127.0.0.1 by each path that carries a TensorBoard log's images there, each
with the blobs uploaded one ``PUT`` a blob and grouped (``POST …/blobs``, up to 64 a request), in
the same run: ``runwatch launch``'s scan into a live run (the SDK's sender), the same scan
offline then ``runwatch sync`` of its spool, a spool of one image a batch (a loop that logged an
image a step) then ``runwatch sync``, and ``runwatch import`` of the run's archive. Before sync
and import shared the SDK's grouped upload, import went one ``PUT`` a blob and sync grouped only
within a batch: the scan's batches hold up to 1,000 images, so its sync was grouped already,
but a spool of one image a batch went one ``PUT`` a blob (the live sender always grouped). Every
case checks that the server keeps every image. "blob requests" counts the upload requests sync
and import sent (the live sender's are its own: not counted); the last table divides the
grouped numbers by the one-``PUT`` ones.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Server, machine_line, print_table, ratio

from runwatch.archive import ApiClient, export_run, import_run
from runwatch.launcher.artifacts import ArtifactScanner
from runwatch.launcher.tensorboard import EventFileTail
from runwatch.launcher.wandb_offline import FILE_HEADER, WandbRunTail
from runwatch.sdk.run import Run
from runwatch.sdk.sender import SenderConfig
from runwatch.sdk.sync import sync_spool
from runwatch.sdk.transport import Reply, Transport
from runwatch.sdk.uploads import MAX_GROUP_BLOBS

IMAGE_TAGS = 100  # images spread over tags: at most 32 steps a tag, so every image is kept
ONE_PUT, GROUPED = 1, MAX_GROUP_BLOBS  # blobs an upload request carries at most


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


def write_image_events(directory: Path, images: int, side: int) -> int:
    """A TensorBoard log of ``images`` distinct random RGB images; their PNG bytes in all."""
    import numpy as np
    from tensorboardX import SummaryWriter

    rng = np.random.default_rng(0)
    writer = SummaryWriter(str(directory))
    for i in range(images):
        pixels = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        writer.add_image(f"img/{i % IMAGE_TAGS}", pixels, i // IMAGE_TAGS, dataformats="HWC")
    writer.close()
    return sum(
        len(image) for *_, image in EventFileTail(next(directory.iterdir())).read_records().images
    )


class CountingTransport(Transport):
    """The SDK's transport, counting the blob upload requests it sends (``runwatch sync``)."""

    blob_requests = 0

    def send(self, method: str, path: str, body: bytes, content_type: str) -> Reply:
        self.blob_requests += 1
        return super().send(method, path, body, content_type)


class CountingClient(ApiClient):
    """The CLI's API client, counting the blob upload requests it sends (``runwatch import``)."""

    blob_requests = 0

    def send(self, method: str, path: str, body: bytes, content_type: str) -> Reply:
        self.blob_requests += 1
        return super().send(method, path, body, content_type)


def scanned_run(url: str, root: Path, tb: Path, config: SenderConfig) -> tuple[Run, float]:
    """A run whose directory holds the TensorBoard log, scanned once as ``runwatch launch``
    scans it and finished: the run and the seconds until ``finish()`` returned (against
    ``url`` "", nothing is reached and the run stays in its spool)."""
    run_dir = root / secrets.token_hex(4)
    shutil.copytree(tb, run_dir / "tb")
    spec = {"id": secrets.token_hex(6), "project": "bench-tb-images", "name": run_dir.name,
            "group": None, "tags": [], "config": {}, "heartbeat": 5.0}  # fmt: skip
    started = time.perf_counter()
    run = Run(spec, [url], None, run_dir, config)
    ArtifactScanner(run).import_scalars()
    delivered = run.finish(timeout=None if url else 0.5)
    assert delivered == bool(url), "the run was not delivered" if url else "it reached a server"
    return run, time.perf_counter() - started


def kept_images(url: str, run_id: str) -> int:
    with ApiClient(url) as client:
        keys = client.get(f"/api/v1/runs/{run_id}/media", limit=1_000)["keys"]
    return sum(int(k["count"]) for k in keys)


def image_cases(url: str, root: Path, tb: Path, images: int) -> list[list[Any]]:
    """Each path a TensorBoard log's images take to the server, one ``PUT`` a blob and grouped:
    rows of (path, blobs a request, blob requests, seconds, images/s)."""
    rows: list[list[Any]] = []

    def row(path: str, group: int, run_id: str, requests: int | None, seconds: float) -> None:
        kept = kept_images(url, run_id)
        assert kept == images, f"{path}: the server keeps {kept} of {images} images"
        rows.append([path, group, requests, seconds, images / seconds])

    quiet = {"vitals_interval": 0}
    archived: list[dict[str, Any]] = []
    for group in (ONE_PUT, GROUPED):
        run, seconds = scanned_run(url, root, tb, SenderConfig(upload_group_blobs=group, **quiet))
        row("launch scan, live (SDK sender)", group, run.id, None, seconds)
        if group == GROUPED:
            with ApiClient(url) as client:
                archived = list(export_run(client, run.id))
    cases: list[tuple[str, SenderConfig]] = [
        ("launch scan offline, then sync", SenderConfig(**quiet)),
        ("one image a batch, then sync", SenderConfig(max_batch_records=1, **quiet)),
    ]
    for path, config in cases:
        for group in (ONE_PUT, GROUPED):
            run, _ = scanned_run("", root, tb, config)
            transport = CountingTransport([url], None)
            try:
                _, seconds = timed(
                    partial(sync_spool, run.spool_path, transport, group_blobs=group)
                )
            finally:
                transport.close()
            row(path, group, run.id, transport.blob_requests, seconds)
    for group in (ONE_PUT, GROUPED):
        run_id = secrets.token_hex(6)
        records = [archived[0], {**archived[1], "id": run_id}, *archived[2:]]
        with CountingClient(url) as client:
            _, seconds = timed(partial(import_run, client, records, group_blobs=group))
            row("runwatch import of its archive", group, run_id, client.blob_requests, seconds)
    return rows


def print_images(rows: list[list[Any]], images: int, side: int, png_bytes: int) -> None:
    print_table(
        f"TensorBoard images into runwatch: {images:,} {side}x{side} RGB images"
        f" ({png_bytes / images / 1024:.1f} KiB of PNG each) · {machine_line()}",
        ["path", "blobs a request", "blob requests", "seconds", "images/s"],
        rows,
    )
    ratios = []
    for one, grouped in zip(rows[::2], rows[1::2], strict=True):
        requests = ratio(grouped[2], one[2]) if one[2] else "-"
        ratios.append([one[0], ratio(grouped[4], one[4]), requests])
    print_table("grouped / one PUT a blob", ["path", "images/s", "blob requests"], ratios)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalars", type=int, default=200_000)
    parser.add_argument("--wandb-rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5, help="W&B reads timed, best kept")
    parser.add_argument("--images", type=int, default=2_000, help="TensorBoard images (0: none)")
    parser.add_argument("--side", type=int, default=16, help="pixels a side of each image")
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
        if args.images:
            png_bytes = write_image_events(Path(tmp) / "tb-images", args.images, args.side)
            server = Server(Path(tmp) / "data").start()
            try:
                cases = image_cases(
                    server.url, Path(tmp) / "runs", Path(tmp) / "tb-images", args.images
                )
            finally:
                server.stop()
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
    if args.images:
        print_images(cases, args.images, args.side, png_bytes)


if __name__ == "__main__":
    main()
