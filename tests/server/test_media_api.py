"""Media over steps through the app (tests.asgi): blob upload and caching, the step index,
histograms, and every refusal a 4xx naming its field, declared in OpenAPI."""

from __future__ import annotations

import hashlib
import struct
import time

import httpx

from tests.asgi import InProcessServer

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def new_run(c: httpx.Client, project: str = "media") -> str:
    r = c.post("/api/v1/runs", json={"project": project})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def put(
    c: httpx.Client, run_id: str, data: bytes, mime: str = "image/png", digest: str | None = None
) -> httpx.Response:
    return c.put(
        f"/api/v1/runs/{run_id}/blobs/{digest or sha(data)}",
        content=data,
        headers={"Content-Type": mime},
    )


def media(key: str, step: int, data: bytes, **more: object) -> dict[str, object]:
    return {"key": key, "step": step, "ts": time.time(), "sha256": sha(data), "mime": "image/png",
            "width": 4, "height": 2, **more}  # fmt: skip


def post(c: httpx.Client, run_id: str, seq: int, **batch: object) -> httpx.Response:
    return c.post(
        f"/api/v1/runs/{run_id}/batches", json={"producer": "t", "batch_seq": seq, **batch}
    )


def error(r: httpx.Response) -> tuple[int, str, str | None]:
    e = r.json()["error"]
    return r.status_code, e["code"], e["field"]


def test_upload_is_idempotent_and_checked(app_server: InProcessServer) -> None:
    with app_server.client() as c:
        run_id = new_run(c)
        first, again = put(c, run_id, PNG), put(c, run_id, PNG)
        assert (first.status_code, first.json()) == (
            201,
            {"sha256": sha(PNG), "size": len(PNG), "new": True},
        )
        assert (again.status_code, again.json()["new"]) == (200, False)
        assert error(put(c, run_id, PNG, digest=sha(b"other"))) == (
            400,
            "hash_mismatch",
            "path.sha256",
        )
        wrong = put(c, run_id, PNG, mime="text/plain")
        assert error(wrong)[:2] == (415, "unsupported_media_type")
        # It names the image types, not JSON, which an image blob may not be.
        assert wrong.json()["error"]["message"] == (
            "send the image as Content-Type: application/x-runwatch-f32,"
            " application/x-runwatch-i32, image/jpeg or image/png"
        )
        as_json = put(c, run_id, PNG, mime="application/json")
        assert error(as_json) == (400, "invalid_mime", "header.content-type")
        assert error(put(c, run_id, b"not a png")) == (400, "invalid_blob", "body")
        assert error(put(c, run_id, b"\x00" * 6, mime="application/x-runwatch-f32")) == (
            400,
            "invalid_blob",
            "body",
        )
        assert put(c, run_id, PNG, digest="XYZ").status_code == 400
        huge = b"\x89PNG\r\n\x1a\n" + bytes(8 * 2**20)
        too_big = put(c, run_id, huge)
        assert error(too_big) == (413, "limit_exceeded", "body")
        assert "max_image_bytes=8388608" in too_big.json()["error"]["message"]
        assert error(put(c, "nosuchrun", PNG)) == (404, "run_not_found", "run")


def test_a_batch_naming_a_blob_not_uploaded_is_a_409(app_server: InProcessServer) -> None:
    with app_server.client() as c:
        run_id = new_run(c)
        r = post(c, run_id, 1, media=[media("k", 0, b"never uploaded")])
        assert error(r) == (409, "blob_missing", "$.media[0].sha256")
        put(c, run_id, PNG)
        heat = media("k", 0, PNG, kind="heatmap")
        assert error(post(c, run_id, 1, media=[heat])) == (400, "invalid_batch", "$.media[0].mime")
        assert post(c, run_id, 1, media=[media("k", 0, PNG)]).status_code == 200


