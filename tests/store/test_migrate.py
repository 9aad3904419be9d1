"""`runwatch migrate --from sqlite:///DIR --to postgresql://…`, run as a user runs it: every
answer the SQLite store gave, the PostgreSQL store gives after the move."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest

from runwatch.protocol import (
    Batch,
    EventIn,
    HistogramIn,
    LogLine,
    MediaIn,
    PointRow,
    PointSetIn,
    Retention,
    RunCreate,
    SnapshotIn,
    StatusIn,
    TableIn,
)
from runwatch.rules.spec import RuleIn
from runwatch.store.base import RungReached, Store
from runwatch.store.copy import NOT_COPIED, TABLES
from runwatch.store.postgres import PostgresStore
from runwatch.store.prepare import prepare_batch
from runwatch.store.sqlite import SqliteStore
from tests.pg import fresh_database
from tests.store.aio import run
from tests.store.test_sweep_store import propose, sweep


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "runwatch", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "COLUMNS": "120"},
    )


async def fill(store: Store) -> list[str]:
    """A bit of everything, in two runs."""
    a = await store.create_run(RunCreate(project="p", name="a", tags=["t"], config={"lr": 0.1}))
    b = await store.create_run(RunCreate(project="q", name="b"))
    for i in range(3):  # 15,000 points per key: several chunks, raw and pyramid answers
        rows = [
            PointRow(s, 1000.0 + s, {"loss": 1 / (s + 1), "odd": "nan" if s % 97 == 0 else s})
            for s in range(i * 5000, (i + 1) * 5000)
        ]
        events = [
            EventIn("birth", 1.0, entity=i),
            EventIn("split", 2.0, entities=[f"cell/{i}", i + 10]),
        ]
        await store.ingest(a.id, prepare_batch(Batch("p", i + 1, points=rows, events=events)))
    await store.ingest(
        a.id,
        prepare_batch(
            Batch(
                "p",
                10,
                tables=[TableIn("board", [{"score": 1.5, "name": "ü"}])],
                point_sets=[PointSetIn("emb", [{"x": 1, "y": 2}])],
                snapshots=[SnapshotIn("w", s, 1.0, [s, 1]) for s in range(3)],
                logs=[LogLine("stderr", 3.0, "warning: ü")],
                manifests=[[{"kind": "checkpoint", "path": "c.pt", "sha256": "0" * 64}]],
                vitals=["sys/cpu"],
            )
        ),
    )
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(30))
    sha = hashlib.sha256(png).hexdigest()
    await store.put_blob(sha, "image/png", png)
    media = [
        MediaIn("img", s, 1.0, sha, "image/png", 3, 2, caption="ü", entity=s % 2 or "n")
        for s in range(50)
    ]
    hists = [HistogramIn("h", s, 1.0, [0.0, 0.5, 1.0], [s, 1], nan=1) for s in range(5)]
    await store.ingest(a.id, prepare_batch(Batch("p", 11, media=media, histograms=hists)))
    await store.add_command(a.id, "set", {"lr": 0.01})
    await store.ingest(b.id, prepare_batch(Batch("p", 1, status=StatusIn("succeeded", 5.0))))
    await store.promote(b.id, "prod", None, "f" * 64, {"acc": 0.5})
    await store.add_token("hash-1", "rw_1", "ci", "write", None, None)
    await store.set_retention("q", Retention(raw_keep_days=365.0))
    nan = {"name": "nan", "condition": {"type": "nonfinite", "key": "loss"},
           "actions": [{"type": "webhook", "url": "http://hooks.example/x"}]}  # fmt: skip
    rule = await store.add_rule("p", msgspec.convert(nan, RuleIn))
    await store.replace_file_rules([("q", msgspec.convert({**nan, "actions": []}, RuleIn))])
    alert = await store.record_alert(rule, a.id, "loss is nan", {"step": 3}, 1000.0)
    assert alert is not None
    await store.set_alert_action(alert.id, 0, {"state": "delivered", "attempts": 1})
    for name in ("q1", "q2", "q3"):
        await store.enqueue_run(RunCreate(project="q", name=name), "train", {"lr": 0.1})
    await store.claim_queued(1)
    # A sweep whose first trial was stopped early at a rung, and whose second is claimed.
    await store.create_sweep(sweep(limit=3))
    first, _ = [(await store.claim_trial("s1", "agent", propose)).trial for _ in range(2)]
    assert first is not None
    await store.create_run(RunCreate(project="p", id=first.run_id))
    await store.reach_rung(RungReached("s1", 0, first.run_id, 2, 2, 1.0), lambda r, v: None)
    await store.reach_rung(RungReached("s1", 0, "other", 2, 2, 0.5), lambda r, v: None)
    stop = RungReached("s1", 1, first.run_id, 4, 4, 9.0)
    assert await store.reach_rung(stop, lambda r, v: {"message": "worse"}) is not None
    return [a.id, b.id]


async def answers(store: Store, run_ids: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "runs": await store.list_runs(),
        "projects": await store.list_projects(),
        "promoted": await store.list_promoted(),
        "tokens": await store.list_tokens(),
        "retention": await store.get_retention("q"),
        "rules": await store.list_rules(),
        "alerts": await store.list_alerts("p"),
        "sweep": await store.get_sweep("s1"),
        "trials": await store.list_trials("s1", -1, 10),
    }
    for r in run_ids:
        out[r] = [
            await store.state(r, 300, 50),
            await store.metrics(r, ["loss", "odd"], None, None, 20_000, "step"),
            await store.metrics(r, ["loss"], 1234, 13_000, 100, "time"),
            await store.events(r, limit=1000),
            await store.entity_events(r, "1", 10),
            await store.entity_events(r, "cell/2", 10),
            await store.entity_events(r, "11", 10),  # named second: from event_entities
            await store.replay(r, 0, 1000),
            await store.snapshot_versions(r, "w"),
            await store.snapshot_value(r, "w", None) if r == run_ids[0] else None,
            await store.logs(r, 0, None, 10),
            await store.artifacts(r),
            await store.list_commands(r),
            await store.raw_points(r, "loss", 0, 5000),
            await store.media_keys(r, "", 10),
            await store.media_items(r, "img", None, 100),
            await store.media_nearest(r, "img", 20),
            await store.histograms(r, "h", None, None, 10),
            await store.blob(
                r, hashlib.sha256(b"\x89PNG\r\n\x1a\n" + bytes(range(30))).hexdigest()
            ),
        ]
    return out


def nan_safe(value: Any) -> str:
    """Answers compared as text: NaN equals NaN there."""
    return repr(value).replace("nan", "NaN")


def test_migrate_moves_everything_and_postgres_answers_the_same(
    tmp_path: Path, pg_url: str
) -> None:
    async def before() -> tuple[list[str], dict[str, Any]]:
        store = SqliteStore(tmp_path / "data")
        await store.open()
        try:
            ids = await fill(store)
            return ids, await answers(store, ids)
        finally:
            await store.close()

    ids, expected = run(before())
    done = cli("migrate", "--from", f"sqlite://{tmp_path / 'data'}", "--to", pg_url)
    assert done.returncode == 0, done.stderr
    assert "chunks" in done.stdout and "✓" in done.stdout and "rows" in done.stdout

    async def after() -> tuple[dict[str, Any], Any, Any]:
        store = PostgresStore(pg_url)
        await store.open()
        try:
            got = await answers(store, ids)
            # The moved store keeps going: new ids come after the copied ones.
            token = await store.add_token("hash-2", "rw_2", None, "read", None, None)
            ack = await store.ingest(
                ids[0],
                prepare_batch(Batch("p", 99, points=[PointRow(20_000, 9.0, {"new": 1.0})])),
            )
            rule = await store.add_rule("p", msgspec.convert({"name": "new", "condition": {
                "type": "stalled", "minutes": 5}}, RuleIn))  # fmt: skip
            alert = await store.record_alert(rule, ids[0], "again", {}, 2000.0)
            # The queue goes on where it was: q1 runs, so q2 starts once q1 is done.
            running = [r for r in got["runs"] if r.status == "running" and r.project == "q"]
            finished = prepare_batch(Batch("p", 1, status=StatusIn("succeeded", 6.0)))
            await store.ingest(running[0].id, finished)
            claimed = await store.claim_queued(1)
            return got, token, ack, (rule.id, alert.id if alert else None), claimed
        finally:
            await store.close()

    got, token, ack, new_ids, claimed = run(after())
    assert nan_safe(got) == nan_safe(expected)
    assert token.id == 2 and not ack.duplicate
    assert new_ids == (3, 2)  # rules 1 and 2 and alert 1 were copied
    assert claimed is not None and claimed.run.name == "q2" and claimed.params == {"lr": 0.1}
    assert [r.name for r in expected["rules"]] == ["nan", "nan"]
    assert expected["alerts"][0].actions[0]["state"] == "delivered"
    assert got[ids[0]][1].series["odd"].value[0] == "nan"  # NaN survived the move
    assert [e.entities for e in got[ids[0]][6]] == [["cell/1", 11]]  # both entities moved
    assert sorted(str(t.stopped_early) for t in got["trials"]) == ["None", "worse"]  # the sweep


def test_migrate_copies_every_table_but_the_rebuilt_value_index(tmp_path: Path) -> None:
    """A table a later migration adds is copied too, or named as rebuilt: none is forgotten."""
    store = SqliteStore(tmp_path / "data")
    run(store.open())
    run(store.close())
    with sqlite3.connect(tmp_path / "data" / "runwatch.sqlite3") as conn:
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
    assert tables == {t.name for t in TABLES} | NOT_COPIED


def test_migrate_refuses_a_database_in_use_and_writes_nothing(tmp_path: Path, pg_url: str) -> None:
    async def make() -> None:
        for store in (SqliteStore(tmp_path / "data"), PostgresStore(pg_url)):
            await store.open()
            try:
                await store.create_run(RunCreate(project="p"))
            finally:
                await store.close()

    run(make())
    done = cli("migrate", "--from", str(tmp_path / "data"), "--to", pg_url)
    assert done.returncode == 1
    assert "already holds 1 runs: migrate into an empty one" in done.stderr
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM journal").fetchone() == (1,)


def test_migrate_says_what_it_needs(tmp_path: Path, pg_url: str) -> None:
    backwards = cli("migrate", "--from", pg_url, "--to", f"sqlite://{tmp_path}")
    assert backwards.returncode == 1 and "migrate copies --from sqlite:///DIR" in backwards.stderr
    empty = cli("migrate", "--from", str(tmp_path / "nothing"), "--to", pg_url)
    assert empty.returncode == 1 and "no runwatch store in" in empty.stderr
    assert "Traceback" not in backwards.stderr + empty.stderr

    async def make() -> None:  # a store to copy, into a database that is not there
        store = SqliteStore(tmp_path / "data")
        await store.open()
        await store.close()

    run(make())
    absent = pg_url.rsplit("/", 1)[0] + "/runwatch_no_such_database"
    missing = cli("migrate", "--from", str(tmp_path / "data"), "--to", absent)
    assert missing.returncode == 1 and missing.stdout == ""  # no progress bar drawn first
    assert missing.stderr.startswith("runwatch: error: cannot reach PostgreSQL at ")
    assert missing.stderr.count("\n") == 1, missing.stderr
