"""The run queue in the store: FIFO claims bounded by slots, cancel, and who may enqueue."""

from __future__ import annotations

import time
from pathlib import Path

from runwatch.protocol import Batch, RunCreate, StatusIn
from runwatch.store.prepare import prepare_batch
from runwatch.store.sqlite import SqliteStore
from tests.store.aio import run


def finish(state: str) -> object:
    return prepare_batch(
        Batch(producer="t", batch_seq=1, status=StatusIn(state=state, ts=time.time()))
    )


def spec(name: str) -> RunCreate:
    return RunCreate(project="q", name=name, snapshot={"template": "t"})


def test_claims_are_fifo_bounded_by_slots_and_skip_cancelled_runs(tmp_path: Path) -> None:
    async def work() -> list[object]:
        store = SqliteStore(tmp_path)
        await store.open()
        try:
            a, b, c = [await store.enqueue_run(spec(n), "t", {"n": n}) for n in "abc"]
            seen: list[object] = [a.status, a.started_at]
            first = await store.claim_queued(1)
            assert first is not None
            seen += [first.run.id == a.id, first.run.status, first.params]
            seen.append(await store.claim_queued(1))  # the slot is taken
            await store.add_command(b.id, "cancel", {})
            await store.ingest(a.id, finish("succeeded"))  # type: ignore[arg-type]
            nxt = await store.claim_queued(1)
            seen.append(nxt is not None and nxt.run.id == c.id)
            seen.append(await store.claim_queued(5))  # nothing waits any more
            seen.append((await store.get_run(b.id)).status)  # type: ignore[union-attr]
            return seen
        finally:
            await store.close()

    assert run(work()) == [
        "queued", None, True, "running", {"n": "a"}, None, True, None, "cancelled",
    ]  # fmt: skip


def test_a_producer_cannot_queue_a_run_for_launch(tmp_path: Path) -> None:
    async def work() -> object:
        store = SqliteStore(tmp_path)
        await store.open()
        try:
            # A write token creates a run that claims a template and sets itself queued.
            forged = await store.create_run(RunCreate(project="q", snapshot={"template": "t"}))
            await store.ingest(forged.id, finish("queued"))  # type: ignore[arg-type]
            assert (await store.get_run(forged.id)).status == "queued"  # type: ignore[union-attr]
            return await store.claim_queued(1)
        finally:
            await store.close()

    assert run(work()) is None


def test_a_full_queue_refuses_more_naming_the_limit(tmp_path: Path) -> None:
    from runwatch.store.base import IngestError
    from runwatch.store.sqlite import queue

    async def work() -> IngestError:
        store = SqliteStore(tmp_path)
        await store.open()
        try:
            for i in range(queue.MAX_WAITING):
                await store.enqueue_run(spec(f"r{i}"), "t", {})
            try:
                await store.enqueue_run(spec("one too many"), "t", {})
            except IngestError as exc:
                return exc
            raise AssertionError("the queue took one more than its limit")
        finally:
            await store.close()

    error = run(work())
    assert error.status == 422 and "max_waiting=1000" in error.message
