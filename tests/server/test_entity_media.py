"""`GET /api/v1/runs/{run}/entities/{entity}/media`: the image keys and snapshot keys that name an
entity (``entity=`` when logged), on SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import time

import httpx

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))


def test_an_entity_lists_the_images_and_snapshots_that_name_it(store_api: httpx.Client) -> None:
    c = store_api
    run_id = c.post("/api/v1/runs", json={"project": "ent", "name": "e"}).json()["id"]
    digest = hashlib.sha256(PNG).hexdigest()
    put = c.put(
        f"/api/v1/runs/{run_id}/blobs/{digest}", content=PNG, headers={"Content-Type": "image/png"}
    )
    assert put.status_code in (200, 201), put.text
    now = time.time()

    def image(key: str, step: int, entity: object) -> dict[str, object]:
        return {"key": key, "step": step, "ts": now, "sha256": digest, "mime": "image/png",
                "width": 4, "height": 2, "entity": entity}  # fmt: skip

    def snapshot(key: str, step: int, entity: object, value: object) -> dict[str, object]:
        return {"key": key, "step": step, "ts": now, "value": value, "entity": entity}

    batch = {
        "producer": "p",
        "batch_seq": 1,
        "media": [
            image("footprint/47", 3, 47), image("footprint/47", 9, 47),
            image("crop", 5, 47), image("crop", 6, 48),  # a key showing several entities
            image("footprint/470", 3, 470), image("footprint/x", 3, "47x"),
        ],
        "snapshots": [
            snapshot("shape/47", 2, 47, [1, 2]), snapshot("shape/47", 4, 47, [5, 9]),
            snapshot("shape/48", 2, 48, [1]), snapshot("global", 2, None, [0]),
            snapshot("name/47", 2, "47", {"label": "<b>n</b>"}),
        ],
    }  # fmt: skip
    answer = c.post(f"/api/v1/runs/{run_id}/batches", json=batch)
    assert answer.status_code == 200, answer.text

    found = c.get(f"/api/v1/runs/{run_id}/entities/47/media").json()
    assert found["entity"] == "47"
    assert [(i["key"], i["count"], i["newest"]["step"]) for i in found["images"]] == [
        ("crop", 1, 5),
        ("footprint/47", 2, 9),
    ]
    assert found["images"][0]["newest"]["entity"] == 47
    assert found["images"][0]["newest"]["sha256"] == digest
    # Each newest item is what the key's own media routes answer for it, url included.
    for image in found["images"]:
        keys = c.get(f"/api/v1/runs/{run_id}/media", params={"limit": 1000}).json()["keys"]
        assert set(image["newest"]) == set(
            next(k for k in keys if k["key"] == image["key"])["newest"]
        )
        steps = c.get(f"/api/v1/runs/{run_id}/media/{image['key']}").json()["items"]
        assert image["newest"] == next(i for i in steps if i["step"] == image["newest"]["step"])
        assert image["newest"]["url"] == f"/api/v1/runs/{run_id}/blobs/{digest}"
    # "47" names both the integer 47 and the string "47".
    assert [(s["key"], s["versions"], s["last_step"]) for s in found["snapshots"]] == [
        ("name/47", 1, 2),
        ("shape/47", 2, 4),
    ]
    limited = c.get(f"/api/v1/runs/{run_id}/entities/47/media", params={"limit": 1}).json()
    assert [i["key"] for i in limited["images"]] == ["crop"]
    assert [s["key"] for s in limited["snapshots"]] == ["name/47"]
    none = c.get(f"/api/v1/runs/{run_id}/entities/99/media").json()
    assert none == {"entity": "99", "images": [], "snapshots": []}
    bad = c.get(f"/api/v1/runs/{run_id}/entities/47/media", params={"limit": 0})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "query.limit"
    missing = c.get("/api/v1/runs/nope/entities/47/media")
    assert missing.status_code == 404


def test_the_ages_of_an_entitys_keys_count_from_its_birth(store_api: httpx.Client) -> None:
    c = store_api
    run_id = c.post("/api/v1/runs", json={"project": "ent", "name": "ages"}).json()["id"]
    digest = hashlib.sha256(PNG).hexdigest()
    put = c.put(
        f"/api/v1/runs/{run_id}/blobs/{digest}", content=PNG, headers={"Content-Type": "image/png"}
    )
    assert put.status_code in (200, 201), put.text
    now = time.time()
    born = {"kind": "birth", "ts": now, "entity": 47, "step": 100}
    first = {"producer": "p", "batch_seq": 1, "events": [born]}
    assert c.post(f"/api/v1/runs/{run_id}/batches", json=first).status_code == 200
    steps = range(103, 141)
    # The same value every step: only the first version and the log-spaced ages are kept.
    snapshots = [
        {"key": key, "step": s, "ts": now, "value": [1.0], "entity": entity}
        for key, entity in (("shape/47", 47), ("shape/any", None), ("shape/48", 48))
        for s in steps
    ]
    media = [
        {"key": key, "step": s, "ts": now, "sha256": digest, "mime": "image/png", "width": 4,
         "height": 2, "entity": entity}
        for key, entity in (("footprint/47", 47), ("footprint/any", None))
        for s in steps
    ]  # fmt: skip
    batch = {"producer": "p", "batch_seq": 2, "snapshots": snapshots, "media": media}
    answer = c.post(f"/api/v1/runs/{run_id}/batches", json=batch)
    assert answer.status_code == 200, answer.text

    def kept(key: str) -> list[int]:
        versions = c.get(f"/api/v1/runs/{run_id}/snapshots/{key}").json()["versions"]
        return [v["step"] for v in versions]

    # Born at step 100: ages 4, 8, 16 and 32 after it; a key of no entity (or of an entity
    # with no recorded birth) counts from its own first step, 103.
    assert kept("shape/47") == [103, 104, 108, 116, 132]
    assert kept("shape/any") == [103, 104, 105, 107, 111, 119, 135]
    assert kept("shape/48") == kept("shape/any")

    def older_images(key: str) -> list[int]:
        items = c.get(f"/api/v1/runs/{run_id}/media/{key}", params={"limit": 100}).json()
        return [i["step"] for i in items["items"] if i["step"] < 109]  # past the newest 32

    assert older_images("footprint/47") == [103, 104, 108]
    assert older_images("footprint/any") == [103, 104, 105, 107]
