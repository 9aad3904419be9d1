"""``wandb.Image`` and ``wandb.Histogram`` of the W&B shim: logged through ``wandb.log``, they
become ``run.image`` and ``run.histogram`` at the row's step.

Both take what W&B takes and convert it the way W&B (0.31) does at construction, so a later
change to the caller's array does not change what is logged: an array's or tensor's values are
taken as 0..255 and cast to 8 bits (W&B no longer rescales floats in [0, 1]; out-of-range values,
which W&B leaves to the cast, are clipped), a tensor is CxHxW; a file path is read (PNG and JPEG
bytes are kept as they are).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from runwatch.compat.wandb_types import warn_once
from runwatch.sdk import encode

MAX_BINS = 512  # W&B's own cap on ``num_bins``


class Image:
    """``wandb.Image(data_or_path, mode=None, caption=None, ...)``: a numpy array (HxW, HxWxC;
    CxHxW too, which W&B does not take), a torch tensor (CxHxW), a PIL image, or the path of an
    image file. Boxes, masks and classes are not recorded."""

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
        **_: Any,  # arguments of other W&B versions (normalize)
    ) -> None:
        self.caption = None if caption is None else str(caption)
        self.data: Any = None  # None: refused (said once); a log of it records nothing
        try:
            self.data = _pixels(data_or_path, mode)
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


def _pixels(data: Any, mode: str | None) -> Any:
    """What ``run.image`` gets: PNG/JPEG bytes, a PIL image or a uint8 array."""
    if isinstance(data, str | os.PathLike):
        return _from_file(Path(data))
    if encode.is_pil(data):
        return data.convert(mode) if mode else data.copy()
    import numpy as np

    if encode.is_torch(data):
        data = data.detach().cpu().numpy()
        if data.ndim == 3:
            data = np.transpose(data, (1, 2, 0))  # W&B permutes a tensor from CxHxW
    array = np.array(data)
    if array.ndim > 2:
        array = array.squeeze()  # as W&B does: trivial dimensions go
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[2] not in (1, 3, 4):
        array = np.transpose(array, (1, 2, 0))  # a CxHxW array
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    if mode:  # W&B converts to the mode given (RGB of a grey array, …)
        from PIL import Image as PILImage

        return PILImage.fromarray(array).convert(mode)
    return array


def _from_file(path: Path) -> Any:
    data = path.read_bytes()
    if data.startswith((encode.PNG_SIGNATURE, encode.JPEG_SIGNATURE)):
        return data
    from PIL import Image as PILImage  # any other format: PIL reads it (W&B needs PIL too)

    with PILImage.open(path) as opened:
        return opened.convert("RGBA") if opened.mode not in ("RGB", "RGBA", "L") else opened.copy()
