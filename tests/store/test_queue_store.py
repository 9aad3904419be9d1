"""The run queue in the store, on every backend: FIFO claims bounded by slots, cancel, and who
may enqueue."""

from __future__ import annotations

import asyncio
import time

from runwatch.protocol import Batch, RunCreate, StatusIn
from runwatch.store.errors import LimitExceeded
from runwatch.store.prepare import prepare_batch
from tests.store.aio import run
from tests.store.conftest import StoreMaker


def finish(state: str) -> object:
    return prepare_batch(
        Batch(producer="t", batch_seq=1, status=StatusIn(state=state, ts=time.time()))
    )


def spec(name: str) -> RunCreate:
    return RunCreate(project="q", name=name, snapshot={"template": "t"})


def test_claims_are_fifo_bounded_by_slots_and_skip_cancelled_runs(make_store: StoreMaker) -> None:
    async def work() -> list[object]:
        store = make_store()
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


def test_a_producer_cannot_queue_a_run_for_launch(make_store: StoreMaker) -> None:
    async def work() -> object:
        store = make_store()
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


def test_a_full_queue_refuses_more_naming_the_limit(make_store: StoreMaker) -> None:
    from runwatch.store.sql import queue

    async def work() -> LimitExceeded:
        store = make_store()
        await store.open()
        try:
            for i in range(queue.MAX_WAITING):
                await store.enqueue_run(spec(f"r{i}"), "t", {})
            try:
                await store.enqueue_run(spec("one too many"), "t", {})
            except LimitExceeded as exc:
                return exc
            raise AssertionError("the queue took one more than its limit")
        finally:
            await store.close()

    error = run(work())
    assert error.field == "queue" and "max_waiting=1000" in error.message


def test_two_replicas_claiming_at_once_share_the_slots_and_never_start_a_run_twice(
    make_store: StoreMaker,
) -> None:
    async def work() -> tuple[list[str], list[str]]:
        one, two = make_store(), make_store()
        await one.open()
        await two.open()
        try:
            queued = [(await one.enqueue_run(spec(f"r{i}"), "t", {})).id for i in range(6)]
            claims = [s.claim_queued(3) for _ in range(4) for s in (one, two)]
            claimed = [c.run.id for c in await asyncio.gather(*claims) if c is not None]
            return queued, claimed
        finally:
            await one.close()
            await two.close()

    queued, claimed = run(work())
    assert sorted(claimed) == sorted(queued[:3])  # the oldest three, each once
