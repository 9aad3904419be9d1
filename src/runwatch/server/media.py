"""Routes for media over steps: blob upload and download, each image key's step index, and
histograms for distribution charts.

A producer uploads an image's bytes first (``PUT …/blobs/{sha256}``, or several blobs in one
``POST …/blobs``; idempotent), then names the hash in a batch's ``media`` record (a batch naming
a blob the server lacks is a 409 ``blob_missing``). Blobs are immutable (named by their hash),
so they are served with a strong ETag and cached for a year.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from runwatch.protocol import (
    BLOBS_MIME,
    INT64_MAX,
    MEDIA_MIMES,
    BlobsIn,
)
from runwatch.server.api import (
    READ,
    WRITE,
    Bound,
    decode,
    json_response,
    read_body,
    run_or_404,
    store_of,
)
from runwatch.server.errors import ApiError
from runwatch.server.openapi import refusal
from runwatch.store.media_history import HISTOGRAM_CAP

router = APIRouter(prefix="/api/v1")
Sha = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="The blob's SHA-256, in hex.")]
Step = Annotated[int | None, Query(ge=-INT64_MAX - 1, le=INT64_MAX)]
MAX_MEDIA_KEYS_PAGE = 1_000
MAX_MEDIA_PAGE = 1_000
IMMUTABLE = "public, max-age=31536000, immutable"
_blobs_decoder = msgspec.json.Decoder(BlobsIn)
_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
_BLOB_BODY = {
    mime: {"schema": {"type": "string", "format": "binary"}} for mime in sorted(MEDIA_MIMES)
}
_BLOB_OUT = {
    "description": "The blob's bytes, with its Content-Type, a strong ETag (its hash) and "
    f"`Cache-Control: {IMMUTABLE}`.",
    "content": _BLOB_BODY,
}


def blob_url(run_id: str, sha256: str) -> str:
    """Where a run's blob is served."""
    return f"/api/v1/runs/{run_id}/blobs/{sha256}"


def with_url(run_id: str, item: dict[str, Any]) -> dict[str, Any]:
    """A media item as every route answers it: the store's item with its blob's ``url``."""
    return {**item, "url": blob_url(run_id, item["sha256"])}


async def _read_blob(request: Request, limit: int) -> bytes:
    """The request body, refused with a 413 naming ``max_image_bytes`` past ``limit``."""
    message = f"the image is over the limit max_image_bytes={limit}"
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "limit_exceeded", message, "body")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "limit_exceeded", message, "body")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_content(mime: str, data: bytes, field: str = "body") -> None:
    """PNG and JPEG start with their signature; raw arrays are whole 4-byte values."""
    magic = _MAGIC.get(mime)
    if magic is not None and not data.startswith(magic):
        raise ApiError(400, "invalid_blob", f"the {field} is not a {mime} image", field)
    if magic is None and (not data or len(data) % 4):
        raise ApiError(400, "invalid_blob", f"a {mime} {field} is whole 4-byte values", field)


def _mime_of(request: Request, allowed: frozenset[str]) -> str:
    """The request's Content-Type, refused with a 400 naming it unless ``allowed``."""
    mime = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if mime not in allowed:
        raise ApiError(
            400,
            "invalid_mime",
            f"Content-Type must be one of {', '.join(sorted(allowed))}",
            "header.content-type",
        )
    return mime


@router.put(
    "/runs/{run_id}/blobs/{sha256}",
    dependencies=WRITE,
    openapi_extra={"requestBody": {"required": True, "content": _BLOB_BODY}},
    responses={
        200: {"description": "The server had these bytes already (`new`: false)."},
        201: {"description": "Stored (`new`: true)."},
        400: refusal(
            "`hash_mismatch`: the body's SHA-256 is not the path's (`field`: `path.sha256`); "
            "`invalid_mime`: the Content-Type is not one of the four blob types "
            "(`header.content-type`); `invalid_blob`: the body is not of that type."
        ),
        415: refusal("`unsupported_media_type`: the Content-Type is none of the blob types."),
        413: refusal(
            "`limit_exceeded`: the image is over `max_image_bytes` (8,388,608 bytes by "
            "default; the message names the limit)."
        ),
    },
)
async def put_blob(request: Request, run_id: str, sha256: Sha) -> Response:
    """Upload an image's bytes for a run, named by their SHA-256 (idempotent: the same bytes
    are stored once, whatever runs and steps show them). Content-Type: ``image/png``,
    ``image/jpeg``, ``application/x-runwatch-f32`` (a heatmap: HxW little-endian float32) or
    ``application/x-runwatch-i32`` (a label map: HxW little-endian int32)."""
    await run_or_404(request, run_id)  # the run and its project first: a stranger learns nothing
    mime = _mime_of(request, MEDIA_MIMES)
    settings = request.app.state.settings
    data = await _read_blob(request, min(settings.limits.max_image_bytes, settings.max_body_bytes))
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ApiError(
            400, "hash_mismatch", "the body's SHA-256 is not the one in the path", "path.sha256"
        )
    _check_content(mime, data)
    new = await store_of(request).put_blob(sha256, mime, data)
    return json_response({"sha256": sha256, "size": len(data), "new": new}, 201 if new else 200)


