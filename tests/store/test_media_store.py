"""Media over steps in every store (tests/store/conftest.py): blobs stored once by SHA-256, each
image key's bounded history, the step index, and histograms thinned evenly."""

from __future__ import annotations

import hashlib
import itertools
import struct
import time

import msgspec
import pytest

from runwatch.protocol import Batch, HistogramIn, MediaIn, RunCreate
from runwatch.store import media_history
from runwatch.store.errors import BlobMissing, InvalidValue
from runwatch.store.prepare import BatchRejected, prepare_batch
from runwatch.store.sql import media as media_sql
from tests.store.aio import run
from tests.store.conftest import StoreMaker
from tests.store.test_store_contract import with_store

PNG = b"\x89PNG\r\n\x1a\n" + b"fake image body"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def image(key: str, step: int, data: bytes, **extra: object) -> MediaIn:
    fields: dict[str, object] = {"mime": "image/png", "width": 2, "height": 1, **extra}
    return msgspec.convert(
        {"key": key, "step": step, "ts": 1.0 + step, "sha256": sha(data), **fields}, MediaIn
    )


def test_blob_is_stored_once_and_served_only_through_runs_that_show_it(
    make_store: StoreMaker,
) -> None:
    async def work(store, committed):  # type: ignore[no-untyped-def]
        a = await store.create_run(RunCreate(project="p"))
        b = await store.create_run(RunCreate(project="q"))
        first = await store.put_blob(sha(PNG), "image/png", PNG)
        again = await store.put_blob(sha(PNG), "image/png", PNG)
        before = await store.blob(a.id, sha(PNG))  # uploaded, but no media row names it yet
        m = image("samples", 3, PNG, caption="epoch 3", entity=47)
        await store.ingest(a.id, prepare_batch(Batch("p", 1, media=[m])))
        return (first, again, before, await store.blob(a.id, sha(PNG)),
                await store.blob(b.id, sha(PNG)), await store.blob_mime(a.id, sha(PNG)),
                committed, a.id)  # fmt: skip

    first, again, before, served, other, mime, committed, run_id = run(with_store(make_store, work))
    assert (first, again, before) == (True, False, None)
    assert served == ("image/png", PNG) and other is None and mime == "image/png"
    bodies = [
        msgspec.json.decode(r.body) for c in committed if c.run_id == run_id for r in c.records
    ]
    live = [m for m in bodies if m.get("type") == "media"]
    assert live == [{
        "seq": live[0]["seq"], "type": "media", "key": "samples", "step": 3, "ts": 4.0,
        "kind": "image", "sha256": sha(PNG), "mime": "image/png", "size": len(PNG), "width": 2,
        "height": 1, "caption": "epoch 3", "entity": 47, "vmin": None, "vmax": None,
        "dropped": [],
    }]  # fmt: skip


