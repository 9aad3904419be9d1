"""Image blobs up to the server several to a request: what the live sender and ``runwatch sync``
share.

A lone blob goes up as ``PUT …/blobs/{sha256}``, which every server takes; several as one
``POST …/blobs`` (:data:`~runwatch.protocol.BLOBS_MIME`), so that the server looks the run up,
checks the token and commits once for all of them: at most :data:`MAX_GROUP_BLOBS` blobs, and
past the first :data:`MAX_GROUP_BYTES` bytes. :class:`GroupSize` says how many the next request
carries: one for good once the server turns out to know no grouped upload (an older one),
half as many after a group was refused whole without a blob named (e.g. a server whose
``max_body_bytes`` is below the group), doubled back after each upload stored. A blob the
server refuses for good (the one a group's refusal names, or a lone one) is handled as a
refused ``PUT`` always was.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from runwatch.protocol import BLOBS_MIME, MAX_BLOBS_PER_UPLOAD, encode_blobs
from runwatch.sdk.refused import refused_for_good
from runwatch.sdk.transport import Reply

MAX_GROUP_BLOBS = 64
# Bytes of a group past its first blob: a request stays short, so batches and heartbeats get
# their turn between uploads.
MAX_GROUP_BYTES = 4 * 2**20
Blob = tuple[str, str, bytes]  # sha256, mime, bytes
_NAMED = re.compile(r"\$\.blobs\[(\d+)\]")
# What a server that knows no grouped upload answers one: its guard refuses the body's type
# (415), or no route has the path (404 that is not a run's, 405).
_UNKNOWN = frozenset({404, 405, 415})


def upload_request(run_id: str, blobs: Sequence[Blob]) -> tuple[str, str, bytes, str]:
    """``(method, path, body, content type)`` of the request that uploads ``blobs``."""
    if len(blobs) == 1:
        sha256, mime, data = blobs[0]
        return "PUT", f"/api/v1/runs/{run_id}/blobs/{sha256}", data, mime
    return "POST", f"/api/v1/runs/{run_id}/blobs", encode_blobs(list(blobs)), BLOBS_MIME


def refused_blob(reply: Reply, sent: int) -> int | None:
    """Which of the ``sent`` blobs the server refused for good: the one its error's field
    names, or a lone one; None when it refused none, or the group whole."""
    if not refused_for_good(reply):
        return None
    if sent == 1:
        return 0
    named = _NAMED.match(reply.error_field or "")
    index = int(named.group(1)) if named else sent
    return index if index < sent else None


class GroupSize:
    """How many blobs the next upload request carries (see the module's docstring)."""

    def __init__(self, most: int = MAX_GROUP_BLOBS) -> None:
        self.most = self.now = max(1, min(most, MAX_BLOBS_PER_UPLOAD))

    def takes(self, count: int, size: int, more: int) -> bool:
        """Whether a group of ``count`` blobs and ``size`` bytes takes one more of ``more``."""
        return count == 0 or (count < self.now and size + more <= MAX_GROUP_BYTES)

    def answered(self, reply: Reply, sent: int) -> bool:
        """Learn from the answer to an upload of ``sent`` blobs; True when they are to go up
        again at once, fewer to a request."""
        if 200 <= reply.status < 300:
            self.now = min(self.most, self.now * 2)
            return False
        if sent == 1 or reply.error_code == "run_not_found":  # the run is gone, not the group
            return False
        if reply.status in _UNKNOWN:
            self.most = self.now = 1
            return True
        if refused_for_good(reply) and refused_blob(reply, sent) is None:
            self.now = max(1, sent // 2)
            return True
        return False