@router.post(
    "/runs/{run_id}/blobs",
    dependencies=WRITE,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                BLOBS_MIME: {
                    "schema": {
                        "type": "string",
                        "format": "binary",
                        "description": "A `BlobsIn` manifest (JSON) and a newline, then each "
                        "blob's bytes in the manifest's order.",
                    }
                }
            },
        }
    },
    responses={
        200: {"description": "The server had every blob already (each `new`: false)."},
        201: {"description": "Stored (`new`: true for each blob it did not have)."},
        400: refusal(
            "`invalid_blobs`: the manifest is not a `BlobsIn` on the first line (`field` names "
            "its place, e.g. `$.blobs[2].mime`), or its sizes do not add up to the bytes that "
            "follow it (`$.blobs`); `hash_mismatch`: a blob's bytes are not its SHA-256 "
            "(`$.blobs[i].sha256`); `invalid_blob`: a blob is not of its type (`$.blobs[i]`); "
            f"`invalid_mime`: the Content-Type is not `{BLOBS_MIME}`. Nothing is stored."
        ),
        415: refusal(f"`unsupported_media_type`: the Content-Type is not `{BLOBS_MIME}`."),
        413: refusal(
            "`limit_exceeded`: a blob is over `max_image_bytes` (8,388,608 bytes by default; "
            "`field`: `$.blobs[i].size`); `body_too_large`: the whole body is over "
            "`max_body_bytes`. Nothing is stored."
        ),
    },
)
async def put_blobs(request: Request, run_id: str) -> Response:
    """Upload several blobs for a run in one request (at most 256, and ``max_body_bytes`` in
    all), stored in one transaction: all of them, or none when one is refused (``field`` names
    it). Content-Type ``application/x-runwatch-blobs``: a JSON manifest
    ``{"blobs": [{"sha256", "mime", "size"}, …]}`` and a newline, then each blob's ``size``
    bytes in the manifest's order. Idempotent, as ``PUT …/blobs/{sha256}`` is."""
    await run_or_404(request, run_id)  # the run and its project first: a stranger learns nothing
    _mime_of(request, frozenset({BLOBS_MIME}))
    settings = request.app.state.settings
    body = await read_body(request, settings.max_body_bytes)
    blobs = _split_blobs(body, settings.limits.max_image_bytes)
    new = await store_of(request).put_blobs(blobs)
    stored = [
        {"sha256": sha256, "size": len(data), "new": is_new}
        for (sha256, _, data), is_new in zip(blobs, new, strict=True)
    ]
    return json_response({"blobs": stored}, 201 if any(new) else 200)


def _split_blobs(body: bytes, limit: int) -> list[tuple[str, str, bytes]]:
    """The ``(sha256, mime, bytes)`` blobs of a grouped upload's body, each checked; a 4xx
    naming the manifest's field that is wrong."""
    end = body.find(b"\n")
    if end < 0:
        raise ApiError(
            400, "invalid_blobs", "the body starts with its manifest and a newline", "body"
        )
    manifest: BlobsIn = decode(_blobs_decoder, body[:end], "blobs")
    for i, blob in enumerate(manifest.blobs):
        if blob.size > limit:
            message = f"blob {i} is over the limit max_image_bytes={limit}"
            raise ApiError(413, "limit_exceeded", message, f"$.blobs[{i}].size")
    declared, sent = sum(blob.size for blob in manifest.blobs), len(body) - end - 1
    if declared != sent:
        message = f"the manifest's sizes add up to {declared} bytes; {sent} follow it"
        raise ApiError(400, "invalid_blobs", message, "$.blobs")
    out: list[tuple[str, str, bytes]] = []
    at = end + 1
    for i, blob in enumerate(manifest.blobs):
        data = body[at : at + blob.size]
        at += blob.size
        if hashlib.sha256(data).hexdigest() != blob.sha256:
            message = f"blob {i}'s bytes are not its SHA-256"
            raise ApiError(400, "hash_mismatch", message, f"$.blobs[{i}].sha256")
        _check_content(blob.mime, data, f"$.blobs[{i}]")
        out.append((blob.sha256, blob.mime, data))
    return out


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (weakly compared, as RFC 9110 says)."""
    if if_none_match is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


@router.get(
    "/runs/{run_id}/blobs/{sha256}",
    dependencies=READ,
    response_class=Response,
    responses={
        200: _BLOB_OUT,
        304: {"description": "`If-None-Match` names this blob's ETag: the cached copy is it."},
        404: refusal("`blob_not_found`: no media record of the run names this blob."),
    },
)
async def get_blob(request: Request, run_id: str, sha256: Sha) -> Response:
    """An image's bytes, served only through a run whose media records name them."""
    await run_or_404(request, run_id)
    store = store_of(request)
    etag = f'"{sha256}"'
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    if _matches(request.headers.get("if-none-match"), etag):
        if await store.blob_mime(run_id, sha256) is None:
            raise ApiError(404, "blob_not_found", f"the run shows no blob {sha256}", "sha256")
        return Response(status_code=304, headers=headers)
    found = await store.blob(run_id, sha256)
    if found is None:
        raise ApiError(404, "blob_not_found", f"the run shows no blob {sha256}", "sha256")
    mime, data = found
    return Response(data, media_type=mime, headers=headers)


