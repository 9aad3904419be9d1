"""Helpers for the Media tab's browser tests: images, heatmaps, label maps and histograms sent
through the real HTTP API the way the SDK sends them (upload the blob, then name it in a
batch), and known PNGs made here so a test knows every pixel."""

from __future__ import annotations

import hashlib
import struct
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from tests.e2e.helpers import Producer

RGB = tuple[int, int, int]
F32 = "application/x-runwatch-f32"
I32 = "application/x-runwatch-i32"


def png(width: int, height: int, color: Callable[[int, int], RGB]) -> bytes:
    """An RGB PNG whose pixel (x, y) is ``color(x, y)``."""
    raw = b"".join(
        b"\x00" + b"".join(bytes(color(x, y)) for x in range(width)) for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def f32(values: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


class MediaProducer(Producer):
    """A :class:`Producer` that logs images and histograms as the SDK does."""

    def upload(self, data: bytes, mime: str) -> str:
        sha = hashlib.sha256(data).hexdigest()
        response = self.client.put(
            f"/api/v1/runs/{self.run_id}/blobs/{sha}",
            content=data,
            headers={"Content-Type": mime},
        )
        assert response.status_code in (200, 201), response.text
        return sha

    def record(
        self, key: str, step: int, data: bytes, mime: str, width: int, height: int, **extra: Any
    ) -> dict[str, Any]:
        """Upload ``data`` and return the batch's media record for it."""
        kind = {F32: "heatmap", I32: "labels"}.get(mime, "image")
        sha = self.upload(data, mime)
        return {
            "key": key, "step": step, "ts": time.time(), "sha256": sha, "mime": mime,
            "width": width, "height": height, "kind": kind, **extra,
        }  # fmt: skip

    def send_media(
        self,
        media: Sequence[dict[str, Any]] = (),
        histograms: Sequence[dict[str, Any]] = (),
        events: Sequence[dict[str, Any]] = (),
    ) -> None:
        body: dict[str, Any] = {"producer": self.name, "batch_seq": next(self._seq)}
        body.update(media=list(media), histograms=list(histograms), events=list(events))
        response = self.client.post(f"/api/v1/runs/{self.run_id}/batches", json=body)
        assert response.status_code == 200, response.text

    def image(
        self, key: str, step: int, data: bytes, width: int, height: int, **extra: Any
    ) -> None:
        """One PNG at one step, in its own batch."""
        self.send_media([self.record(key, step, data, "image/png", width, height, **extra)])


def histogram(key: str, step: int, edges: Sequence[float], counts: Sequence[int]) -> dict[str, Any]:
    return {
        "key": key,
        "step": step,
        "ts": time.time(),
        "edges": list(edges),
        "counts": list(counts),
    }
