"""Image encoding for the SDK's background thread: a minimal PNG writer (zlib, no dependency),
PNG/JPEG header parsing, and arrays to the blobs the server keeps.

numpy is optional: it is imported only when an array (or a tensor, or a PIL image) is logged,
and such a value cannot exist without it.
"""

from __future__ import annotations

import struct
import sys
import zlib
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
MAX_PIXELS = 16_384  # per side (``protocol.Pixels``)
# JPEG markers that start a frame (SOF0-15, except DHT, JPG and DAC): they hold the size.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_COLOUR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (grey, RGB, RGBA)


class MediaError(ValueError):
    """A value that cannot be logged as an image or histogram; the message says why."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(pixels: bytes, width: int, height: int, channels: int, level: int = 6) -> bytes:
    """A PNG of 8-bit ``pixels`` (row-major, ``channels`` of 1, 3 or 4 per pixel)."""
    stride = width * channels
    # Each row starts with its filter type: 0 (none).
    rows = b"".join(b"\x00" + pixels[y * stride : (y + 1) * stride] for y in range(height))
    return png_rows(rows, width, height, channels, level)


def png_rows(rows: bytes, width: int, height: int, channels: int, level: int = 6) -> bytes:
    """A PNG of rows already prefixed with their filter byte."""
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOUR_TYPES[channels], 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, level))
        + _chunk(b"IEND", b"")
    )


def _png_of(np: Any, pixels: Any) -> bytes:
    """A PNG of an HxW or HxWxC uint8 array (rows made in numpy: no Python loop)."""
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    rows = np.zeros((height, width * channels + 1), dtype=np.uint8)
    rows[:, 1:] = pixels.reshape(height, -1)
    return png_rows(rows.tobytes(), width, height, channels)


def image_size(data: bytes) -> tuple[str, int, int]:
    """``(mime, width, height)`` of PNG or JPEG bytes, from their header."""
    if data.startswith(PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise MediaError("a PNG without its IHDR header")
        width, height = struct.unpack(">II", data[16:24])
        return "image/png", width, height
    if data.startswith(JPEG_SIGNATURE):
        return ("image/jpeg", *_jpeg_size(data))
    raise MediaError("bytes that are neither PNG nor JPEG")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            raise MediaError("a JPEG whose markers cannot be read")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in _SOF:
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    raise MediaError("a JPEG without a frame header")


def check_size(width: int, height: int) -> None:
    """Both sides between 1 and MAX_PIXELS."""
    if not (1 <= width <= MAX_PIXELS and 1 <= height <= MAX_PIXELS):
        raise MediaError(f"an image of {width}x{height}: each side must be 1 to {MAX_PIXELS}")


def little_endian(array: Any) -> bytes:
    """A numpy array's bytes, little-endian."""
    return bytes(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())


def array_blob(
    array: Any, labels: bool
) -> tuple[str, str, bytes, int, int, float | None, float | None]:
    """``(kind, mime, bytes, width, height, vmin, vmax)`` of a numpy array.

    HxW float (or int without ``labels``): a heatmap (raw float32, ``vmin``/``vmax`` over its
    finite values); HxW int with ``labels``: a label map (raw int32); HxW uint8: grey PNG;
    HxWxC (C of 1, 3, 4) or CxHxW, uint8 or float in [0, 1]: a PNG.
    """
    import numpy as np

    a = np.asarray(array)
    if a.dtype == bool:
        a = a.astype(np.uint8) * (1 if labels else 255)
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[2] not in (1, 3, 4):
        a = np.transpose(a, (1, 2, 0))  # CxHxW (torch's layout)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        height, width = a.shape
        check_size(width, height)
        if labels:
            return _labels(np, a, width, height)
        if a.dtype == np.uint8:
            return "image", "image/png", _png_of(np, a), width, height, None, None
        if a.dtype.kind not in "fiu":
            raise MediaError(f"an array of {a.dtype} is not an image")
        f = a.astype(np.float32)
        finite = f[np.isfinite(f)]
        lo = float(finite.min()) if finite.size else None
        hi = float(finite.max()) if finite.size else None
        return "heatmap", "application/x-runwatch-f32", little_endian(f), width, height, lo, hi
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise MediaError(
            f"an array of shape {a.shape}: an image is HxW, HxWxC or CxHxW (C of 1, 3 or 4)"
        )
    if labels:
        raise MediaError("labels=True takes an HxW integer array")
    height, width, _ = a.shape
    check_size(width, height)
    return "image", "image/png", _png_of(np, _uint8(np, a)), width, height, None, None


def _labels(
    np: Any, a: Any, width: int, height: int
) -> tuple[str, str, bytes, int, int, None, None]:
    if a.dtype.kind not in "iub":
        raise MediaError(f"labels=True takes an integer array, not {a.dtype}")
    if a.size and (int(a.min()) < -(2**31) or int(a.max()) >= 2**31):
        raise MediaError("label values must fit 32-bit integers")
    data = little_endian(a.astype(np.int32))
    return "labels", "application/x-runwatch-i32", data, width, height, None, None


def _uint8(np: Any, a: Any) -> Any:
    """An RGB(A) array as uint8: uint8 as is, floats in [0, 1] scaled, ints in 0..255."""
    if a.dtype == np.uint8:
        return a
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise MediaError("an RGB image with NaN or infinite values")
        if a.size and (float(a.min()) < 0.0 or float(a.max()) > 1.0):
            raise MediaError("a float RGB image must be in [0, 1]")
        return np.rint(a * 255.0).astype(np.uint8)
    if a.dtype.kind in "iu":
        if a.size and (int(a.min()) < 0 or int(a.max()) > 255):
            raise MediaError("an integer RGB image must be in 0..255")
        return a.astype(np.uint8)
    raise MediaError(f"an array of {a.dtype} is not an image")


def is_torch(value: Any) -> bool:
    """Whether ``value`` is a torch tensor (without importing torch)."""
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def is_pil(value: Any) -> bool:
    """Whether ``value`` is a PIL image (without importing PIL)."""
    return type(value).__module__.startswith("PIL.") and hasattr(value, "getbands")


_NDARRAY: list[type] = []  # numpy's ndarray once numpy is loaded: no lookup in sys.modules


def is_numpy(value: Any) -> bool:
    """Whether ``value`` is a numpy array (numpy is loaded whenever one exists)."""
    if _NDARRAY:
        return isinstance(value, _NDARRAY[0])
    np = sys.modules.get("numpy")
    if np is None:
        return False
    _NDARRAY.append(np.ndarray)
    return isinstance(value, np.ndarray)


def pil_blob(image: Any) -> tuple[str, bytes, int, int]:
    """``(mime, png bytes, width, height)`` of a PIL image (PIL's own PNG writer)."""
    import io

    if image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGBA")
    out = io.BytesIO()
    image.save(out, format="PNG")
    width, height = image.size
    check_size(width, height)
    return "image/png", out.getvalue(), width, height
