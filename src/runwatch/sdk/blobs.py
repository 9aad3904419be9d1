"""Image blobs beside the spool: kept while a batch that names them may still be sent.

``run.image`` writes each image's bytes to ``<run_dir>/blobs/<producer>/<sha256><ext>`` before
any batch names it, so that ``runwatch sync`` can upload it if the producer never does. The
file is content-addressed (the same image logged twice is one file) and reference-counted: one
reference per image item prepared, dropped when the batch holding that item is acknowledged (or
refused for good, or lost before it was spooled); the last one deletes the file. A finished run that delivered
everything leaves no blob behind, and a long run keeps only the blobs of unacknowledged batches.

Per producer, because only the producer knows its references: ``runwatch sync`` reads a spool's
blobs from its producer's directory (then from ``blobs/`` itself, where producers before this
layout kept them) and deletes that directory once it delivered the whole spool and no live
producer writes it (see :func:`runwatch.sdk.spool.writer_gone`).

Producers before this layout never deleted their blobs (in ``blobs/`` itself, shared by every
producer of the run directory): ``runwatch sync`` deletes each one that no unacknowledged batch
of any spool in the directory names (:func:`remove_legacy`).
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import msgspec

from runwatch.sdk.spool import read_acked, spooled_bodies, write_atomic

# A legacy blob younger than this is kept though no batch names it: a producer of the old layout
# wrote it and names it in a batch it spools next (its flush interval, seconds at worst).
LEGACY_GRACE = 600.0
# Extensions of blob files by mime: the same bytes logged as two mimes are two files.
EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "application/x-runwatch-f32": ".f32",
    "application/x-runwatch-i32": ".i32",
}


class _Named(msgspec.Struct):
    sha256: str
    mime: str


class _MediaOf(msgspec.Struct):
    """The only part of a batch that names blobs (every other field is skipped by the decoder)."""

    media: list[_Named] = []


_media_of = msgspec.json.Decoder(_MediaOf).decode


def named_in(body: bytes) -> list[tuple[str, str]]:
    """``(sha256, mime)`` of each image a batch body names, once per item (a repeat is two)."""
    if b'"media":[' not in body:  # most batches: no decoding at all
        return []
    return [(item.sha256, item.mime) for item in _media_of(body).media]


def producer_dir(run_dir: Path, producer: str) -> Path:
    """Where a producer keeps its blobs."""
    return run_dir / "blobs" / producer


def blob_path(blob_dir: Path, sha256: str, mime: str) -> Path:
    """A blob's file: its hash, and an extension that gives its mime back."""
    return blob_dir / f"{sha256}{EXTENSIONS[mime]}"


def read_blob(dirs: Iterable[Path], sha256: str, mime: str) -> bytes | None:
    """A blob's bytes from the first of ``dirs`` that has it; None when none has (a live
    producer deletes a blob once every batch naming it was acknowledged)."""
    for blob_dir in dirs:
        with contextlib.suppress(FileNotFoundError):
            return blob_path(blob_dir, sha256, mime).read_bytes()
    return None


def remove_dir(blob_dir: Path) -> None:
    """Delete a producer's blob directory and what is left in it (its spool is delivered)."""
    shutil.rmtree(blob_dir, ignore_errors=True)


def remove_legacy(run_dir: Path, grace: float = LEGACY_GRACE) -> None:
    """Delete the files in ``<run_dir>/blobs/`` itself (the layout before ``blobs/<producer>/``)
    that no unacknowledged batch of the run directory's spools names, once older than
    ``grace`` seconds (a torn write's temporary files too). None while a spool there cannot be
    read: what it names is not known."""
    flat = run_dir / "blobs"
    try:
        files = [p for p in flat.iterdir() if p.is_file()]
        if not files:
            return
        named = {
            blob_path(flat, sha256, mime)
            for spool in run_dir.glob("spool-*.jsonl")
            for _, body in spooled_bodies(spool, read_acked(spool))
            for sha256, mime in named_in(body)
        }
    except (OSError, ValueError):  # msgspec's DecodeError is a ValueError
        return
    old = time.time() - grace
    for path in files:
        with contextlib.suppress(OSError):  # deleted meanwhile: by another sync
            if path not in named and path.stat().st_mtime < old:
                path.unlink()


class BlobStore:
    """One producer's blob files and how many unacknowledged image items name each.

    Used by the sender's thread and, past ``media_pending_bytes`` or ``queue_cap``, by the
    calling thread: the lock is held for a count's update and an unlink only, never while a
    file is written (a calling thread never waits on another thread's write).
    """

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self._refs: dict[Path, int] = {}  # by file: the same bytes could be two mimes
        self._lock = threading.Lock()

    def keep(self, data: bytes, mime: str) -> tuple[str, Path]:
        """Hold ``data`` under its SHA-256, written once however many items name it; return
        both. Raises ``OSError`` when the file cannot be written (then nothing is held)."""
        sha256 = hashlib.sha256(data).hexdigest()
        path = blob_path(self.dir, sha256, mime)
        with self._lock:
            # Held before the file is looked at: a release cannot delete it from here on.
            self._refs[path] = self._refs.get(path, 0) + 1
        try:
            if not path.exists():
                self.dir.mkdir(parents=True, exist_ok=True)
                write_atomic(path, data)
        except OSError:
            self.release([(sha256, mime)])
            raise
        return sha256, path

    def release(self, named: Iterable[tuple[str, str]]) -> None:
        """Drop one reference per ``(sha256, mime)``; a blob no item names any more is deleted."""
        with self._lock:
            for sha256, mime in named:
                path = blob_path(self.dir, sha256, mime)
                left = self._refs.pop(path, 0) - 1
                if left > 0:
                    self._refs[path] = left
                else:
                    # Under the lock: a keep() in between must not find the file, then lose it.
                    with contextlib.suppress(OSError):
                        path.unlink()

    def release_batch(self, body: bytes) -> None:
        """A batch was acknowledged (or lost unspooled): release the images it names."""
        if named := named_in(body):
            self.release(named)

    def close(self) -> None:
        """At the sender's end: with nothing held, remove the (empty) directory; otherwise it
        stays for ``runwatch sync``."""
        if not self._refs:
            with contextlib.suppress(OSError):
                self.dir.rmdir()
