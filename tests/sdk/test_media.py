"""Images and histograms from the SDK to a real server: every input kind, exact bytes and bins,
bad input as an error event (never an exception), spooled blobs delivered by `runwatch sync`."""

from __future__ import annotations

import hashlib
import io
import itertools
import math
import os
import struct
import sys
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import runwatch
from runwatch.sdk import encode
from runwatch.sdk.media import BufferPool
from runwatch.sdk.run import Run
from runwatch.sdk.sender import SenderConfig
from runwatch.sdk.sync import SyncError, sync_spool
from runwatch.sdk.transport import Transport
from tests.servers import ServerProcess


def decode_png(data: bytes) -> tuple[int, int, int, bytes]:
    """(width, height, colour type, pixels without filter bytes) of a PNG we wrote (filter 0)."""
    assert data.startswith(encode.PNG_SIGNATURE)
    i, idat, header = 8, b"", b""
    while i < len(data):
        (n,) = struct.unpack(">I", data[i : i + 4])
        kind, body = data[i + 4 : i + 8], data[i + 8 : i + 8 + n]
        assert struct.unpack(">I", data[i + 8 + n : i + 12 + n])[0] == zlib.crc32(kind + body)
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        i += 12 + n
    width, height, _, colour = struct.unpack(">IIBB", header[:10])
    raw = zlib.decompress(idat)
    stride = len(raw) // height
    assert all(raw[y * stride] == 0 for y in range(height))
    return (
        width,
        height,
        colour,
        b"".join(raw[y * stride + 1 : (y + 1) * stride] for y in range(height)),
    )


def items(server: ServerProcess, run_id: str, key: str) -> list[dict]:  # type: ignore[type-arg]
    with server.client() as c:
        r = c.get(f"/api/v1/runs/{run_id}/media/{key}")
        assert r.status_code == 200, r.text
        return list(r.json()["items"])


def blob(server: ServerProcess, item: dict) -> bytes:  # type: ignore[type-arg]
    with server.client() as c:
        r = c.get(item["url"])
        assert r.status_code == 200
        assert hashlib.sha256(r.content).hexdigest() == item["sha256"]
        return r.content


