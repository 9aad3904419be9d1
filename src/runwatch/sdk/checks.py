"""Checks of an image array on the calling thread: attribute reads only, never a pass over its
values (NaN, ranges and label bounds are checked where it is encoded, on the SDK's thread).

An array that cannot be an image is refused here, before it is copied: a 4-D tensor or a
20,000-pixel side costs no copy and no memory, and the refusal names what is wrong. The
common case (HxWxC, C of 1, 3 or 4, numbers) is one chain of comparisons: this runs on the
training loop's thread, usually with its caches cold, where every extra call shows.
"""

from __future__ import annotations

from typing import Any

from runwatch.sdk.encode import MAX_PIXELS, MediaError


def image_array(array: Any, labels: bool) -> tuple[int, ...]:
    """``array``'s shape, or :class:`MediaError` unless its shape and dtype can be logged as an
    image (HxW; HxWxC or CxHxW with C of 1, 3 or 4; an integer HxW with ``labels``)."""
    shape: tuple[int, ...] = array.shape
    if (
        len(shape) == 3
        and 0 < shape[0] <= MAX_PIXELS
        and 0 < shape[1] <= MAX_PIXELS
        and (shape[2] == 3 or shape[2] == 4 or shape[2] == 1)
        and not labels
        and array.dtype.kind in "fiub"
    ):
        return shape
    return _other_array(array, shape, labels)


def _other_array(array: Any, shape: tuple[int, ...], labels: bool) -> tuple[int, ...]:
    """:func:`image_array` past its common case."""
    kind = array.dtype.kind
    if len(shape) == 3:
        if labels:
            raise MediaError(f"labels=True takes an HxW integer array, not one of shape {shape}")
        if shape[2] not in (1, 3, 4) and shape[0] not in (1, 3, 4):
            raise MediaError(
                f"an array of shape {shape}: an image is HxW, HxWxC or CxHxW (C of 1, 3 or 4)"
            )
    elif len(shape) == 2:
        if labels and kind not in "iub":
            raise MediaError(f"labels=True takes an integer array, not {array.dtype}")
    else:
        raise MediaError(
            f"an array of shape {shape}: an image is HxW, HxWxC or CxHxW (C of 1, 3 or 4)"
        )
    if kind not in "fiub":
        raise MediaError(f"an array of {array.dtype} is not an image")
    if min(shape) < 1 or max(shape) > MAX_PIXELS:
        raise MediaError(
            f"an image of {'x'.join(map(str, shape))}: each side must be 1 to {MAX_PIXELS}"
        )
    return shape
