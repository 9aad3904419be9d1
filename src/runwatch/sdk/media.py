"""Images and histograms between ``run.image``/``run.histogram`` and a batch.

The calling thread only takes a copy (numpy arrays, tensors, PIL images, lists) or a reference
(``bytes``: immutable) into a :class:`PendingImage` or :class:`PendingHistogram`. The sender's
thread calls :meth:`prepare`: it encodes the image, writes its blob beside the spool
(``sdk/blobs.py``: before any batch names it, so ``runwatch sync`` can deliver it too), or bins the
values, and returns the batch item. Bad input raises :class:`MediaError` there, which the sender
turns into a warning and an error event.
"""

from __future__ import annotations

import itertools
import math
import sys
import threading
from pathlib import Path
from typing import Any

from runwatch.sdk import encode
from runwatch.sdk.blobs import BlobStore
from runwatch.sdk.checks import image_array
from runwatch.sdk.encode import MediaError

MAX_IMAGE_BYTES = 8 * 2**20  # the server's max_image_bytes
MAX_BINS = 1_024  # the server's max_histogram_bins


class BufferPool:
    """Raw byte buffers the calling thread copies arrays into, given back once the sender has
    encoded (or binned) them.

    A fresh copy of a large array costs page faults (about 80 us for 192 KiB, milliseconds for
    4 MiB) that a reused buffer does not; at most ``cap_bytes`` wait here, newest reused first
    (still in the CPU's caches), in at most MAX_SIZES sizes. Buffers are 1-D ``uint8`` keyed by
    their size, so any array of that many bytes reuses one; taking one is a single
    ``list.pop`` (atomic under the GIL: no lock on the calling thread); only :meth:`give`, on
    the SDK's thread, holds the lock.
    """

    MAX_SIZES = 64

    def __init__(self, cap_bytes: int) -> None:
        self.cap_bytes = cap_bytes
        self._free: dict[int, list[Any]] = {}
        self._lock = threading.Lock()

    def take(self, array: Any) -> Any:
        """``array``'s bytes in a 1-D ``uint8`` buffer (see :func:`as_array`), or, for an array
        that is not C-contiguous, a C-contiguous copy of it."""
        try:
            buffer = self._free[array.nbytes].pop()
        except (KeyError, IndexError):
            buffer = np_bytes(array.nbytes)
        # memoryview's copy holds the GIL: numpy's releases it for a large array, and then the
        # SDK's own threads take it, each for up to a switch interval (5 ms), inside this call.
        try:
            memoryview(buffer)[:] = memoryview(array).cast("B")
        except (TypeError, ValueError, BufferError):  # not C-contiguous, empty, or objects
            return np_contiguous(array)
        return buffer

    def copy(self, array: Any) -> Any:
        """A C-contiguous copy of ``array``, of its shape and dtype."""
        return as_array(self.take(array), array.shape, array.dtype)

    def give(self, array: Any) -> None:
        """Take back an array from :meth:`take` or :meth:`copy` nothing refers to any more
        (dropped when the pool is full)."""
        if not array.flags.c_contiguous or not array.nbytes or array.dtype.hasobject:
            return
        buffer = array.reshape(-1).view("u1")
        size = buffer.nbytes
        with self._lock:
            # The calling thread only pops (len() is atomic): this sum is never under the truth.
            held = sum(len(free) * n for n, free in self._free.items())
            if held + size > self.cap_bytes:
                return
            free = self._free.get(size)
            if free is None:
                if len(self._free) >= self.MAX_SIZES:
                    return
                free = self._free[size] = []
            free.append(buffer)


