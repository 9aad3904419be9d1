"""Files uploaded for runs: kept in ``<data dir>/uploads``, offered by file parameters that
take uploads (``uploads = true``) as ``@uploads/NAME``.

A name is sanitised to its last path component, of ``A-Z a-z 0-9 . _ -`` only (anything else
becomes ``_``; no leading dot or dash), at most :data:`MAX_NAME` characters. A body over
:data:`MAX_UPLOAD_BYTES` is refused with 413 as soon as it passes the cap, and nothing of it is
kept; a complete upload replaces a file of the same name atomically. At most
:data:`MAX_UPLOADS` files are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from runwatch.server.errors import ApiError

UPLOADS_DIR = "uploads"
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
MAX_UPLOADS = 1000  # as many as a file parameter lists
MAX_NAME = 100
UPLOAD_PATH = "/api/v1/uploads"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def sanitise(name: str) -> str:
    """The stored name for ``name``; 400 naming ``query.name`` when nothing usable is left."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    clean = _UNSAFE.sub("_", base).lstrip(".-")
    if len(clean) > MAX_NAME:  # keep the extension: it tells the worker the format
        stem, dot, ext = clean.rpartition(".")
        clean = f"{stem[: MAX_NAME - len(ext) - 1]}.{ext}" if dot and len(ext) < 16 else clean
        clean = clean[:MAX_NAME]
    if not clean.strip("._-"):
        raise ApiError(400, "invalid_name", f"{name!r} is not a usable file name", "query.name")
    return clean


async def store_upload(
    root: Path, name: str, declared: str | None, body: AsyncIterator[bytes]
) -> dict[str, object]:
    """Write ``body`` to ``root/name`` (a temporary file first), refusing it past the cap."""
    too_large = ApiError(
        413,
        "upload_too_large",
        f"an upload may be at most {MAX_UPLOAD_BYTES:,} bytes (max_upload_bytes)",
        "body",
    )
    if declared is not None and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        raise too_large
    root.mkdir(parents=True, exist_ok=True)
    target = root / name
    if not target.exists() and sum(1 for _ in root.iterdir()) >= MAX_UPLOADS:
        raise ApiError(409, "too_many_uploads", f"{MAX_UPLOADS} files are uploaded already")
    tmp = root / f".{name}.{secrets.token_hex(4)}.part"
    digest = hashlib.sha256()
    size = 0
    try:
        with tmp.open("wb") as out:
            async for chunk in body:
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise too_large
                digest.update(chunk)
                out.write(chunk)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return {"name": name, "value": f"@uploads/{name}", "size": size, "sha256": digest.hexdigest()}
