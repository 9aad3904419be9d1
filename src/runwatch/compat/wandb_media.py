"""``wandb.Image`` and ``wandb.Histogram`` of the W&B shim: logged through ``wandb.log``, they
become ``run.image`` and ``run.histogram`` at the row's step.

Both take what W&B takes and convert it the way W&B does at construction (so a later change to
the caller's array does not change what is logged): an image's pixels become 8-bit as W&B's
``to_uint8`` makes them (a float array in [0, 1] scaled by 255, one with negative values
stretched to [0, 1] first), a file path is read (PNG and JPEG bytes are kept as they are).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from runwatch.compat.wandb_types import warn_once
from runwatch.sdk import encode

MAX_BINS = 512  # W&B's own cap on ``num_bins``


class Image:
    """``wandb.Image(data_or_path, mode=None, caption=None, ...)``: a numpy array (HxW,
    HxWxC, CxHxW), a torch tensor, a PIL image, or the path of an image file."""

    def __init__(
        self,
        data_or_path: Any,
        mode: str | None = None,
        caption: str | None = None,
        grouping: int | None = None,
        classes: Any = None,
        boxes: Any = None,
        masks: Any = None,
        file_type: str | None = None,
        normalize: bool = True,
    ) -> None:
        self.caption = None if caption is None else str(caption)
        self.data: Any = None  # None: refused (said once); a log of it records nothing
        try:
            self.data = _pixels(data_or_path, mode, normalize)
        except Exception as exc:
            _refused("wandb.Image", exc)


class Histogram:
    """``wandb.Histogram(sequence)`` (binned into ``num_bins`` equal bins, at most 512) or
    ``wandb.Histogram(np_histogram=(counts, edges))``."""

    def __init__(self, sequence: Any = None, np_histogram: Any = None, num_bins: int = 64) -> None:
        self.values: Any = None
        self.histogram: list[int] | None = None
        self.bins: list[float] | None = None
        self.num_bins = 64
        try:
            self.num_bins = max(1, min(int(num_bins), MAX_BINS))
            if np_histogram is not None:
                counts, edges = np_histogram
                self.histogram = [int(c) for c in _flat(counts)]
                self.bins = [float(e) for e in _flat(edges)]
            elif sequence is not None:
                self.values = _values(sequence)
            else:
                raise ValueError("it needs a sequence or np_histogram=(counts, edges)")
        except Exception as exc:
            _refused("wandb.Histogram", exc)

    @property
    def ok(self) -> bool:
        """Whether there is something to log (bad input was said once and is skipped)."""
        return self.values is not None or self.histogram is not None


def _refused(what: str, exc: Exception) -> None:
    """W&B raises on bad input; the shim never raises into the loop: said once, not recorded."""
    warn_once(
        f"{what} could not take its input ({type(exc).__name__}: {exc}); it is not recorded",
        key=f"refused:{what}",
    )


def _flat(values: Any) -> list[Any]:
    return list(values.tolist() if hasattr(values, "tolist") else values)


def _values(sequence: Any) -> Any:
    """A copy of the values: a float array when numpy is there (binned as W&B bins them)."""
    if encode.is_torch(sequence):
        sequence = sequence.detach().cpu().numpy()
    try:
        import numpy as np
    except ImportError:
        return [float(v) for v in _flat(sequence)]
    return np.array(sequence, dtype=np.float64).ravel()


def _pixels(data: Any, mode: str | None, normalize: bool) -> Any:
    """What ``run.image`` gets: PNG/JPEG bytes, a PIL image or a uint8 array."""
    if isinstance(data, str | os.PathLike):
        return _from_file(Path(data))
    if encode.is_pil(data):
        return data.convert(mode) if mode else data.copy()
    if encode.is_torch(data):
        data = data.detach().cpu().numpy()
    import numpy as np

    array = np.array(data)
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 3, 4):
        array = np.transpose(array, (1, 2, 0))  # CxHxW (torch's layout)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    return _to_uint8(np, array) if normalize else np.clip(array, 0, 255).astype(np.uint8)


def _to_uint8(np: Any, array: Any) -> Any:
    """W&B's ``Image.to_uint8``: values below 0 stretch the range to [0, 1]; a range within
    [0, 1] scales by 255; the rest is clipped to 0..255."""
    if array.dtype == np.uint8:
        return array
    data = array.astype(np.float64)
    if data.size and float(np.min(data)) < 0:
        span = float(np.ptp(data))
        data = (data - float(np.min(data))) / (span if span else 1.0)
    if data.size and float(np.max(data)) <= 1.0:
        data = (data * 255).astype(np.int32)
    return np.clip(data, 0, 255).astype(np.uint8)


def _from_file(path: Path) -> Any:
    data = path.read_bytes()
    if data.startswith((encode.PNG_SIGNATURE, encode.JPEG_SIGNATURE)):
        return data
    from PIL import Image as PILImage  # any other format: PIL reads it (W&B needs PIL too)

    with PILImage.open(path) as opened:
        return opened.convert("RGBA") if opened.mode not in ("RGB", "RGBA", "L") else opened.copy()
