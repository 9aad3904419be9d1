"""What only the SQLite store has: its file (WAL, schema version), chunk rows, journal trim.

Everything every backend must do is in test_store_contract.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from runwatch.protocol import RunCreate
from runwatch.store.base import Committed
from runwatch.store.prepare import prepare_batch
from runwatch.store.sql.retention import trim_journals
from runwatch.store.sqlite import SqliteStore
from runwatch.store.sqlite.schema import SCHEMA_VERSION
from runwatch.store.sqlite.tx import SqliteTx
from tests.store.aio import run
from tests.store.test_store_contract import batch, by_step, fill_chunks


async def with_store(tmp_path: Path, work):  # type: ignore[no-untyped-def]
    store = SqliteStore(tmp_path)
    committed: list[Committed] = []
    await store.open()
    store.add_commit_listener(committed.extend)
    try:
        return await work(store, committed)
    finally:
        await store.close()


def test_data_survives_reopen_and_schema_is_current(tmp_path: Path) -> None:
    async def write(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p", name="keep"))
        await store.ingest(r.id, prepare_batch(batch(1, [(0, {"x": 1.0})])))
        return r.id

    run_id = run(with_store(tmp_path, write))

    async def read(store, _):  # type: ignore[no-untyped-def]
        return await store.get_run(run_id), await store.health()

    info, health = run(with_store(tmp_path, read))
    assert info.name == "keep" and info.seq == 2
    assert health["schema"] == SCHEMA_VERSION
    conn = sqlite3.connect(tmp_path / "runwatch.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_chunks_fill_across_batches_restarts_and_late_points(tmp_path: Path) -> None:
    expected, full, window, _ = fill_chunks(lambda **options: SqliteStore(tmp_path, **options))
    ordered = by_step(expected)
    assert list(zip(full.x, full.value, strict=True)) == ordered
    assert list(zip(window.x, window.value, strict=True)) == [
        p for p in ordered if 1990 <= p[0] <= 2010
    ]
    conn = sqlite3.connect(tmp_path / "runwatch.sqlite3")
    sizes = [n for (n,) in conn.execute("SELECT n FROM chunks ORDER BY rowid")]
    conn.close()
    assert sum(sizes) == len(expected) and max(sizes) <= 4096 and len(sizes) <= 4


def test_journal_trim_keeps_the_newest_records(tmp_path: Path) -> None:
    async def fill(store, _):  # type: ignore[no-untyped-def]
        r = await store.create_run(RunCreate(project="p", id="journal1"))
        for i in range(30):
            await store.ingest(r.id, prepare_batch(batch(i + 1, [(i, {"x": 1.0})])))
        return r.id

    run_id = run(with_store(tmp_path, fill))
    conn = sqlite3.connect(tmp_path / "runwatch.sqlite3")
    with conn:
        assert trim_journals(SqliteTx(conn), keep=10) == 21
    seqs = [
        s
        for (s,) in conn.execute("SELECT seq FROM journal WHERE run_id = ? ORDER BY seq", (run_id,))
    ]
    conn.close()
    assert seqs == list(range(22, 32))