@router.get("/runs/{run_id}/media", dependencies=READ)
async def media_keys(
    request: Request,
    run_id: str,
    after: str = "",
    limit: int = Query(200, ge=1, le=MAX_MEDIA_KEYS_PAGE),
) -> Response:
    """The run's image keys after ``after`` (code-point order), each with its ``kind``
    (``image``, ``heatmap``, ``labels``), ``count`` of kept steps, ``first_step``,
    ``last_step``, ``prev_step`` (the kept step before the last, null when it is the only one:
    a slider needs no ``…/media/{key}?step=`` for the newest) and ``newest`` item (with its blob
    ``url``); ``next_after`` pages on (null at the end)."""
    await run_or_404(request, run_id)
    keys = await store_of(request).media_keys(run_id, after, limit)
    for k in keys:
        k["newest"] = with_url(run_id, k["newest"])
    more = keys[-1]["key"] if len(keys) == limit else None
    return json_response({"keys": keys, "next_after": more})


@router.get(
    "/runs/{run_id}/media/{key:path}",
    dependencies=READ,
    responses={404: refusal("`media_not_found`: the run has no image under this key.")},
)
async def media_steps(
    request: Request,
    run_id: str,
    key: str,
    after: Step = None,
    limit: int = Query(100, ge=1, le=MAX_MEDIA_PAGE),
    step: Step = None,
) -> Response:
    """One image key's kept steps. Paged: ``items`` with step > ``after``, oldest first, and
    ``next_after`` (null at the end). With ``step``: the kept ``item`` nearest it (the earlier
    on a tie) and the kept steps just before and after it (``prev``, ``next``), for a slider.
    Each item: step, ts, kind, sha256, mime, size, width, height, caption, entity, vmin, vmax,
    url. A key keeps its newest 32 steps and log-spaced older ones."""
    await run_or_404(request, run_id)
    store = store_of(request)
    if step is not None:
        near = await store.media_nearest(run_id, key, step)
        if near is None:
            raise ApiError(404, "media_not_found", f"no image key {key!r}", "key")
        return json_response({"key": key, **near, "item": with_url(run_id, near["item"])})
    items = await store.media_items(run_id, key, after, limit)
    if not items and await store.media_nearest(run_id, key, 0) is None:
        raise ApiError(404, "media_not_found", f"no image key {key!r}", "key")
    more = items[-1]["step"] if len(items) == limit else None
    return json_response(
        {"key": key, "items": [with_url(run_id, i) for i in items], "next_after": more}
    )


@router.get("/runs/{run_id}/histograms", dependencies=READ)
async def histogram_keys(request: Request, run_id: str) -> Response:
    """The run's histogram keys, each with its number of kept steps (code-point order)."""
    await run_or_404(request, run_id)
    return json_response({"keys": await store_of(request).histogram_keys(run_id)})


@router.get(
    "/runs/{run_id}/histograms/{key:path}",
    dependencies=READ,
    responses={404: refusal("`histogram_not_found`: the run has no histogram under this key.")},
)
async def histograms(
    request: Request,
    run_id: str,
    key: str,
    start: Bound = None,
    end: Bound = None,
    max_steps: int = Query(500, ge=1, le=HISTOGRAM_CAP),
) -> Response:
    """One key's histograms with ``start <= step <= end``, evenly thinned to at most
    ``max_steps`` steps (the first and last kept), for a distribution chart. Each step has its
    ``edges``, ``counts``, ``nan``, ``inf``, ``neg_inf`` and ``percentiles``: the values at the
    document's ``percentiles`` (0, 6.68, 15.87, 30.85, 50, 69.15, 84.13, 93.32, 100: the bands
    TensorBoard draws), interpolated linearly inside bins and null for an empty histogram.
    ``in_range``: how many kept steps fell in the range before thinning."""
    await run_or_404(request, run_id)
    found = await store_of(request).histograms(run_id, key, start, end, max_steps)
    if found is None:
        raise ApiError(404, "histogram_not_found", f"no histogram key {key!r}", "key")
    return json_response(found)