def test_images_are_indexed_by_step_and_served_cached(app_server: InProcessServer) -> None:
    labels = struct.pack("<8i", 0, 5, 5, 6, 0, 0, 6, 6)
    with app_server.client() as c:
        run_id, other = new_run(c), new_run(c)
        put(c, run_id, PNG)
        put(c, run_id, labels, mime="application/x-runwatch-i32")
        items = [media("samples/rec", s, PNG, caption=f"step {s}") for s in range(0, 50, 10)]
        seg = media("seg", 3, labels, kind="labels", mime="application/x-runwatch-i32")
        assert post(c, run_id, 1, media=[*items, seg]).status_code == 200

        keys = c.get(f"/api/v1/runs/{run_id}/media").json()
        assert [(k["key"], k["kind"], k["count"], k["last_step"]) for k in keys["keys"]] == [
            ("samples/rec", "image", 5, 40), ("seg", "labels", 1, 3),
        ]  # fmt: skip
        newest = keys["keys"][0]["newest"]
        assert (
            newest["caption"] == "step 40"
            and newest["url"] == f"/api/v1/runs/{run_id}/blobs/{sha(PNG)}"
        )
        paged = c.get(f"/api/v1/runs/{run_id}/media", params={"limit": 1}).json()
        assert [k["key"] for k in paged["keys"]] == ["samples/rec"] and paged[
            "next_after"
        ] == "samples/rec"
        rest = c.get(f"/api/v1/runs/{run_id}/media", params={"after": "samples/rec"}).json()
        assert [k["key"] for k in rest["keys"]] == ["seg"] and rest["next_after"] is None

        page = c.get(
            f"/api/v1/runs/{run_id}/media/samples/rec", params={"after": 0, "limit": 2}
        ).json()
        assert [i["step"] for i in page["items"]] == [10, 20] and page["next_after"] == 20
        near = c.get(f"/api/v1/runs/{run_id}/media/samples/rec", params={"step": 26}).json()
        assert (near["item"]["step"], near["prev"], near["next"]) == (30, 20, 40)
        assert error(c.get(f"/api/v1/runs/{run_id}/media/nokey")) == (404, "media_not_found", "key")
        assert (
            error(c.get(f"/api/v1/runs/{run_id}/media/nokey", params={"step": 1}))[1]
            == "media_not_found"
        )
        assert c.get(f"/api/v1/runs/{run_id}/media/seg", params={"limit": 0}).status_code == 400

        url = f"/api/v1/runs/{run_id}/blobs/{sha(PNG)}"
        got = c.get(url)
        assert got.status_code == 200 and got.content == PNG
        assert got.headers["content-type"] == "image/png"
        assert got.headers["etag"] == f'"{sha(PNG)}"'
        assert got.headers["cache-control"] == "public, max-age=31536000, immutable"
        cached = c.get(url, headers={"If-None-Match": got.headers["etag"]})
        assert cached.status_code == 304 and cached.content == b""
        raw = c.get(f"/api/v1/runs/{run_id}/blobs/{sha(labels)}")
        assert raw.headers["content-type"] == "application/x-runwatch-i32" and raw.content == labels
        # Another run that never showed the image does not serve it.
        assert error(c.get(f"/api/v1/runs/{other}/blobs/{sha(PNG)}")) == (
            404,
            "blob_not_found",
            "sha256",
        )
        state = c.get(f"/api/v1/runs/{run_id}/state").json()
        assert state["media"] == {"samples/rec": 5, "seg": 1}


def test_histograms_over_steps(app_server: InProcessServer) -> None:
    with app_server.client() as c:
        run_id = new_run(c)
        hists = [
            {"key": "w/fc1", "step": s, "ts": time.time(), "edges": [0.0, 1.0, 2.0, 3.0],
             "counts": [1, 2, 1], "nan": s % 2, "inf": 0, "neg_inf": 1}
            for s in range(100)
        ]  # fmt: skip
        assert post(c, run_id, 1, histograms=hists).status_code == 200
        got = c.get(f"/api/v1/runs/{run_id}/histograms/w/fc1", params={"max_steps": 10}).json()
        assert got["steps"][0]["step"] == 0 and got["steps"][-1]["step"] == 99
        assert len(got["steps"]) == 10 and got["in_range"] == 100
        one = got["steps"][0]
        assert (one["counts"], one["nan"], one["neg_inf"]) == ([1, 2, 1], 0, 1)
        assert (
            one["percentiles"][0] == 0.0
            and one["percentiles"][4] == 1.5
            and one["percentiles"][-1] == 3.0
        )
        part = c.get(
            f"/api/v1/runs/{run_id}/histograms/w/fc1", params={"start": 10, "end": 12}
        ).json()
        assert [s["step"] for s in part["steps"]] == [10, 11, 12]
        assert error(c.get(f"/api/v1/runs/{run_id}/histograms/nokey")) == (
            404,
            "histogram_not_found",
            "key",
        )
        bad = dict(hists[0], edges=[0.0, 1.0])
        assert error(post(c, run_id, 2, histograms=[bad])) == (
            400,
            "invalid_batch",
            "$.histograms[0].edges",
        )
        over = dict(hists[0], edges=[float(i) for i in range(1100)], counts=[1] * 1099)
        assert error(post(c, run_id, 2, histograms=[over])) == (
            422,
            "limit_exceeded",
            "$.histograms[0].counts",
        )
        assert c.get(f"/api/v1/runs/{run_id}/state").json()["histograms"] == {"w/fc1": 100}
        listed = c.get(f"/api/v1/runs/{run_id}/histograms").json()
        assert listed == {"keys": {"w/fc1": 100}}


def test_media_routes_and_refusals_are_declared(app_server: InProcessServer) -> None:
    with app_server.client() as c:
        spec = c.get("/openapi.json").json()
    paths = spec["paths"]
    put_op = paths["/api/v1/runs/{run_id}/blobs/{sha256}"]["put"]
    assert {"200", "201", "400", "401", "403", "404", "413", "415"} <= set(put_op["responses"])
    assert "max_image_bytes" in put_op["responses"]["413"]["description"]
    assert "image/png" in put_op["requestBody"]["content"]
    get_op = paths["/api/v1/runs/{run_id}/blobs/{sha256}"]["get"]
    assert {"200", "304", "400", "404"} <= set(get_op["responses"])
    assert "image/png" in get_op["responses"]["200"]["content"]
    for path in ("/api/v1/runs/{run_id}/media", "/api/v1/runs/{run_id}/media/{key}",
                 "/api/v1/runs/{run_id}/histograms/{key}"):  # fmt: skip
        assert {"400", "404"} <= set(paths[path]["get"]["responses"]), path
    batch_409 = paths["/api/v1/runs/{run_id}/batches"]["post"]["responses"]["409"]["description"]
    assert "blob_missing" in batch_409
    limits = spec["components"]["schemas"]["Batch"]["x-runwatch-limits"]
    assert limits["max_image_bytes"] == 8 * 2**20 and limits["max_histogram_bins"] == 1024
