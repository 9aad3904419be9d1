"""Export/import benchmark: archive throughput against the server's own read and write paths.

Run: ``.venv/bin/python benchmarks/export_import.py [--points 500000] [--keys 5] [--images 0]``
(about a minute).

In one run, on one run of ``--points`` points spread over ``--keys`` keys (plus 2,000 events):
- the peer for export is a bare read of every point through ``GET /raw/{key}`` (the pages the
  exporter fetches), so ``export / bare read`` is what encoding a format costs on top;
- the peer for import is ingesting the same points through ``POST /batches`` in batches of
  50,000 (how the run was made), so ``import / ingest`` is what the archive path costs;
- the re-exported JSONL must equal the first export byte for byte.

With ``--images N``, a second run holds N distinct 256 KiB heatmaps (32 steps per key, all
kept) and nothing else; its export is compared with reading the same media pages and blobs
bare, and its import with uploading the blobs and posting the media records directly.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Server, check, machine_line, print_table, ratio

from runwatch.archive import ApiClient, export_run, import_run, read_archive, write_archive

INGEST_BATCH = 50_000
IMAGE_SIDE = 256  # a 256x256 float32 heatmap: 256 KiB of blob
IMAGE_STEPS = 32  # steps per key: all of them are kept


def make_run(client: ApiClient, points: int, keys: int) -> tuple[str, float]:
    """A run with ``points`` points over ``keys`` keys and 2,000 events; returns (id, seconds)."""
    run_id = client.post("/api/v1/runs", msgspec.json.encode({"project": "bench"}))["id"]
    rows = [
        [step, 1.7e9 + step * 0.01, {f"k{step % keys}": math.sin(step / 100)}]
        for step in range(points)
    ]
    events = [
        {"kind": "birth", "ts": 1.7e9 + i, "entity": i, "payload": {"size": i}} for i in range(2000)
    ]
    started = time.perf_counter()
    for seq, start in enumerate(range(0, points, INGEST_BATCH), 1):
        body = {"producer": "bench", "batch_seq": seq, "points": rows[start : start + INGEST_BATCH]}
        if seq == 1:
            body["events"] = events
        client.post(f"/api/v1/runs/{run_id}/batches", msgspec.json.encode(body))
    return run_id, time.perf_counter() - started


def bare_read(client: ApiClient, run_id: str, keys: int) -> float:
    started = time.perf_counter()
    for k in range(keys):
        after = -1
        while after != 0:
            page = client.get(
                f"/api/v1/runs/{run_id}/raw/{quote(f'k{k}')}", after=max(after, 0), limit=20_000
            )
            after = page["next"]
    return time.perf_counter() - started


def make_media_run(client: ApiClient, images: int) -> tuple[str, float]:
    """A run of ``images`` distinct heatmaps (random bytes); returns (id, seconds to upload)."""
    run_id = client.post("/api/v1/runs", msgspec.json.encode({"project": "bench"}))["id"]
    mime = "application/x-runwatch-f32"
    started = time.perf_counter()
    media = []
    for i in range(images):
        data = os.urandom(IMAGE_SIDE * IMAGE_SIDE * 4)
        sha = hashlib.sha256(data).hexdigest()
        reply = client.send("PUT", f"/api/v1/runs/{run_id}/blobs/{sha}", data, mime)
        assert reply.status in (200, 201), reply
        media.append({
            "key": f"heat/{i // IMAGE_STEPS}", "step": i % IMAGE_STEPS, "ts": 1.7e9 + i,
            "sha256": sha, "mime": mime, "width": IMAGE_SIDE, "height": IMAGE_SIDE,
            "kind": "heatmap", "vmin": 0.0, "vmax": 1.0,
        })  # fmt: skip
    for seq, start in enumerate(range(0, images, 1_000), 1):
        body = {"producer": "bench", "batch_seq": seq, "media": media[start : start + 1_000]}
        client.post(f"/api/v1/runs/{run_id}/batches", msgspec.json.encode(body))
    return run_id, time.perf_counter() - started


def bare_media_read(client: ApiClient, run_id: str) -> float:
    started = time.perf_counter()
    base = f"/api/v1/runs/{run_id}"
    for entry in client.get(f"{base}/media", limit=1_000)["keys"]:
        for item in client.get(f"{base}/media/{quote(entry['key'], safe='')}")["items"]:
            client.get_bytes(f"{base}/blobs/{item['sha256']}")
    return time.perf_counter() - started


def media_round_trip(a: ApiClient, b: ApiClient, root: Path, images: int) -> Callable[[], None]:
    """Export and import a run of ``images`` heatmaps; return what prints its table and check."""
    run_id, upload_s = make_media_run(a, images)
    read_s = bare_media_read(a, run_id)
    started = time.perf_counter()
    write_archive(export_run(a, run_id), root / "media.jsonl", "jsonl")
    export_s = time.perf_counter() - started
    started = time.perf_counter()
    import_run(b, read_archive(root / "media.jsonl"))
    import_s = time.perf_counter() - started
    write_archive(export_run(b, run_id), root / "media-again.jsonl", "jsonl")
    same = (root / "media-again.jsonl").read_bytes() == (root / "media.jsonl").read_bytes()
    mb = images * IMAGE_SIDE * IMAGE_SIDE * 4 / 1e6
    size = (root / "media.jsonl").stat().st_size / 1e6

    def report() -> None:  # printed after the points table, once the servers are stopped
        print_table(
            f"{images:,} heatmaps of 256 KiB ({mb:.0f} MB of blobs); JSONL archive {size:.0f} MB",
            ["operation", "seconds", "blob MB/s", "time vs peer"],
            [
                ["bare read (media pages + GET blobs)", read_s, mb / read_s, "1.00x"],
                ["export jsonl", export_s, mb / export_s, ratio(export_s, read_s)],
                ["upload (PUT blobs + batches)", upload_s, mb / upload_s, "1.00x"],
                ["import jsonl", import_s, mb / import_s, ratio(import_s, upload_s)],
            ],
        )
        check("media: export -> import -> export is byte-identical (JSONL)", same)

    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=500_000)
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--images", type=int, default=0)
    args = parser.parse_args()
    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source, target = Server(root / "source").start(), Server(root / "target").start()
        try:
            with ApiClient(source.url) as a, ApiClient(target.url) as b:
                run_id, ingest_s = make_run(a, args.points, args.keys)
                read_s = bare_read(a, run_id, args.keys)
                timings: dict[str, float] = {}
                for fmt in ("jsonl", "csv", "parquet"):
                    path = root / (f"a.{fmt}" if fmt == "jsonl" else f"a-{fmt}")
                    started = time.perf_counter()
                    write_archive(export_run(a, run_id), path, fmt)  # type: ignore[arg-type]
                    timings[fmt] = time.perf_counter() - started
                started = time.perf_counter()
                import_run(b, read_archive(root / "a.jsonl"))
                import_s = time.perf_counter() - started
                write_archive(export_run(b, run_id), root / "again.jsonl", "jsonl")
                same = (root / "again.jsonl").read_bytes() == (root / "a.jsonl").read_bytes()
                size = (root / "a.jsonl").stat().st_size
                media = media_round_trip(a, b, root, args.images) if args.images else None
        finally:
            source.stop()
            target.stop()
    n = args.points
    rows = [
        ["bare read (GET /raw pages)", read_s, n / read_s, "1.00x"],
        *[[f"export {f}", s, n / s, ratio(s, read_s)] for f, s in timings.items()],
        ["ingest (POST /batches, 50k)", ingest_s, n / ingest_s, "1.00x"],
        ["import jsonl", import_s, n / import_s, ratio(import_s, ingest_s)],
    ]
    print_table(
        f"{n:,} points over {args.keys} keys, 2,000 events; JSONL archive {size / 1e6:.1f} MB",
        ["operation", "seconds", "points/s", "time vs peer"],
        rows,
    )
    check("export -> import -> export is byte-identical (JSONL)", same)
    if media is not None:
        media()


if __name__ == "__main__":
    main()