def test_a_batch_naming_a_missing_blob_is_refused_whole(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        batch = Batch("p", 1, events=[], media=[image("k", 0, b"never uploaded")])
        with pytest.raises(BlobMissing) as caught:
            await store.ingest(r.id, prepare_batch(batch))
        after = await store.get_run(r.id)
        return caught.value, r.seq, after.seq, await store.media_keys(r.id, "", 10)

    error, seq_before, seq_after, keys = run(with_store(make_store, work))
    assert error.field == "$.media[0].sha256" and "upload it first" in error.message
    assert seq_after == seq_before and keys == []


def test_raw_heatmaps_must_hold_width_times_height_floats(make_store: StoreMaker) -> None:
    data = struct.pack("<6f", 0, 1, 2, 3, 4, 5)

    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        await store.put_blob(sha(data), "application/x-runwatch-f32", data)
        fine = image("h", 0, data, kind="heatmap", mime="application/x-runwatch-f32",
                     width=3, height=2, vmin=0.0, vmax=5.0)  # fmt: skip
        await store.ingest(r.id, prepare_batch(Batch("p", 1, media=[fine])))
        wrong = image("h", 1, data, kind="heatmap", mime="application/x-runwatch-f32",
                      width=4, height=2)  # fmt: skip
        with pytest.raises(InvalidValue) as caught:
            await store.ingest(r.id, prepare_batch(Batch("p", 2, media=[wrong])))
        as_png = image("h", 1, data, width=3, height=2)  # the f32 blob named as a PNG
        with pytest.raises(InvalidValue) as mime:
            await store.ingest(r.id, prepare_batch(Batch("p", 2, media=[as_png])))
        return caught.value, mime.value, await store.media_items(r.id, "h", None, 10)

    error, mime, items = run(with_store(make_store, work))
    assert error.field == "$.media[0].width" and mime.field == "$.media[0].mime"
    assert [(i["step"], i["vmin"], i["vmax"], i["kind"]) for i in items] == [
        (0, 0.0, 5.0, "heatmap")
    ]


def test_mime_must_fit_the_kind() -> None:
    wrong = image("h", 0, PNG, kind="heatmap")
    with pytest.raises(BatchRejected) as caught:
        prepare_batch(Batch("p", 1, media=[wrong]))
    assert caught.value.field == "$.media[0].mime"


def test_each_key_keeps_its_newest_steps_and_log_spaced_older_ones(make_store: StoreMaker) -> None:
    blobs = [bytes([i % 7]) * 10 for i in range(7)]

    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        for data in blobs:
            await store.put_blob(sha(data), "image/png", data)
        for start in range(0, 300, 100):
            media = [image("k", s, blobs[s % 7]) for s in range(start, start + 100)]
            await store.ingest(r.id, prepare_batch(Batch("p", start + 1, media=media)))
        items = await store.media_items(r.id, "k", None, 1000)
        page = await store.media_items(r.id, "k", 100, 3)
        keys = await store.media_keys(r.id, "", 10)
        await store.ingest(r.id, prepare_batch(Batch("p", 999, media=[image("Z", 1, blobs[0])])))
        pages = [await store.media_keys(r.id, after, 1) for after in ("", "Z", "k")]
        near = await store.media_nearest(r.id, "k", 200)
        nothing = await store.media_nearest(r.id, "missing", 5)
        state = await store.state(r.id, 10, 10)
        return items, page, keys, near, nothing, state, pages

    items, page, keys, near, nothing, state, pages = run(with_store(make_store, work))
    assert [[k["key"] for k in p] for p in pages] == [["Z"], ["k"], []]  # code-point order
    steps = [i["step"] for i in items]
    newest = list(range(300 - media_history.MEDIA_NEWEST, 300))
    assert steps == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, *newest]
    assert [i["step"] for i in page] == [128, 256, 268]
    assert keys == [{"key": "k", "kind": "image", "count": len(steps), "first_step": 0,
                     "last_step": 299, "prev_step": 298, "newest": items[-1]}]  # fmt: skip
    assert [k["prev_step"] for p in pages for k in p] == [None, 298]  # "Z" keeps one step
    assert near is not None and near["item"]["step"] == 256  # 200 is nearer 256 than 128
    assert (near["prev"], near["next"]) == (128, 268)
    assert nothing is None
    assert state.media == {"Z": 1, "k": len(steps)}