def as_array(buffer: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    """The array of ``shape`` and ``dtype`` whose bytes :meth:`BufferPool.take` took."""
    return buffer.view(dtype).reshape(shape)


def np_bytes(size: int) -> Any:
    """An uninitialised 1-D ``uint8`` array of ``size`` bytes."""
    import numpy as np

    return np.empty(size, dtype=np.uint8)


def np_contiguous(array: Any) -> Any:
    """A C-contiguous copy of ``array``."""
    import numpy as np

    return np.array(array, order="C", copy=True)


POOL = BufferPool(64 * 2**20)


def snapshot_value(data: Any) -> tuple[Any, int]:
    """What the calling thread keeps of ``data``, and about how many bytes it holds: a copy of
    anything mutable, a reference to ``bytes``."""
    if isinstance(data, bytes):
        return data, len(data)
    if isinstance(data, bytearray | memoryview):
        copied = bytes(data)
        return copied, len(copied)
    if encode.is_numpy(data):
        copied = POOL.copy(data)
        return copied, int(copied.nbytes)
    if encode.is_torch(data):
        copied = data.detach().to("cpu", copy=True)
        return copied, int(copied.element_size() * copied.nelement())
    if encode.is_pil(data):
        width, height = data.size
        return data.copy(), int(width * height * len(data.getbands()))
    if isinstance(data, list | tuple):
        return list(data), 8 * len(data)
    raise MediaError(f"cannot log a {type(data).__name__} (an array, tensor, PIL image or bytes)")


class PendingImage:
    """An image as ``run.image`` took it; :meth:`prepare` makes its blob and batch item."""

    __slots__ = (
        "caption", "data", "dtype", "entity", "key", "labels", "nbytes", "shape", "step", "ts"
    )  # fmt: skip

    def __init__(
        self,
        key: str,
        step: int,
        ts: float,
        data: Any,
        caption: str | None,
        labels: bool,
        entity: int | str | None,
    ) -> None:
        self.key, self.step, self.ts = key, step, ts
        self.caption, self.labels, self.entity = caption, labels, entity
        self.shape: tuple[int, ...] | None
        if encode.is_numpy(data):
            # Refused before it is copied, from its shape and dtype; then its bytes, raw.
            self.shape, self.dtype = image_array(data, labels), data.dtype
            self.data = POOL.take(data)
            self.nbytes = self.data.nbytes
        else:
            self.shape = self.dtype = None
            self.data, self.nbytes = snapshot_value(data)

    def prepare(self, blobs: BlobStore) -> tuple[dict[str, Any], Path, str]:
        """Encode and keep the blob (one reference in ``blobs``, released once the batch holding
        the item is acknowledged); return the batch item, the blob's file and its mime."""
        data = self.data
        vmin = vmax = None
        if isinstance(data, bytes):
            if self.labels:
                raise MediaError("labels=True takes an HxW integer array, not image bytes")
            mime, width, height = encode.image_size(data)
            encode.check_size(width, height)
            kind, blob = "image", data
        elif encode.is_pil(data):
            mime, blob, width, height = encode.pil_blob(data)
            kind = "image"
        elif self.shape is not None:
            array = as_array(data, self.shape, self.dtype)
            kind, mime, blob, width, height, vmin, vmax = encode.array_blob(array, self.labels)
            POOL.give(data)  # encoded: nothing refers to the copy any more
        else:
            array = data.numpy() if encode.is_torch(data) else data
            kind, mime, blob, width, height, vmin, vmax = encode.array_blob(array, self.labels)
        self.data = None
        if len(blob) > MAX_IMAGE_BYTES:
            raise MediaError(
                f"the encoded image is {len(blob):,} bytes, over the server's limit "
                f"max_image_bytes={MAX_IMAGE_BYTES}"
            )
        sha256, path = blobs.keep(blob, mime)
        item: dict[str, Any] = {
            "key": self.key, "step": self.step, "ts": self.ts, "sha256": sha256, "mime": mime,
            "width": width, "height": height, "kind": kind,
        }  # fmt: skip
        if self.caption is not None:
            item["caption"] = self.caption
        if self.entity is not None:
            item["entity"] = self.entity
        if vmin is not None and vmax is not None:
            item["vmin"], item["vmax"] = vmin, vmax
        return item, path, mime


class PendingHistogram:
    """A histogram as ``run.histogram`` took it: raw values (binned in :meth:`prepare`), or
    counts and edges."""

    __slots__ = ("bins", "counts", "edges", "key", "nbytes", "step", "ts", "values")

    def __init__(
        self,
        key: str,
        step: int,
        ts: float,
        values: Any,
        counts: Any,
        edges: Any,
        bins: int,
    ) -> None:
        if (values is None) == (counts is None):
            raise MediaError("give either values, or counts and edges")
        if counts is not None and edges is None:
            raise MediaError("counts need their edges (one more than counts)")
        if not 1 <= bins <= MAX_BINS:
            raise MediaError(f"bins must be 1 to {MAX_BINS} (the server's max_histogram_bins)")
        self.key, self.step, self.ts, self.bins = key, step, ts, bins
        self.values: Any = None
        size = 0
        if values is not None:
            self.values, size = snapshot_value(values)
        self.counts = None if counts is None else snapshot_value(counts)[0]
        self.edges = None if edges is None else snapshot_value(edges)[0]
        self.nbytes = size

    def prepare(self) -> dict[str, Any]:
        """Bin the values (NaN, +inf and -inf counted apart) or check the given bins."""
        if self.values is not None:
            values = self.values.numpy() if encode.is_torch(self.values) else self.values
            self.values = None
            edges, counts, nan, inf, neg_inf = bin_values(values, self.bins)
            if encode.is_numpy(values):
                POOL.give(values)  # binned: nothing refers to the copy any more
        else:
            edges = [float(e) for e in _flat(self.edges)]
            counts = [int(c) for c in _flat(self.counts)]
            nan = inf = neg_inf = 0
            if len(edges) != len(counts) + 1 or not counts:
                raise MediaError(
                    f"{len(counts)} counts need {len(counts) + 1} edges, not {len(edges)}"
                )
            if len(counts) > MAX_BINS:
                raise MediaError(
                    f"{len(counts)} bins: over the server's max_histogram_bins={MAX_BINS}"
                )
            if not all(map(math.isfinite, edges)) or any(
                b < a for a, b in itertools.pairwise(edges)
            ):
                raise MediaError("edges must be finite and ascending")
            if any(c < 0 for c in counts):
                raise MediaError("counts must not be negative")
        return {
            "key": self.key, "step": self.step, "ts": self.ts, "edges": edges, "counts": counts,
            "nan": nan, "inf": inf, "neg_inf": neg_inf,
        }  # fmt: skip


def _flat(values: Any) -> list[Any]:
    return list(values.tolist() if hasattr(values, "tolist") else values)


def bin_values(values: Any, bins: int) -> tuple[list[float], list[int], int, int, int]:
    """``(edges, counts, nan, inf, neg_inf)``: ``bins`` equal bins over the finite values' range
    (numpy when the values are an array, plain Python otherwise)."""
    if encode.is_numpy(values):
        import numpy as np

        flat = np.ravel(values)
        if flat.dtype.kind not in "fiub":
            raise MediaError(f"cannot bin an array of {flat.dtype}")
        if flat.dtype.kind == "f":
            finite_mask = np.isfinite(flat)
            finite = flat[finite_mask]
            nan = int(np.isnan(flat).sum())
            inf = int(np.isposinf(flat).sum())
            neg_inf = int(flat.size - finite.size - nan - inf)
        else:
            finite, nan, inf, neg_inf = flat, 0, 0, 0
        if finite.size == 0:
            return [0.0, 1.0], [0], nan, inf, neg_inf
        lo, hi, scale = bin_range(float(finite.min()), float(finite.max()), bins)
        binned, edges = np.histogram(finite * scale if scale != 1 else finite, bins, (lo, hi))
        return _unscaled(edges.tolist(), scale), binned.tolist(), nan, inf, neg_inf
    floats: list[float] = []
    nan = inf = neg_inf = 0
    for v in _flat(values):
        f = float(v)
        if math.isnan(f):
            nan += 1
        elif f == math.inf:
            inf += 1
        elif f == -math.inf:
            neg_inf += 1
        else:
            floats.append(f)
    if not floats:
        return [0.0, 1.0], [0], nan, inf, neg_inf
    lo, hi, scale = bin_range(min(floats), max(floats), bins)
    width = (hi - lo) / bins
    counts = [0] * bins
    for f in floats:
        counts[min(int((f * scale - lo) / width), bins - 1)] += 1
    bounds = [lo + i * width for i in range(bins)] + [hi]
    return _unscaled(bounds, scale), counts, nan, inf, neg_inf


def bin_range(lo: float, hi: float, bins: int) -> tuple[float, float, float]:
    """``(lo, hi, scale)``: the range of ``bins`` equal bins over values from ``lo`` to ``hi``,
    each multiplied by ``scale`` first. Values past a quarter of the largest float are halved,
    so that the range's width stays finite; a range of one value is widened by a half each way,
    and one too narrow for distinct edges to the narrowest that has them."""
    scale = 0.5 if max(abs(lo), abs(hi)) > sys.float_info.max / 4 else 1.0
    lo, hi = lo * scale, hi * scale
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    least = 2 * bins * math.ulp(max(abs(lo), abs(hi)))  # each bin two roundings wide
    if hi - lo < least:
        top = sys.float_info.max * scale  # the widened range stays within the floats
        middle = min(max(lo / 2 + hi / 2, least / 2 - top), top - least / 2)
        lo, hi = middle - least / 2, middle + least / 2
    return lo, hi, scale


def _unscaled(edges: list[float], scale: float) -> list[float]:
    """Edges binned at ``scale`` as the values' own."""
    return edges if scale == 1 else [e / scale for e in edges]
