"""How many blobs an upload request carries (runwatch.sdk.uploads), answer by answer: the
group size the live sender and `runwatch sync` share."""

from __future__ import annotations

from runwatch.protocol import BLOBS_MIME
from runwatch.sdk.transport import Reply
from runwatch.sdk.uploads import MAX_GROUP_BYTES, GroupSize, refused_blob, upload_request


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
