"""The Store contract, part two: each capability behaves the same on every backend."""

from __future__ import annotations

import time
from typing import Any

import pytest

from runwatch.protocol import (
    Batch,
    CommandResult,
    EventIn,
    LogLine,
    PointRow,
    PointSetIn,
    Retention,
    RunCreate,
    SnapshotIn,
    StatusIn,
    TableIn,
)
from runwatch.store.errors import Conflict, RunFinished, RunNotFound
from runwatch.store.prepare import prepare_batch
from tests.store.aio import run
from tests.store.conftest import StoreMaker
from tests.store.test_store_contract import batch, with_store


def ingest(store: Any, run_id: str, seq: int, **parts: Any) -> Any:
    return store.ingest(run_id, prepare_batch(Batch("p", seq, **parts)))


def test_entity_index_matches_ints_and_their_text(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        events = [
            EventIn(kind="birth", ts=1.0, entity=47, payload={"size": 12}),
            EventIn(kind="birth", ts=2.0, entity="47", payload={}),
            EventIn(kind="merge", ts=3.0, entity="cell/a", payload={"into": 47}),
            EventIn(kind="split", ts=4.0, entity=48),
            EventIn(kind="reject", ts=5.0, entity=47, level="warning"),
        ]
        await ingest(store, r.id, 1, events=events)
        return (
            await store.entity_events(r.id, "47", 100),
            await store.entity_events(r.id, "047", 100),
            await store.entity_events(r.id, "cell/a", 100),
            await store.events(r.id, kind="birth"),
            await store.events(r.id, after=3, limit=2),
            await store.events(r.id, limit=2, newest_first=True),
        )

    by_47, by_047, by_cell, births, page, newest = run(with_store(make_store, work))
    assert [(e.kind, e.entity) for e in by_47] == [("birth", 47), ("birth", "47"), ("reject", 47)]
    assert [e.entity for e in by_047] == [47, 47]
    assert by_47[0].payload == {"size": 12} and by_47[2].level == "warning"
    assert [(e.kind, e.payload) for e in by_cell] == [("merge", {"into": 47})]
    assert [e.seq for e in births] == [2, 3]
    assert [e.seq for e in page] == [4, 5]
    assert [e.seq for e in newest] == [6, 5]


def test_snapshot_history_keeps_log_spaced_versions(make_store: StoreMaker) -> None:
    async def work(store, committed):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        for step in range(20):
            snap = SnapshotIn(key="neuron/3", step=step, ts=float(step), value={"w": [1, 2]})
            await ingest(store, r.id, step + 1, snapshots=[snap])
        versions = await store.snapshot_versions(r.id, "neuron/3")
        latest = await store.snapshot_value(r.id, "neuron/3", None)
        second = await store.snapshot_value(r.id, "neuron/3", versions[1]["version"])
        with pytest.raises(KeyError):
            await store.snapshot_value(r.id, "nothing", None)
        state = await store.state(r.id, 100, 10)
        return versions, latest, second, state, committed

    versions, latest, second, state, committed = run(with_store(make_store, work))
    assert [(v["step"], v["reason"]) for v in versions] == [
        (0, "first"), (1, "age"), (2, "age"), (4, "age"), (8, "age"), (16, "age"),
    ]  # fmt: skip
    assert latest["step"] == 16 and latest["value"] == {"w": [1, 2]}
    assert second["step"] == 1 and second["reason"] == "age"
    assert state.snapshots == {"neuron/3": 6}
    kinds = [r.body for c in committed for r in c.records if b'"snapshot"' in r.body]
    assert len(kinds) == 6


def test_tables_and_point_sets_replace_append_and_cap(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        await ingest(store, r.id, 1, tables=[TableIn("board", [{"a": 1}, {"a": 2}])])
        await ingest(store, r.id, 2, tables=[TableIn("board", [{"a": 3}])])
        for i in range(3):
            rows = [{"i": i, "j": j} for j in range(2)]
            await ingest(store, r.id, 3 + i, tables=[TableIn("log", rows, "append", 5)])
        await ingest(store, r.id, 6, point_sets=[PointSetIn("emb", [{"x": 1, "y": 2}])])
        pts = [{"x": i, "y": -i} for i in range(4)]
        await ingest(store, r.id, 7, point_sets=[PointSetIn("fifo", pts, replace=False, cap=3)])
        await ingest(store, r.id, 8, point_sets=[PointSetIn("fifo", pts[:2], False, cap=3)])
        return await store.sticky(r.id, "tables"), await store.sticky(r.id, "point_sets")

    tables, point_sets = run(with_store(make_store, work))
    assert tables["board"] == {"version": 2, "rows": [{"a": 3}]}
    assert tables["log"]["version"] == 3
    assert tables["log"]["rows"] == [{"i": 0, "j": 1}] + [
        {"i": i, "j": j} for i in (1, 2) for j in (0, 1)
    ]
    assert point_sets["emb"] == {"version": 1, "points": [{"x": 1, "y": 2}]}
    assert point_sets["fifo"]["points"] == [{"x": 3, "y": -3}, {"x": 0, "y": 0}, {"x": 1, "y": -1}]


def test_logs_artifacts_and_vitals(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        lines = [
            LogLine("stdout" if i % 2 else "stderr", float(i), f"line {i} ü") for i in range(6)
        ]
        await ingest(store, r.id, 1, logs=lines[:4])
        await ingest(store, r.id, 2, logs=lines[4:])
        manifest = [{"kind": "checkpoint", "path": "ckpt/1.pt", "size": 10}]
        await ingest(store, r.id, 3, manifests=[[{"kind": "file", "path": "a"}], manifest])
        rows = [PointRow(s, 1000.0 + s, {"sys/cpu": float(s), "loss": 1.0}) for s in range(10)]
        await ingest(store, r.id, 4, points=rows, vitals=["sys/cpu", "sys/cpu"])
        await ingest(store, r.id, 5, vitals=["sys/cpu", "gpu/mem"])
        return (
            await store.logs(r.id, 0, None, 100),
            await store.logs(r.id, 2, "stdout", 100),
            await store.artifacts(r.id),
            await store.get_run(r.id),
            await store.state(r.id, 100, 10),
            await store.artifacts("nope"),
        )

    all_lines, stdout, artifacts, info, state, none = run(with_store(make_store, work))
    assert [x["line"] for x in all_lines] == [1, 2, 3, 4, 5, 6]
    assert all_lines[0] == {"line": 1, "stream": "stderr", "ts": 0.0, "text": "line 0 ü"}
    assert [x["line"] for x in stdout] == [4, 6]
    assert artifacts == [{"kind": "checkpoint", "path": "ckpt/1.pt", "size": 10}]
    assert none == []
    assert info.vitals == ["sys/cpu", "gpu/mem"]
    assert state.vitals["sys/cpu"].value == [float(s) for s in range(10)]
    assert list(state.metrics) == ["loss", "sys/cpu"]


def test_heartbeats_crash_and_resume(make_store: StoreMaker) -> None:
    async def work(store, committed):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p", heartbeat=1.0))
        quiet = await store.sweep_crashed(time.time())
        crashed = await store.sweep_crashed(time.time() + 10)
        again = await store.sweep_crashed(time.time() + 10)
        mid = await store.get_run(r.id)
        back = await store.heartbeat(r.id)
        await store.sweep_crashed(time.time() + 20)  # crashed again, then a batch revives it
        await store.ingest(r.id, prepare_batch(batch(1, [(0, {"x": 1.0})])))
        with pytest.raises(RunNotFound) as missing:
            await store.heartbeat("nope")
        return (
            r,
            quiet,
            crashed,
            again,
            mid,
            back,
            await store.get_run(r.id),
            missing.value,
            (await store.events(r.id)),
        )

    r, quiet, crashed, again, mid, back, final, missing, events = run(with_store(make_store, work))
    assert quiet == [] and crashed == [r.id] and again == []
    assert mid.status == "crashed" and "no heartbeat" in mid.error
    assert back.status == "running" and back.error is None
    assert final.status == "running" and missing.field == "run"
    assert [(e.kind, e.payload.get("state")) for e in events] == [
        ("status", "running"), ("status", "crashed"), ("heartbeat.resumed", None),
        ("status", "running"), ("status", "crashed"), ("heartbeat.resumed", None),
        ("status", "running"),
    ]  # fmt: skip
    assert [e.seq for e in events] == list(range(1, 8))


def test_commands_move_forward_only(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        a, _ = await store.add_command(r.id, "set", {"lr": 0.1})
        b, _ = await store.add_command(r.id, "cancel", {})
        first = await store.deliver_commands(r.id, 0)
        again = await store.deliver_commands(r.id, 1)
        results = [CommandResult(a.id, "applied"), CommandResult(b.id, "failed", "busy")]
        await ingest(store, r.id, 1, commands=results)
        await ingest(store, r.id, 2, commands=[CommandResult(a.id, "failed")])  # too late
        listed = await store.list_commands(r.id)
        await ingest(store, r.id, 3, status=StatusIn(state="succeeded", ts=time.time()))
        with pytest.raises(RunFinished) as finished:
            await store.add_command(r.id, "cancel", {})
        return a, b, first, again, listed, finished.value, await store.deliver_commands(r.id, 0)

    a, b, first, again, listed, finished, left = run(with_store(make_store, work))
    assert (a.id, b.id) == (1, 2) and a.state == "pending"
    assert [(c.id, c.state) for c in first] == [(1, "delivered"), (2, "delivered")]
    assert [c.id for c in again] == [2]
    assert [(c.id, c.state, c.error) for c in listed] == [
        (2, "failed", "busy"),
        (1, "applied", None),
    ]
    assert listed[1].payload == {"lr": 0.1}
    assert finished.code == "run_finished" and left == []


def test_promotions_only_of_succeeded_runs(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="proj", name="best"))
        with pytest.raises(Conflict) as refused:
            await store.promote(r.id, "prod", None, "0" * 64, {})
        await ingest(store, r.id, 1, status=StatusIn(state="succeeded", ts=time.time()))
        p = await store.promote(r.id, "prod", "ckpt/9.pt", "a" * 64, {"acc": 0.9})
        q = await store.promote(r.id, "prod2", None, "b" * 64, {})
        return refused.value, p, q, await store.list_promoted(), await store.events(r.id)

    refused, p, q, listed, events = run(with_store(make_store, work))
    assert refused.code == "not_promotable" and "this run is running" in refused.message
    assert (p.run_name, p.project, p.artifact, p.detail) == (
        "best",
        "proj",
        "ckpt/9.pt",
        {"acc": 0.9},
    )
    assert [x.id for x in listed] == [q.id, p.id] and q.id > p.id
    assert events[-1].kind == "promoted" and events[-1].payload["sha256"] == "b" * 64


def test_tokens_are_found_listed_revoked_and_expire(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        none_yet = await store.tokens_created()
        a = await store.add_token("h1", "rw_abc", "ci", "write", "proj", None)
        await store.add_token("h2", "rw_def", None, "read", None, time.time() - 1)  # expired
        counted = await store.count_tokens()
        found, absent = await store.find_token("h1"), await store.find_token("zz")
        revoked = await store.revoke_token(a.id)
        twice = await store.revoke_token(a.id)
        return (
            a,
            counted,
            found,
            absent,
            revoked,
            twice,
            await store.list_tokens(),
            (await store.count_tokens(), none_yet, await store.tokens_created()),
        )

    a, counted, found, absent, revoked, twice, listed, ever = run(with_store(make_store, work))
    after, none_yet, created = ever
    assert (a.prefix, a.name, a.scope, a.project, a.revoked_at) == (
        "rw_abc",
        "ci",
        "write",
        "proj",
        None,
    )
    assert counted == 1 and found == a and absent is None
    assert revoked and not twice and after == 0
    assert not none_yet and created  # revoked and expired, yet created: the server stays closed
    assert [t.prefix for t in listed] == ["rw_abc", "rw_def"] and listed[0].revoked_at is not None


def test_retention_drops_raw_and_the_pyramid_answers(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="keep-little"))
        other = await store.create_run(RunCreate(project="keep-all"))
        for i in range(3):
            rows = [(s, {"v": float(s)}) for s in range(i * 5000, (i + 1) * 5000)]
            await store.ingest(r.id, prepare_batch(batch(i + 1, rows)))
            await store.ingest(other.id, prepare_batch(batch(i + 1, rows)))
        dropped = await store.set_retention("keep-little", Retention(raw_keep_steps=4000))
        rule = await store.get_retention("keep-little")
        default = await store.get_retention("keep-all")
        recent = await store.metrics(r.id, ["v"], 12_000, 14_999, 10_000, "step")
        whole = await store.metrics(r.id, ["v"], None, None, 50, "step")
        kept = await store.metrics(other.id, ["v"], None, None, 20_000, "step")
        later = await store.apply_retention(time.time())
        return dropped, rule, default, recent, whole, kept, later

    dropped, rule, default, recent, whole, kept, later = run(with_store(make_store, work))
    assert dropped >= 1 and later == 0
    assert rule == Retention(raw_keep_steps=4000) and default == Retention()
    assert recent.series["v"].x == list(range(12_000, 15_000))
    assert sum(whole.series["v"].count) == 15_000 and min(whole.series["v"].min) == 0.0
    assert len(kept.series["v"].x) == 15_000


def test_runs_and_projects_are_listed_and_filtered(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        a = await store.create_run(RunCreate(project="b-proj", tags=["x", "y"], group="g"))
        b = await store.create_run(RunCreate(project="a-proj", tags=["y"]))
        await ingest(store, b.id, 1, status=StatusIn(state="succeeded", ts=time.time()))
        return (
            a,
            await store.list_runs(),
            await store.list_runs(project="b-proj"),
            await store.list_runs(status="succeeded"),
            await store.list_runs(tag="x"),
            await store.list_projects(),
            await store.get_run("nope"),
            await store.state("nope", 10, 10),
        )

    a, everything, by_project, done, tagged, projects, none, no_state = run(
        with_store(make_store, work)
    )
    assert len(everything) == 2 and everything[0].project == "a-proj"  # newest first
    assert [r.id for r in by_project] == [a.id] and by_project[0].group == "g"
    assert [r.project for r in done] == ["a-proj"] and [r.id for r in tagged] == [a.id]
    assert [(p.name, p.runs, p.running) for p in projects] == [("a-proj", 1, 0), ("b-proj", 1, 1)]
    assert none is None and no_state is None


def test_hydration_state_is_current_to_its_seq(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p", config={"a": [1, 2]}))
        rows = [(s, {"loss": 1.0 / (s + 1), "acc": s / 100}) for s in range(3000)]
        await store.ingest(r.id, prepare_batch(batch(1, rows, events=3)))
        await ingest(store, r.id, 2, tables=[TableIn("t", [{"k": 1}])])
        state = await store.state(r.id, 100, 2)
        replayed = await store.replay(r.id, state.seq - 1, 100)
        return state, replayed, await store.metric_keys(r.id)

    state, replayed, keys = run(with_store(make_store, work))
    assert state.seq == state.run.seq == 6 and [rec.seq for rec in replayed] == [6]
    assert keys == ["acc", "loss"] and state.run.config == {"a": [1, 2]}
    assert state.metrics["loss"].mode == "buckets" and sum(state.metrics["loss"].count) == 3000
    assert [e.seq for e in state.events] == [5, 4]
    assert state.tables == {"t": {"version": 1, "rows": [{"k": 1}]}}


def test_tails_read_only_as_many_chunks_as_needed(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        for i in range(12):  # each batch comes before the last: 12 chunks of 10 points
            rows = [(s, {"v": float(s)}) for s in range(1000 - 10 * (i + 1), 1000 - 10 * i)]
            await store.ingest(r.id, prepare_batch(batch(i + 1, rows)))
        return await store.tails(r.id, ["v", "absent"], 100), await store.tails(r.id, ["v"], 1000)

    some, every = run(with_store(make_store, work))
    assert some["v"].x == list(range(900, 1000)) and "absent" not in some
    assert every["v"].x == list(range(880, 1000))
    assert every["v"].value == [float(s) for s in range(880, 1000)]


def test_each_producers_artifacts_stand_beside_the_others(make_store: StoreMaker) -> None:
    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))

        async def send(producer: str, seq: int, manifest: list[dict[str, Any]]) -> None:
            batch = Batch(producer, seq, manifests=[manifest])
            await store.ingest(r.id, prepare_batch(batch))

        await send("launcher", 1, [{"kind": "file", "path": "a"}])
        await send("wandb-shim", 1, [{"kind": "model", "path": "model.pt:v0/model.pt"}])
        await send("launcher", 2, [{"kind": "file", "path": "a"}, {"kind": "file", "path": "b"}])
        both = await store.artifacts(r.id)
        await send("launcher", 3, [])  # the scan found nothing now: the shim's entry stays
        return both, await store.artifacts(r.id)

    both, after = run(with_store(make_store, work))
    assert [a["path"] for a in both] == ["model.pt:v0/model.pt", "a", "b"]
    assert [a["path"] for a in after] == ["model.pt:v0/model.pt"]


def test_log_search_is_a_literal_substring_ignoring_ascii_case_paged_both_ways(
    make_store: StoreMaker,
) -> None:
    texts = [
        "loss 50% done",  # 1
        "loss 5 done",  # 2
        "a_b literal underscore",  # 3
        "axb not an underscore",  # 4
        r"path C:\tmp\x",  # 5
        r"path C:tmpx",  # 6
        "LOSS upper case",  # 7
        "Grüße ÄRGER",  # 8
    ] + [f"epoch {i} loss" for i in range(12)]  # 9..20

    async def work(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p"))
        lines = [LogLine("stderr" if i % 2 else "stdout", float(i), t) for i, t in enumerate(texts)]
        await ingest(store, r.id, 1, logs=lines)

        async def numbers(q: str, **kw: Any) -> list[int]:
            args = {"after": 0, "stream": None, "limit": 100, **kw}
            found = await store.logs(
                r.id, args["after"], args["stream"], args["limit"], q, kw.get("before")
            )
            return [x["line"] for x in found]

        return {
            "percent": await numbers("0%"),
            "underscore": await numbers("a_b"),
            "backslash": await numbers("\\tmp\\"),
            "case": await numbers("loss"),
            "case_stream": await numbers("LOSS", stream="stdout"),
            "ascii_only": await numbers("äRGER"),
            "page1": await numbers("epoch", limit=5),
            "page2": await numbers("epoch", after=13, limit=5),
            "back": await numbers("epoch", before=15, limit=3),
            "back_all": await numbers("loss", before=3, limit=10),
            "none": await numbers("%"),
        }

    got = run(with_store(make_store, work))
    assert got["percent"] == [1]
    assert got["underscore"] == [3]
    assert got["backslash"] == [5]
    assert got["case"] == [1, 2, 7, *range(9, 21)]
    assert got["case_stream"] == [1, 7, 9, 11, 13, 15, 17, 19]
    assert got["ascii_only"] == []  # non-ASCII letters match in their own case only
    assert got["page1"] == [9, 10, 11, 12, 13]
    assert got["page2"] == [14, 15, 16, 17, 18]
    assert got["back"] == [12, 13, 14]  # the newest 3 under line 15, oldest first
    assert got["back_all"] == [1, 2]
    assert got["none"] == [1]
