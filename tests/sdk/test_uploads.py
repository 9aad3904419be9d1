"""How many blobs an upload request carries (runwatch.sdk.uploads), answer by answer: the
group size the live sender, `runwatch sync` and `runwatch import` share; and the uploader sync
and import share, against the app in this process."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from runwatch.protocol import BLOBS_MIME
from runwatch.sdk.transport import Reply
from runwatch.sdk.uploads import (
    MAX_GROUP_BYTES,
    GroupSize,
    GroupUploader,
    refused_blob,
    upload_request,
)
from tests.asgi import serve_in_process, settings_for
from tests.proxy import blobs_carried


def refusal(status: int, code: str, field: str | None = None) -> Reply:
    return Reply(status, {"error": {"code": code, "message": "no", "field": field}})


def test_a_lone_blob_is_a_put_and_several_are_one_post() -> None:
    assert upload_request("r1", [("ab", "image/png", b"x")]) == (
        "PUT", "/api/v1/runs/r1/blobs/ab", b"x", "image/png",
    )  # fmt: skip
    method, path, body, content_type = upload_request(
        "r1", [("ab", "image/png", b"x"), ("cd", "image/jpeg", b"yz")]
    )
    assert (method, path, content_type) == ("POST", "/api/v1/runs/r1/blobs", BLOBS_MIME)
    assert body.endswith(b"}\nxyz")


def test_a_group_takes_blobs_within_its_count_and_bytes_the_first_whatever_its_size() -> None:
    size = GroupSize(3)
    assert size.takes(0, 0, 2 * MAX_GROUP_BYTES)
    assert size.takes(2, 10, MAX_GROUP_BYTES - 10)
    assert not size.takes(2, 10, MAX_GROUP_BYTES)
    assert not size.takes(3, 10, 1)


def test_a_server_that_knows_no_grouped_upload_gets_one_put_a_blob_for_good() -> None:
    size = GroupSize(8)
    # An older server's guard refuses the body's type; a run it lost is not that.
    assert not size.answered(refusal(404, "run_not_found", "run"), 8) and size.now == 8
    assert size.answered(refusal(415, "unsupported_media_type"), 8)
    assert (size.most, size.now) == (1, 1)
    assert not size.answered(Reply(201, {}), 1) and size.now == 1


def test_a_group_refused_whole_is_halved_and_grows_back_one_refused_by_name_is_not() -> None:
    size = GroupSize(8)
    assert size.answered(refusal(413, "body_too_large"), 8) and size.now == 4
    assert size.answered(refusal(413, "body_too_large"), 4) and size.now == 2
    named = refusal(400, "hash_mismatch", "$.blobs[1].sha256")
    assert not size.answered(named, 2) and refused_blob(named, 2) == 1
    assert not size.answered(Reply(201, {}), 2) and size.now == 4
    assert not size.answered(Reply(503, {}), 4) and size.now == 4  # retried as it was
    assert refused_blob(Reply(503, {}), 4) is None
    assert refused_blob(refusal(400, "hash_mismatch", "path.sha256"), 1) == 0  # a PUT's
    assert refused_blob(refusal(400, "invalid_blobs", "$.blobs[9].size"), 4) is None


def test_a_group_past_the_servers_body_cap_goes_again_in_halves_each_blob_stored_once(
    tmp_path: Path,
) -> None:
    # 40 blobs of 6 KiB gathered into one group; the server takes 64 KiB a request at most.
    settings = settings_for(tmp_path / "data", max_body_bytes=64 * 1024)
    blobs = [b"\x89PNG\r\n\x1a\n" + os.urandom(6 * 1024) for _ in range(40)]
    hashes = [hashlib.sha256(data).hexdigest() for data in blobs]
    answers: list[tuple[int, tuple[str, ...]]] = []  # each request's status and blobs
    with serve_in_process(settings) as server, server.client() as c:
        assert c.post("/api/v1/runs", json={"id": "half01", "project": "p"}).status_code == 201

        def send(method: str, path: str, body: bytes, content_type: str) -> Reply:
            r = c.request(method, path, content=body, headers={"Content-Type": content_type})
            answers.append((r.status_code, blobs_carried(method, path, body) or ()))
            return Reply(r.status_code, r.json())

        uploader = GroupUploader(send, "half01")
        for sha256, data in zip(hashes, blobs, strict=True):
            uploader.add(sha256, "image/png", data)
        uploader.flush()
        media = [
            {"key": f"k{i}", "step": 0, "ts": 1.7e9, "sha256": sha256, "mime": "image/png",
             "width": 1, "height": 1}
            for i, sha256 in enumerate(hashes)
        ]  # fmt: skip
        batch = {"producer": "t", "batch_seq": 1, "media": media}
        taken = c.post("/api/v1/runs/half01/batches", json=batch)  # every blob is there
        assert taken.status_code == 200, taken.text
    assert answers[0] == (413, tuple(hashes))  # refused whole, naming no blob
    stored = [sha256 for status, carried in answers if status in (200, 201) for sha256 in carried]
    assert sorted(stored) == sorted(hashes)  # each by one request only
    assert {status for status, _ in answers} == {201, 413}
    assert uploader.sent == set(hashes)