def test_histograms_are_thinned_evenly_past_their_cap(
    make_store: StoreMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(media_history, "HISTOGRAM_CAP", 40)
    monkeypatch.setattr(media_history, "HISTOGRAM_NEWEST", 8)

    def hist(step: int) -> HistogramIn:
        return HistogramIn("w", step, 1.0, edges=[0.0, 1.0, 2.0], counts=[step, 1], nan=2, inf=1)

    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        await store.ingest(
            r.id, prepare_batch(Batch("p", 1, histograms=[hist(s) for s in range(100)]))
        )
        whole = await store.histograms(r.id, "w", None, None, 10_000)
        few = await store.histograms(r.id, "w", 10, 60, 3)
        missing = await store.histograms(r.id, "nope", None, None, 10)
        return whole, few, missing, await store.state(r.id, 10, 10)

    whole, few, missing, state = run(with_store(make_store, work))
    steps = [s["step"] for s in whole["steps"]]
    assert len(steps) <= 40 and steps[-8:] == list(range(92, 100)) and steps[0] == 0
    older = steps[:-8]
    strides = {b - a for a, b in itertools.pairwise(older)}
    assert len(strides) == 1  # evenly spaced
    assert state.histograms == {"w": len(steps)}
    first = whole["steps"][0]
    assert (first["edges"], first["counts"], first["nan"], first["inf"], first["neg_inf"]) == (
        [0.0, 1.0, 2.0], [0, 1], 2, 1, 0,
    )  # fmt: skip
    assert first["percentiles"][0] == 1.0 and first["percentiles"][-1] == 2.0
    assert few["steps"][0]["step"] >= 10 and len(few["steps"]) == 3
    assert few["steps"][-1]["step"] <= 60
    assert missing is None


def test_histogram_edges_and_bins_are_checked() -> None:
    bad = [
        (HistogramIn("w", 0, 1.0, edges=[0.0, 1.0], counts=[1, 2]), "$.histograms[0].edges"),
        (HistogramIn("w", 0, 1.0, edges=[1.0, 0.0], counts=[1]), "$.histograms[0].edges"),
        (HistogramIn("w", 0, 1.0, edges=[0.0], counts=[]), "$.histograms[0].counts"),
    ]
    for h, field in bad:
        with pytest.raises(BatchRejected) as caught:
            prepare_batch(Batch("p", 1, histograms=[h]))
        assert caught.value.field == field


def test_percentiles_interpolate_inside_bins() -> None:
    edges, counts = [0.0, 10.0, 20.0, 30.0], [0, 10, 0]
    values = media_history.percentiles(edges, counts)
    assert values[0] == 10.0 and values[4] == 15.0 and values[-1] == 20.0
    assert media_history.percentiles([0.0, 1.0], [0]) == [None] * len(media_history.PERCENTILES)


def test_the_retention_sweep_deletes_blobs_no_image_names_after_the_grace(
    make_store: StoreMaker,
) -> None:
    orphan = b"\x89PNG\r\n\x1a\nnever named"

    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        await store.put_blob(sha(PNG), "image/png", PNG)
        await store.put_blob(sha(orphan), "image/png", orphan)
        await store.ingest(r.id, prepare_batch(Batch("p", 1, media=[image("k", 0, PNG)])))
        now = time.time()
        await store.apply_retention(now)  # within the grace: both stay
        kept_early = await store.put_blob(sha(orphan), "image/png", orphan)
        await store.apply_retention(now + media_sql.BLOB_GRACE + 60)
        return (
            kept_early,
            await store.blob(r.id, sha(PNG)),
            await store.put_blob(sha(orphan), "image/png", orphan),
        )

    kept_early, named, orphan_new = run(with_store(make_store, work))
    assert kept_early is False  # still stored after the first sweep
    assert named == ("image/png", PNG)  # an image names it: never swept
    assert orphan_new is True  # swept: uploading it again stores it anew


def test_a_group_of_blobs_is_stored_once_each(make_store: StoreMaker) -> None:
    heat = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)
    pngs = [PNG + bytes([i]) for i in range(3)]

    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        first = await store.put_blobs(
            [(sha(pngs[0]), "image/png", pngs[0]), (sha(heat), "application/x-runwatch-f32", heat),
             (sha(pngs[0]), "image/png", pngs[0])]
        )  # fmt: skip
        again = await store.put_blobs([(sha(p), "image/png", p) for p in pngs])
        single = await store.put_blob(sha(pngs[2]), "image/png", pngs[2])
        heatmap = image("h", 0, heat, kind="heatmap", mime="application/x-runwatch-f32", height=2)
        batch = Batch("p", 1, media=[image("k", 0, pngs[1]), heatmap])
        await store.ingest(r.id, prepare_batch(batch))
        served = [await store.blob(r.id, sha(d)) for d in (pngs[1], heat)]
        return first, again, single, served

    first, again, single, served = run(with_store(make_store, work))
    assert first == [True, True, False]  # the same hash twice in one group: new once
    assert again == [False, True, True] and single is False
    assert served == [("image/png", pngs[1]), ("application/x-runwatch-f32", heat)]