def test_every_input_kind_arrives_exactly(server: ServerProcess, tmp_path: Path) -> None:
    rgb = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    unit = np.linspace(0.0, 1.0, 2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    heat = np.array([[0.5, -1.0], [np.nan, 3.0]], dtype=np.float64)
    seg = np.array([[0, 5, 5], [6, 6, 0]], dtype=np.int64)
    chw = torch.arange(3 * 2 * 2, dtype=torch.uint8).reshape(3, 2, 2)
    pil = Image.new("RGB", (3, 2), (10, 20, 30))
    jpeg = io.BytesIO()
    Image.new("RGB", (7, 9), (200, 0, 0)).save(jpeg, format="JPEG")
    png_bytes = encode.png(bytes(range(6)), 3, 2, 1)
    with runwatch.init(project="media", url=server.url, run_dir=tmp_path) as run:
        run.log({"x": 1.0}, step=3)
        run.image("rgb", rgb, caption="epoch 3")
        rgb[:] = 0  # the SDK took a copy: this changes nothing logged
        run.image("unit", unit, step=4)
        run.image("heat", heat, step=5, entity=47)
        run.image("seg", seg, step=6, labels=True)
        run.image("torch", chw, step=7)
        run.image("pil", pil, step=8)
        run.image("jpeg", jpeg.getvalue(), step=9)
        run.image("png", png_bytes, step=10)

    (got,) = items(server, run.id, "rgb")
    assert (got["step"], got["caption"], got["kind"], got["mime"]) == (
        3,
        "epoch 3",
        "image",
        "image/png",
    )
    assert decode_png(blob(server, got)) == (5, 4, 2, np.arange(60, dtype=np.uint8).tobytes())
    (got,) = items(server, run.id, "unit")
    w, h, colour, pixels = decode_png(blob(server, got))
    assert (w, h, colour) == (3, 2, 6)
    assert pixels == np.rint(unit * 255).astype(np.uint8).tobytes()
    (got,) = items(server, run.id, "heat")
    assert (got["kind"], got["mime"], got["vmin"], got["vmax"], got["entity"]) == (
        "heatmap", "application/x-runwatch-f32", -1.0, 3.0, 47,
    )  # fmt: skip
    values = np.frombuffer(blob(server, got), dtype="<f4").reshape(2, 2)
    assert np.array_equal(values, heat.astype(np.float32), equal_nan=True)
    (got,) = items(server, run.id, "seg")
    assert (got["kind"], got["width"], got["height"]) == ("labels", 3, 2)
    assert np.frombuffer(blob(server, got), dtype="<i4").tolist() == [0, 5, 5, 6, 6, 0]
    (got,) = items(server, run.id, "torch")
    assert decode_png(blob(server, got))[:3] == (2, 2, 2)
    assert decode_png(blob(server, got))[3] == chw.permute(1, 2, 0).numpy().tobytes()
    (got,) = items(server, run.id, "pil")
    assert (got["width"], got["height"]) == (3, 2)
    assert Image.open(io.BytesIO(blob(server, got))).getpixel((1, 1)) == (10, 20, 30)
    (got,) = items(server, run.id, "jpeg")
    assert (got["mime"], got["width"], got["height"]) == ("image/jpeg", 7, 9)
    assert blob(server, got) == jpeg.getvalue()
    (got,) = items(server, run.id, "png")
    assert blob(server, got) == png_bytes


def test_same_image_twice_is_one_blob(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")  # not started: the blobs stay until sent
    img = np.full((8, 8, 3), 7, dtype=np.uint8)
    run = runwatch.init(project="media", url=server.url, run_dir=tmp_path / "run")
    for step in range(5):
        run.image("same", img, step=step)
    assert not run.finish(timeout=0.5)
    assert len(list((tmp_path / "run" / "blobs" / run.producer).iterdir())) == 1
    server.start()
    try:
        transport = Transport([server.url], None)
        try:
            sync_spool(run.spool_path, transport)
        finally:
            transport.close()
        assert len({i["sha256"] for i in items(server, run.id, "same")}) == 1
    finally:
        server.stop()


def test_histograms_are_binned_in_the_sdk(server: ServerProcess, tmp_path: Path) -> None:
    values = np.array([0.0, 1.0, 2.0, 3.0, np.nan, np.inf, -np.inf, np.nan], dtype=np.float32)
    with runwatch.init(project="media", url=server.url, run_dir=tmp_path) as run:
        run.histogram("w", values, step=1, bins=3)
        run.histogram("plain", [1, 1, 2], step=1, bins=2)
        run.histogram("given", counts=[3, 4], edges=[0.0, 0.5, 1.0], step=2)
    with server.client() as c:
        w = c.get(f"/api/v1/runs/{run.id}/histograms/w").json()["steps"][0]
        plain = c.get(f"/api/v1/runs/{run.id}/histograms/plain").json()["steps"][0]
        given = c.get(f"/api/v1/runs/{run.id}/histograms/given").json()["steps"][0]
    assert (w["edges"], w["counts"], w["nan"], w["inf"], w["neg_inf"]) == (
        [0.0, 1.0, 2.0, 3.0],
        [1, 1, 2],
        2,
        1,
        1,
    )
    assert (plain["edges"], plain["counts"]) == ([1.0, 1.5, 2.0], [2, 1])
    assert (given["step"], given["edges"], given["counts"]) == (2, [0.0, 0.5, 1.0], [3, 4])


def test_histograms_of_extreme_ranges_are_binned(server: ServerProcess, tmp_path: Path) -> None:
    """Values whose range passes the largest float, one value near it, and two neighbouring
    floats: each is binned into distinct finite edges that hold every value, numpy array or
    plain list alike."""
    top = sys.float_info.max
    cases = {
        "wide": [-top, 0.0, top],
        "top": [top, top],
        "bottom": [-top],
        "narrow": [1.0, math.nextafter(1.0, 2.0)],
        "large": [1e17, 1e17],
    }
    with runwatch.init(project="media", url=server.url, run_dir=tmp_path) as run:
        for key, values in cases.items():
            run.histogram(f"np/{key}", np.array(values), step=1, bins=8)
            run.histogram(f"list/{key}", values, step=1, bins=8)
    with server.client() as c:
        for key, values in cases.items():
            for kind in ("np", "list"):
                got = c.get(f"/api/v1/runs/{run.id}/histograms/{kind}/{key}").json()["steps"]
                assert len(got) == 1, (kind, key, got)
                edges, counts = got[0]["edges"], got[0]["counts"]
                assert len(edges) == 9 and all(map(math.isfinite, edges)), (kind, key, edges)
                assert all(a < b for a, b in itertools.pairwise(edges)), (kind, key, edges)
                assert edges[0] <= min(values) and max(values) <= edges[-1], (kind, key, edges)
                assert sum(counts) == len(values), (kind, key, counts)


def test_bad_input_is_an_error_event_never_an_exception(
    server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with runwatch.init(project="media", url=server.url, run_dir=tmp_path) as run:
        run.image("shape", np.zeros((2, 3, 5, 7)), step=1)  # 4-D
        run.image("nan", np.full((2, 2, 3), np.nan), step=2)  # NaN RGB
        run.image("range", np.full((2, 2, 3), 2.0), step=3)  # float RGB outside [0, 1]
        run.image("huge", np.zeros((20_000, 1), dtype=np.uint8), step=4)
        run.image("bytes", b"GIF89a", step=5)
        run.image("obj", object(), step=6)  # refused on the calling thread
        run.image("labels", np.zeros((2, 2)), step=7, labels=True)  # float label map
        run.histogram("h", counts=[1, 2], edges=[0.0, 1.0], step=8)
        run.histogram("h2", step=9)
        run.image("fine", np.zeros((2, 2), dtype=np.uint8), step=10)
        run.image("objects", np.array([[None, 1], [2, 3]], dtype=object), step=11)
        run.image("complex", np.zeros((2, 2), dtype=np.complex64), step=12)
        run.image("empty", np.zeros((0, 4, 3), dtype=np.uint8), step=13)
        run.image("channels", np.zeros((5, 6, 7), dtype=np.uint8), step=14)
        run.image("labels3d", np.zeros((2, 2, 3), dtype=np.int32), step=15, labels=True)
        run.image("int-range", np.full((2, 2, 3), 300, dtype=np.int32), step=16)  # past 255
        run.image("wide", np.zeros((1, 16_385, 3), dtype=np.uint8), step=17)
        run.image("nan-float", np.full((3, 3, 4), np.nan, dtype=np.float32), step=18)
        run.image("", np.zeros((2, 2), dtype=np.uint8), step=19)  # no key
        run.image("step", np.zeros((2, 2), dtype=np.uint8), step=2**64)  # past int64
        run.image("fine", np.ones((2, 2), dtype=np.uint8), step=20)
    with server.client() as c:
        events = c.get(f"/api/v1/runs/{run.id}/events", params={"limit": 100}).json()["events"]
        keys = [k["key"] for k in c.get(f"/api/v1/runs/{run.id}/media").json()["keys"]]
        fine = c.get(f"/api/v1/runs/{run.id}/media/fine").json()["items"]
    errors = {e["payload"]["key"]: e for e in events if e["kind"].startswith("sdk.")}
    assert set(errors) == {"shape", "nan", "range", "huge", "bytes", "obj", "labels", "h", "h2",
                           "objects", "complex", "empty", "channels", "labels3d", "int-range",
                           "wide", "nan-float", "", "step"}  # fmt: skip
    assert all(e["level"] == "error" for e in errors.values())
    said = {key: e["payload"]["error"] for key, e in errors.items()}
    assert (
        errors["huge"]["kind"] == "sdk.image_error"
        and "16384" in said["huge"]
        and "20000x1" in said["huge"]
    )
    # Each refusal says what was wrong with the input.
    assert "shape (2, 3, 5, 7)" in said["shape"]
    assert "NaN" in said["nan"] and "NaN" in said["nan-float"]
    assert "[0, 1]" in said["range"] and "0..255" in said["int-range"]
    assert "object" in said["objects"] and "complex64" in said["complex"]
    assert "0x4x3" in said["empty"] and "1x16385x3" in said["wide"]
    assert "shape (5, 6, 7)" in said["channels"]
    assert "labels=True" in said["labels"] and "labels=True" in said["labels3d"]
    assert "max_name_length" in said[""] and "64-bit" in said["step"]
    assert [i["step"] for i in fine] == [10, 20]
    # Refused on the calling thread or on the sender's, a refusal names its step as a number.
    assert (errors["obj"]["payload"]["step"], errors["range"]["payload"]["step"]) == (6, 3)
    assert errors["step"]["payload"]["step"] == str(2**64)
    assert errors["h"]["kind"] == "sdk.histogram_error"
    assert keys == ["fine"]  # the loop went on, and the run finished
    assert (
        "run.image('shape') was skipped: an array of shape (2, 3, 5, 7)" in capsys.readouterr().err
    )


def test_spooled_images_reach_the_server_with_sync(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")  # not started: the producer runs offline
    run = runwatch.init(project="media", url=server.url, run_dir=tmp_path / "run")
    img = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    run.image("offline", img, step=1)
    run.histogram("offline/h", np.arange(10.0), step=1, bins=5)
    assert not run.finish(timeout=0.5)
    assert len(list((tmp_path / "run" / "blobs" / run.producer).iterdir())) == 1
    server.start()
    try:
        transport = Transport([server.url], None)
        try:
            assert sync_spool(run.spool_path, transport).batches >= 2  # data, then final status
        finally:
            transport.close()
        (got,) = items(server, run.id, "offline")
        assert decode_png(blob(server, got))[3] == img.tobytes()
        with server.client() as c:
            h = c.get(f"/api/v1/runs/{run.id}/histograms/offline/h").json()["steps"][0]
            assert h["counts"] == [2, 2, 2, 2, 2]
            assert c.get(f"/api/v1/runs/{run.id}").json()["status"] == "succeeded"
        # The producer is gone (finished) and its spool delivered: its blobs are deleted.
        assert not (tmp_path / "run" / "blobs" / run.producer).exists()
    finally:
        server.stop()


def test_past_the_pending_cap_the_calling_thread_encodes_and_nothing_is_lost(
    server: ServerProcess, tmp_path: Path
) -> None:
    spec = {"id": "media-cap-run", "project": "media", "name": "cap", "tags": [], "config": {}}
    run = Run(spec, [server.url], None, tmp_path, SenderConfig(media_pending_bytes=1))
    frames = [np.full((4, 4, 3), i, dtype=np.uint8) for i in range(40)]
    for step, frame in enumerate(frames):
        run.image("frames", frame, step=step)
        run.histogram("h", frame.astype(np.float32), step=step, bins=4)
    assert run.finish()
    steps = [i["step"] for i in items(server, run.id, "frames")]
    assert steps == [0, 1, 2, 4, *range(8, 40)]  # the newest 32 and log-spaced older ones
    assert decode_png(blob(server, items(server, run.id, "frames")[-1]))[3] == frames[-1].tobytes()
    with server.client() as c:
        assert c.get(f"/api/v1/runs/{run.id}/histograms/h").json()["in_range"] == 40


def test_sync_names_a_spooled_blob_that_is_gone(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")  # not started: the producer runs offline
    run = runwatch.init(project="media", url=server.url, run_dir=tmp_path / "run")
    run.image("offline", np.zeros((2, 2, 3), dtype=np.uint8), step=1)
    assert not run.finish(timeout=0.5)
    (gone,) = (tmp_path / "run" / "blobs" / run.producer).iterdir()
    gone.unlink()
    server.start()
    transport = Transport([server.url], None)
    try:
        with pytest.raises(SyncError, match=f"blob {gone.stem} .* is missing"):
            sync_spool(run.spool_path, transport)
    finally:
        transport.close()
        server.stop()


def test_the_buffer_pool_reuses_buffers_within_its_cap() -> None:
    pool = BufferPool(cap_bytes=3 * 48)
    image = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    first = pool.copy(image)
    assert np.array_equal(first, image) and not np.shares_memory(first, image)
    pool.give(first)
    # Any array of the same byte size reuses the buffer given back.
    floats = np.linspace(0.0, 1.0, 6, dtype=np.float64).reshape(2, 3)
    again = pool.copy(floats)
    assert np.shares_memory(again, first) and np.array_equal(again, floats)
    given = [pool.copy(image) for _ in range(4)]
    for buffer in given:
        pool.give(buffer)  # the fourth is past the cap: dropped
    taken = [pool.take(image) for _ in range(4)]
    reused = sum(any(np.shares_memory(t, g) for g in given) for t in taken)
    assert reused == 3
    strided = np.arange(96, dtype=np.int32).reshape(8, 12)[:, ::2]  # not C-contiguous
    copied = pool.copy(strided)
    assert copied.flags.c_contiguous and np.array_equal(copied, strided)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
@pytest.mark.parametrize(("env", "nice"), [("10", 10), (None, 0)])
def test_the_sdk_threads_run_below_the_training_loop_when_asked(
    server: ServerProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: str | None,
    nice: int,
) -> None:
    if env is None:
        monkeypatch.delenv("RUNWATCH_SDK_NICE", raising=False)  # off by default
    else:
        monkeypatch.setenv("RUNWATCH_SDK_NICE", env)
    run = runwatch.init(project="media", name="nice", url=server.url, run_dir=tmp_path)
    try:
        loop = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        # init returned after the run's creation was answered: both threads had started.
        for thread in (run._sender._thread, run._sender._poster._thread):
            assert thread.native_id is not None
            assert os.getpriority(os.PRIO_PROCESS, thread.native_id) == min(19, loop + nice)
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == loop
        run.image("still", np.zeros((2, 2), dtype=np.uint8), step=1)
    finally:
        assert run.finish()
    assert [i["step"] for i in items(server, run.id, "still")] == [1]
