"""Image blobs up to the server several to a request: what the live sender, ``runwatch sync``
and ``runwatch import`` share.

A lone blob goes up as ``PUT …/blobs/{sha256}``, which every server takes; several as one
``POST …/blobs`` (:data:`~runwatch.protocol.BLOBS_MIME`), so that the server looks the run up,
checks the token and commits once for all of them: at most :data:`MAX_GROUP_BLOBS` blobs, and
past the first :data:`MAX_GROUP_BYTES` bytes. :class:`GroupSize` says how many the next request
carries: one for good once the server turns out to know no grouped upload (an older one),
half as many after a group was refused whole without a blob named (e.g. a server whose
``max_body_bytes`` is below the group), doubled back after each upload stored. A blob the
server refuses for good (the one a group's refusal names, or a lone one) is handled as a
refused ``PUT`` always was.

The live sender keeps its own queue and upload in flight (it takes turns with batches and
heartbeats) and uses these pieces directly; ``runwatch sync`` and ``runwatch import`` upload on
their own thread, between the batches they post, through :class:`GroupUploader`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from runwatch.protocol import BLOBS_MIME, MAX_BLOBS_PER_UPLOAD, encode_blobs
from runwatch.sdk.refused import refused_for_good
from runwatch.sdk.transport import Reply

MAX_GROUP_BLOBS = 64
# Bytes of a group past its first blob: a request stays short, so batches and heartbeats get
# their turn between uploads.
MAX_GROUP_BYTES = 4 * 2**20
Blob = tuple[str, str, bytes]  # sha256, mime, bytes
Send = Callable[[str, str, bytes, str], Reply]  # (method, path, body, content type) -> answer
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


class UploadError(Exception):
    """An upload the server did not take: ``sha256`` is the blob it refused (the one it named,
    or a lone one), or the first of a request it answered otherwise (unreachable, 5xx, 401)."""

    def __init__(self, sha256: str, reply: Reply) -> None:
        super().__init__(f"image blob {sha256}: HTTP {reply.status} {reply.body}")
        self.sha256 = sha256
        self.reply = reply


class GroupUploader:
    """Blobs gathered into groups and uploaded on the calling thread, each once.

    :meth:`add` gathers a blob (uploading the group gathered so far first when it is full),
    :meth:`flush` uploads what is gathered: a caller flushes before it posts a batch naming
    them. At most one group is held: :data:`MAX_GROUP_BLOBS` blobs and :data:`MAX_GROUP_BYTES`
    past the first. A blob the server refuses by name costs only itself: the rest of its group
    go again and are stored, then :class:`UploadError` names it; any other failure raises it at
    once, the group kept (a later flush sends it). ``sent`` holds each stored blob's hash (one
    per blob uploaded, so a blob named again is not sent again).
    """

    def __init__(self, send: Send, run_id: str, most: int = MAX_GROUP_BLOBS) -> None:
        self._send = send
        self._run_id = run_id
        self.size = GroupSize(most)
        self.sent: set[str] = set()
        self._group: list[Blob] = []
        self._gathered: set[str] = set()
        self._held = 0

    def wants(self, sha256: str) -> bool:
        """Whether the blob is neither stored nor gathered yet (its bytes are worth reading)."""
        return sha256 not in self.sent and sha256 not in self._gathered

    def add(self, sha256: str, mime: str, data: bytes) -> None:
        """Gather one blob (none already stored or gathered); may upload the group first."""
        if not self.wants(sha256):
            return
        if not self.size.takes(len(self._group), self._held, len(data)):
            self.flush()
        self._group.append((sha256, mime, data))
        self._gathered.add(sha256)
        self._held += len(data)

    def flush(self) -> None:
        """Upload every gathered blob, as many to a request as :attr:`size` says."""
        refused: UploadError | None = None
        while self._group:
            part = self._group[: self.size.now]
            reply = self._send(*upload_request(self._run_id, part))
            if self.size.answered(reply, len(part)):
                continue  # the same blobs again at once, fewer to a request
            named = None if reply.error_code == "run_not_found" else refused_blob(reply, len(part))
            if named is not None:  # that blob only: the server stored none of the request
                refused = refused or UploadError(part[named][0], reply)
                self._drop([part[named]])
                continue
            if not 200 <= reply.status < 300:
                raise UploadError(part[0][0], reply)
            self.sent.update(sha256 for sha256, _, _ in part)
            self._drop(part)
        if refused is not None:
            raise refused

    def discard(self) -> None:
        """Forget what is gathered and not uploaded."""
        self._group, self._gathered, self._held = [], set(), 0

    def _drop(self, blobs: list[Blob]) -> None:
        gone = {sha256 for sha256, _, _ in blobs}
        self._group = [blob for blob in self._group if blob[0] not in gone]
        self._gathered -= gone
        self._held -= sum(len(data) for _, _, data in blobs)
