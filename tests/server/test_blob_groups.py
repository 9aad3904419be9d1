"""Grouped blob uploads (``POST …/blobs``) on each store: several blobs stored in one request,
idempotently, beside the one-blob PUT; every refusal a 4xx naming the blob's field, with nothing
of the request stored; the write scope of the run's project needed."""

from __future__ import annotations

import struct
from pathlib import Path

import httpx
import msgspec

from runwatch.protocol import BLOBS_MIME, encode_blobs
from runwatch.tokens import create
from tests.asgi import serve_in_process, settings_for
from tests.server.test_media_api import error, media, new_run, post, put, sha

HEAT = struct.pack("<4f", 0.0, 0.5, 1.0, 2.0)  # a 2x2 heatmap


def png(i: int) -> bytes:
    """A distinct PNG-signed body for each ``i``."""
    return b"\x89PNG\r\n\x1a\n" + i.to_bytes(4, "big") + bytes(20)


def blob(data: bytes, mime: str = "image/png") -> tuple[str, str, bytes]:
    return sha(data), mime, data


def upload(
    c: httpx.Client,
    run_id: str,
    blobs: list[tuple[str, str, bytes]],
    body: bytes | None = None,
    content_type: str = BLOBS_MIME,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return c.post(
        f"/api/v1/runs/{run_id}/blobs",
        content=encode_blobs(blobs) if body is None else body,
        headers={"Content-Type": content_type, **(headers or {})},
    )


def answer(r: httpx.Response) -> tuple[int, list[tuple[str, int, bool]]]:
    return r.status_code, [(b["sha256"], b["size"], b["new"]) for b in r.json()["blobs"]]


def test_blobs_go_up_together_idempotently_and_serve_like_put_ones(
    store_api: httpx.Client,
) -> None:
    c = store_api
    run_id = new_run(c)
    group = [blob(png(0)), blob(png(1)), blob(HEAT, "application/x-runwatch-f32")]
    assert answer(upload(c, run_id, group)) == (201, [(s, len(d), True) for s, _, d in group])
    assert answer(upload(c, run_id, group)) == (200, [(s, len(d), False) for s, _, d in group])
    # A known blob, a new one, and the new one again: stored once, new once.
    mixed = [group[0], blob(png(2)), blob(png(2))]
    assert [new for _, _, new in answer(upload(c, run_id, mixed))[1]] == [False, True, False]
    assert put(c, run_id, png(1)).json()["new"] is False  # a PUT finds a grouped blob
    heat = media("h", 0, HEAT, kind="heatmap", mime="application/x-runwatch-f32", width=2)
    assert post(c, run_id, 1, media=[media("k", 0, png(2)), heat]).status_code == 200
    for data in (png(2), HEAT):
        assert c.get(f"/api/v1/runs/{run_id}/blobs/{sha(data)}").content == data


def test_a_refused_group_names_the_blob_at_fault_and_stores_none_of_it(
    store_api: httpx.Client,
) -> None:
    c = store_api
    run_id = new_run(c)
    good = blob(png(10))
    manifest = msgspec.json.encode

    def body(*entries: dict[str, object], data: bytes = b"") -> bytes:
        return manifest({"blobs": list(entries)}) + b"\n" + data

    wrong_hash = (sha(b"other"), "image/png", png(11))
    assert error(upload(c, run_id, [good, wrong_hash])) == (
        400, "hash_mismatch", "$.blobs[1].sha256",
    )  # fmt: skip
    not_png = blob(b"not a png at all")
    assert error(upload(c, run_id, [good, not_png])) == (400, "invalid_blob", "$.blobs[1]")
    ragged = blob(b"\x00" * 6, "application/x-runwatch-f32")
    assert error(upload(c, run_id, [good, ragged])) == (400, "invalid_blob", "$.blobs[1]")
    odd_mime = body({"sha256": good[0], "mime": "image/png", "size": len(good[2])},
                    {"sha256": good[0], "mime": "text/plain", "size": 0}, data=good[2])  # fmt: skip
    assert error(upload(c, run_id, [], odd_mime)) == (400, "invalid_blobs", "$.blobs[1].mime")
    bad_sha = body({"sha256": "XYZ", "mime": "image/png", "size": 1}, data=b"x")
    assert error(upload(c, run_id, [], bad_sha)) == (400, "invalid_blobs", "$.blobs[0].sha256")
    too_long = encode_blobs([good]) + b"extra"
    assert error(upload(c, run_id, [], too_long)) == (400, "invalid_blobs", "$.blobs")
    assert error(upload(c, run_id, [], body())) == (400, "invalid_blobs", "$.blobs")
    many = [blob(struct.pack("<f", i), "application/x-runwatch-f32") for i in range(257)]
    assert error(upload(c, run_id, many)) == (400, "invalid_blobs", "$.blobs")
    assert error(upload(c, run_id, [], b'{"blobs": []}')) == (400, "invalid_blobs", "body")
    assert error(upload(c, run_id, [good, good], content_type="application/json")) == (
        400, "invalid_mime", "header.content-type",
    )  # fmt: skip
    plain = upload(c, run_id, [good, good], content_type="text/plain")
    assert error(plain)[:2] == (415, "unsupported_media_type")
    assert BLOBS_MIME in plain.json()["error"]["message"]
    huge = blob(b"\x89PNG\r\n\x1a\n" + bytes(8 * 2**20))
    assert error(upload(c, run_id, [good, huge])) == (413, "limit_exceeded", "$.blobs[1].size")
    six = [blob(b"\x89PNG\r\n\x1a\n" + bytes([i]) * 6 * 2**20) for i in range(3)]
    assert error(upload(c, run_id, six))[:2] == (413, "body_too_large")
    assert error(upload(c, "nosuchrun", [good, good])) == (404, "run_not_found", "run")
    assert put(c, run_id, good[2]).json()["new"] is True  # no refusal stored it


def test_grouped_uploads_need_a_write_token_of_the_runs_project(tmp_path: Path) -> None:
    data = tmp_path / "data"
    tokens = {scope: create(data, scope, None, None, scope)[0] for scope in ("read", "write")}
    tokens["other"] = create(data, "write", "elsewhere", None, "other project")[0]
    group = [blob(png(20)), blob(png(21))]
    with serve_in_process(settings_for(data)) as server, server.client() as c:

        def status(who: str | None) -> int:
            auth = {"Authorization": f"Bearer {tokens[who]}"} if who else {}
            return upload(c, run_id, group, headers=auth).status_code

        write = {"Authorization": f"Bearer {tokens['write']}"}
        run_id = c.post("/api/v1/runs", json={"project": "media"}, headers=write).json()["id"]
        assert [status(who) for who in (None, "read", "other", "write")] == [401, 403, 403, 201]


def test_the_grouped_upload_is_declared(store_api: httpx.Client) -> None:
    spec = store_api.get("/openapi.json").json()
    op = spec["paths"]["/api/v1/runs/{run_id}/blobs"]["post"]
    assert {"200", "201", "400", "401", "403", "404", "413", "415"} <= set(op["responses"])
    assert BLOBS_MIME in op["requestBody"]["content"]
    for field in ("hash_mismatch", "$.blobs[i].sha256", "invalid_blobs"):
        assert field in op["responses"]["400"]["description"]
    assert "$.blobs[i].size" in op["responses"]["413"]["description"]
    manifest = spec["components"]["schemas"]["BlobsIn"]["properties"]["blobs"]
    assert (manifest["minItems"], manifest["maxItems"]) == (1, 256)
