"""Sweeps in the store, on every backend: each trial index handed out once across replicas,
the limit, pause / resume / stop, a trial's status following its run's, and the trials a
proposal reads (with the metric's value from each run's summary, and a stopped trial's
rungs)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import msgspec
import pytest

from runwatch.protocol import Batch, RunCreate, RunStatus, StatusIn
from runwatch.runs_query import parse, parse_sort
from runwatch.store.base import (
    Past,
    RungReached,
    RunsQuery,
    Store,
    SweepCreate,
    SweepInfo,
    TrialOutcome,
    WatchedTrial,
)
from runwatch.store.errors import ClaimExpired, Conflict, SweepNotFound, SweepStopped
from runwatch.store.prepare import PreparedBatch, prepare_batch
from tests.store.aio import run
from tests.store.conftest import StoreMaker


def sweep(sweep_id: str = "s1", limit: int = 40) -> SweepCreate:
    spec = {"method": "random", "parameters": {"x": {"min": 0.0, "max": 1.0}}}
    return SweepCreate(sweep_id, "p", "sw", "random", spec, 7, limit, "run_cap")


def propose(info: SweepInfo, index: int, past: Past) -> dict[str, Any]:
    return {"i": index, "seed": info.seed}


def succeeded(state: RunStatus = "succeeded") -> PreparedBatch:
    """A batch that ends a run ``succeeded`` (or ``state``), prepared for ``Store.ingest``."""
    final = StatusIn(state=state, ts=time.time())
    return prepare_batch(Batch(producer="t", batch_seq=1, status=final))


async def claim_all(store: Store, agent: str) -> list[int]:
    got: list[int] = []
    while True:
        claim = await store.claim_trial("s1", agent, propose)
        if claim.trial is None:
            assert claim.reason == "finished"
            return got
        assert claim.trial.config == {"i": claim.trial.index, "seed": 7}
        got.append(claim.trial.index)


def test_each_trial_is_handed_out_once_across_replicas(make_store: StoreMaker) -> None:
    async def work() -> tuple[list[list[int]], SweepInfo]:
        replicas = [make_store(), make_store()]
        for store in replicas:
            await store.open()
        try:
            await replicas[0].create_sweep(sweep())
            claims = await asyncio.gather(
                *(claim_all(replicas[i % 2], f"agent-{i}") for i in range(6))
            )
            info = await replicas[1].get_sweep("s1")
            assert info is not None
            return list(claims), info
        finally:
            for store in replicas:
                await store.close()

    claims, info = run(work())
    everything = sorted(i for got in claims for i in got)
    assert everything == list(range(40))
    assert (info.state, info.handed_out, info.trials) == ("finished", 40, {"claimed": 40})


def test_pause_resume_stop_and_the_state_a_claim_sees(make_store: StoreMaker) -> None:
    async def work() -> list[Any]:
        store = make_store()
        await store.open()
        try:
            seen: list[Any] = [(await store.create_sweep(sweep(limit=3))).state]
            seen.append((await store.set_sweep_state("s1", "pause")).state)
            claim = await store.claim_trial("s1", None, propose)
            seen.append((claim.trial, claim.reason))
            seen.append((await store.set_sweep_state("s1", "resume")).state)
            first = await store.claim_trial("s1", "a", propose)
            assert first.trial is not None
            seen.append((first.trial.index, first.sweep.handed_out))
            seen.append((await store.set_sweep_state("s1", "stop")).state)
            seen.append((await store.claim_trial("s1", None, propose)).reason)
            with pytest.raises(Conflict) as refused:
                await store.set_sweep_state("s1", "resume")
            seen.append(refused.value.code)
            with pytest.raises(SweepNotFound):
                await store.claim_trial("nope", None, propose)
            with pytest.raises(Conflict):
                await store.create_sweep(sweep())
            seen.append(await store.get_sweep("nope"))
            return seen
        finally:
            await store.close()

    assert run(work()) == [
        "running", "paused", (None, "paused"), "running", (0, 1), "stopped", "stopped",
        "sweep_stopped", None,
    ]  # fmt: skip


def test_a_trial_takes_its_runs_status(make_store: StoreMaker) -> None:
    async def work() -> tuple[list[str], dict[str, int]]:
        store = make_store()
        await store.open()
        try:
            await store.create_sweep(sweep(limit=3))
            trials = [(await store.claim_trial("s1", "a", propose)).trial for _ in range(3)]
            first, second, _ = trials
            assert first is not None and second is not None
            await store.create_run(RunCreate(project="p", id=first.run_id))
            await store.create_run(RunCreate(project="p", id=second.run_id))
            await store.ingest(second.run_id, succeeded())
            listed = await store.list_trials("s1", -1, 10)
            assert [t.index for t in await store.list_trials("s1", 0, 1)] == [1]
            info = await store.get_sweep("s1")
            assert info is not None
            return [t.status for t in listed], info.trials
        finally:
            await store.close()

    statuses, counts = run(work())
    assert statuses == ["running", "succeeded", "claimed"]
    assert counts == {"running": 1, "succeeded": 1, "claimed": 1}


def test_a_stopped_sweeps_trial_not_started_is_cancelled_and_its_run_refused(
    make_store: StoreMaker,
) -> None:
    async def work() -> tuple[list[str], dict[str, int], str, list[str]]:
        store = make_store()
        await store.open()
        try:
            await store.create_sweep(sweep(limit=5))
            trials = [(await store.claim_trial("s1", "a", propose)).trial for _ in range(3)]
            started, unstarted, late = trials
            assert started is not None and unstarted is not None and late is not None
            await store.create_run(RunCreate(project="p", id=started.run_id))
            await store.set_sweep_state("s1", "stop")
            with pytest.raises(SweepStopped) as refused:
                await store.create_run(RunCreate(project="p", id=unstarted.run_id))
            # A started trial's producer retrying its creation still gets its run.
            again = await store.create_run(RunCreate(project="p", id=started.run_id))
            # A run that is no trial is not the sweep's business.
            await store.create_run(RunCreate(project="p", id="plainrun"))
            listed = await store.list_trials("s1", -1, 10)
            info = await store.get_sweep("s1")
            assert info is not None
            runs = sorted(r.id for r in await store.list_runs())
            code = f"{refused.value.code} {again.status}"
            return [t.status for t in listed], info.trials, code, runs
        finally:
            await store.close()

    statuses, counts, refused, runs = run(work())
    assert statuses == ["running", "cancelled", "cancelled"]
    assert counts == {"running": 1, "cancelled": 2}
    assert refused == "sweep_stopped running"
    assert len(runs) == 2 and "plainrun" in runs


def test_a_finished_sweep_stops_while_a_trial_is_pending_and_not_once_all_ended(
    make_store: StoreMaker,
) -> None:
    """Every point handed out, the last trial claimed but not started: Stop cancels it (its run
    is refused). A finished sweep whose trials have all ended has nothing to stop: 409."""

    async def work() -> tuple[str, str, str, str]:
        store = make_store()
        await store.open()
        try:
            await store.create_sweep(sweep(limit=2))
            await store.create_sweep(sweep("s2", limit=1))
            first, last = [(await store.claim_trial("s1", "a", propose)).trial for _ in range(2)]
            assert first is not None and last is not None
            await store.create_run(RunCreate(project="p", id=first.run_id))
            await store.ingest(first.run_id, succeeded())
            before = (await store.get_sweep("s1")).state  # type: ignore[union-attr]
            stopped = (await store.set_sweep_state("s1", "stop")).state
            with pytest.raises(SweepStopped) as refused:
                await store.create_run(RunCreate(project="p", id=last.run_id))
            (only,) = [(await store.claim_trial("s2", "a", propose)).trial]
            assert only is not None
            await store.create_run(RunCreate(project="p", id=only.run_id))
            await store.ingest(only.run_id, succeeded())
            with pytest.raises(Conflict) as ended:
                await store.set_sweep_state("s2", "stop")
            return before, stopped, refused.value.code, ended.value.code
        finally:
            await store.close()

    assert run(work()) == ("finished", "stopped", "sweep_stopped", "sweep_finished")


def test_a_crashed_trial_is_handed_out_again_once(make_store: StoreMaker) -> None:
    async def crash(store: Store, run_id: str) -> None:
        await store.create_run(RunCreate(project="p", id=run_id))
        crashed = Batch(producer="t", batch_seq=1, status=StatusIn(state="crashed", ts=time.time()))
        await store.ingest(run_id, prepare_batch(crashed))

    async def work() -> list[Any]:
        store = make_store()
        await store.open()
        try:
            await store.create_sweep(sweep(limit=2))
            first = (await store.claim_trial("s1", "a", propose)).trial
            assert first is not None
            await crash(store, first.run_id)
            await store.set_sweep_state("s1", "pause")  # a paused sweep hands out no retry
            seen: list[Any] = [(await store.claim_trial("s1", "b", propose)).reason]
            await store.set_sweep_state("s1", "resume")
            retry = (await store.claim_trial("s1", "b", propose)).trial
            assert retry is not None
            seen.append((retry.index, retry.retry_of, retry.config))
            await crash(store, retry.run_id)  # a retry that crashes is not retried
            fresh = await store.claim_trial("s1", "b", propose)
            assert fresh.trial is not None
            seen.append((fresh.trial.index, fresh.trial.retry_of, fresh.trial.config))
            seen.append((await store.claim_trial("s1", "b", propose)).reason)
            listed = await store.list_trials("s1", -1, 10)
            seen.append([(t.index, t.status, t.retry_of) for t in listed])
            info = await store.get_sweep("s1")
            assert info is not None
            seen.append((info.state, info.handed_out, info.trials))
            return seen
        finally:
            await store.close()

    assert run(work()) == [
        "paused",
        (1, 0, {"i": 0, "seed": 7}),
        (2, None, {"i": 1, "seed": 7}),  # the space's next point: point 1, trial 2
        "finished",
        [(0, "crashed", None), (1, "crashed", 0), (2, "claimed", None)],
        ("finished", 3, {"crashed": 2, "claimed": 1}),
    ]


def test_a_claim_whose_run_is_never_created_expires_crashed_and_is_handed_out_again(
    make_store: StoreMaker,
) -> None:
    """The agent dies between its claim and its run: past the lease the trial reads crashed
    (on every replica) and its configuration is the next claim's retry; the dead agent's
    run, created late after all, is refused, so the configuration runs once."""
    later = [0.0]

    def clock() -> float:
        return time.time() + later[0]

    async def work() -> list[Any]:
        replicas = [make_store(claim_lease=60, clock=clock) for _ in range(2)]
        for store in replicas:
            await store.open()
        try:
            store, other = replicas
            await store.create_sweep(sweep(limit=2))
            first = (await store.claim_trial("s1", "a", propose)).trial
            assert first is not None
            seen: list[Any] = [[t.status for t in await store.list_trials("s1", -1, 10)]]
            later[0] = 61
            seen.append([t.status for t in await other.list_trials("s1", -1, 10)])
            retry = (await store.claim_trial("s1", "b", propose)).trial
            assert retry is not None
            seen.append((retry.index, retry.retry_of, retry.config))
            with pytest.raises(ClaimExpired) as late:
                await store.create_run(RunCreate(project="p", id=first.run_id))
            seen.append(late.value.code)
            await store.create_run(RunCreate(project="p", id=retry.run_id))
            fresh = (await store.claim_trial("s1", "b", propose)).trial
            assert fresh is not None
            seen.append((fresh.index, fresh.retry_of, fresh.config))
            seen.append(
                [(t.index, t.status, t.retry_of) for t in await store.list_trials("s1", -1, 10)]
            )
            info = await other.get_sweep("s1")
            assert info is not None
            seen.append((info.state, info.trials))
            seen.append(await store.get_run(first.run_id))
            return seen
        finally:
            for store in replicas:
                await store.close()

    assert run(work()) == [
        ["claimed"],
        ["crashed"],
        (1, 0, {"i": 0, "seed": 7}),
        "claim_expired",
        (2, None, {"i": 1, "seed": 7}),
        [(0, "crashed", None), (1, "running", 0), (2, "claimed", None)],
        ("finished", {"crashed": 1, "running": 1, "claimed": 1}),
        None,
    ]


def test_a_late_run_is_taken_while_its_expired_claim_is_not_handed_out_again(
    make_store: StoreMaker,
) -> None:
    """A slow agent creates its run past the lease, before any claim retried it: the run is
    taken, the trial is its run's again, and it is not retried."""
    later = [0.0]

    async def work() -> list[Any]:
        store = make_store(claim_lease=60, clock=lambda: time.time() + later[0])
        await store.open()
        try:
            await store.create_sweep(sweep(limit=2))
            first = (await store.claim_trial("s1", "a", propose)).trial
            assert first is not None
            later[0] = 61
            seen: list[Any] = [[t.status for t in await store.list_trials("s1", -1, 10)]]
            await store.create_run(RunCreate(project="p", id=first.run_id))
            nxt = (await store.claim_trial("s1", "b", propose)).trial
            assert nxt is not None
            seen.append((nxt.index, nxt.retry_of, nxt.config))
            seen.append([(t.index, t.status) for t in await store.list_trials("s1", -1, 10)])
            return seen
        finally:
            await store.close()

    assert run(work()) == [
        ["crashed"],
        (1, None, {"i": 1, "seed": 7}),
        [(0, "running"), (1, "claimed")],
    ]


def test_a_rung_is_judged_once_across_replicas(make_store: StoreMaker) -> None:
    def judge(reached: RungReached, values: list[float]) -> dict[str, Any] | None:
        # Stop a trial worse than every other at the rung; say what it saw.
        if len(values) > 1 and reached.value > min(values):
            return {"message": f"worse at {reached.rung}", "seen": sorted(values)}
        return None

    async def work() -> list[Any]:
        replicas = [make_store(), make_store()]
        for store in replicas:
            await store.open()
        try:
            store = replicas[0]
            await store.create_sweep(sweep(limit=3))
            made = [(await store.claim_trial("s1", "a", propose)).trial for _ in range(3)]
            for trial in made:
                assert trial is not None
                await store.create_run(RunCreate(project="p", id=trial.run_id))
            good, bad, done = made
            assert good is not None and bad is not None and done is not None
            seen: list[Any] = [
                await store.watched_trial(bad.run_id),
                await store.watched_trial("x"),
            ]
            seen.append(await store.reach_rung(RungReached("s1", 0, good.run_id, 2, 2, 1.0), judge))
            # The same point judged by both replicas at once: recorded and acted on once.
            twice = RungReached("s1", 1, bad.run_id, 2, 3, 5.0)
            verdicts = await asyncio.gather(*(r.reach_rung(twice, judge) for r in replicas))
            seen.append(sorted(verdicts, key=lambda v: v is None))
            seen.append(await store.reach_rung(RungReached("s1", 1, bad.run_id, 6, 6, 9.0), judge))
            await store.ingest(done.run_id, succeeded())
            late = RungReached("s1", 2, done.run_id, 2, 2, 7.0)
            seen.append((await store.reach_rung(late, judge) or {}).get("message"))
            for trial in (bad, done):
                events = await store.events(trial.run_id, 0, 10, "early_stop", False)
                commands = await store.list_commands(trial.run_id)
                seen.append(
                    ([e.payload["message"] for e in events],
                     [(c.kind, c.payload) for c in commands])
                )  # fmt: skip
            listed = await store.list_trials("s1", -1, 10)
            seen.append([(t.status, t.stopped_early) for t in listed])
            return seen
        finally:
            for store in replicas:
                await store.close()

    spec = sweep().spec
    assert run(work()) == [
        WatchedTrial("s1", 1, spec, False),
        None,
        None,
        [{"message": "worse at 2", "seen": [1.0, 5.0]}, None],
        None,  # stopped before: not judged again
        "worse at 2",  # a finished run's trial is marked, and sent nothing
        (["worse at 2"], [("cancel", {"reason": "worse at 2"})]),
        (["worse at 2"], []),
        [("running", None), ("running", "worse at 2"), ("succeeded", "worse at 2")],
    ]


def test_a_proposal_reads_the_trials_before_it_with_the_metric(make_store: StoreMaker) -> None:
    seen: list[list[TrialOutcome]] = []

    def reading(info: SweepInfo, index: int, past: Past) -> dict[str, Any]:
        seen.append(past("val/loss", 3))
        return {"i": index}

    async def work() -> None:
        store = make_store()
        await store.open()
        try:
            await store.create_sweep(sweep(limit=6))
            trials = [(await store.claim_trial("s1", "a", reading)).trial for _ in range(4)]
            for trial, (loss, state) in zip(
                trials, [(0.5, "succeeded"), ("nan", "succeeded"), (0.25, None)], strict=False
            ):
                assert trial is not None
                await store.create_run(RunCreate(project="p", id=trial.run_id))
                status = None if state is None else {"state": state, "ts": time.time()}
                points = [[0, time.time(), {"val/loss": loss, "acc": 1}]]
                wire = {"producer": "t", "batch_seq": 1, "points": points, "status": status}
                # From the wire form, where "nan" is a NaN: a summary value but not a number.
                await store.ingest(trial.run_id, prepare_batch(msgspec.convert(wire, Batch)))
            await store.claim_trial("s1", "a", reading)
        finally:
            await store.close()

    run(work())
    assert [len(p) for p in seen] == [0, 1, 2, 3, 3]
    assert seen[-1] == [
        TrialOutcome(3, {"i": 3}, "claimed", None),
        TrialOutcome(2, {"i": 2}, "running", 0.25),
        TrialOutcome(1, {"i": 1}, "succeeded", None),
    ]


def test_a_proposal_reads_the_rungs_of_the_trials_stopped_early(make_store: StoreMaker) -> None:
    """A stopped trial's values at the rungs it reached reach the proposal (its status is
    ``stopped_early`` once its run ended cancelled); a trial that went on carries none, and
    the proposal's limit bounds the trials read, stopped ones included."""
    seen: list[list[TrialOutcome]] = []

    def reading(info: SweepInfo, index: int, past: Past) -> dict[str, Any]:
        if index == 4:
            seen.extend([past("val/loss", 10), past("val/loss", 2)])
        return {"i": index}

    def judge(reached: RungReached, values: list[float]) -> dict[str, Any] | None:
        return {"message": "worse"} if reached.value > min(values) else None

    async def work() -> None:
        store = make_store()
        await store.open()
        try:
            await store.create_sweep(sweep(limit=6))
            made = [(await store.claim_trial("s1", "a", reading)).trial for _ in range(4)]
            runs = [t.run_id for t in made if t is not None]
            for run_id in runs[:3]:
                await store.create_run(RunCreate(project="p", id=run_id))
            for index, rung, value in [(0, 2, 1.0), (1, 2, 0.5), (0, 6, 0.4), (1, 6, 0.9)]:
                await store.reach_rung(
                    RungReached("s1", index, runs[index], rung, rung, value), judge
                )
            await store.reach_rung(RungReached("s1", 2, runs[2], 2, 3, 8.0), judge)
            cancelled = StatusIn(state="cancelled", ts=time.time(), error="worse")
            await store.ingest(
                runs[1], prepare_batch(Batch(producer="t", batch_seq=1, status=cancelled))
            )
            await store.claim_trial("s1", "a", reading)
        finally:
            await store.close()

    run(work())
    assert seen == [
        [
            TrialOutcome(3, {"i": 3}, "claimed", None),
            TrialOutcome(2, {"i": 2}, "running", None, {2: 8.0}),  # its cancel not yet done
            TrialOutcome(1, {"i": 1}, "stopped_early", None, {2: 0.5, 6: 0.9}),
            TrialOutcome(0, {"i": 0}, "running", None),
        ],
        [
            TrialOutcome(3, {"i": 3}, "claimed", None),
            TrialOutcome(2, {"i": 2}, "running", None, {2: 8.0}),
        ],
    ]


def test_a_slow_bayes_proposal_holds_neither_the_writer_nor_the_sweeps_lock(
    make_store: StoreMaker,
) -> None:
    """A bayes proposal (Optuna: up to hundreds of ms) is drafted outside the claim's write:
    meanwhile a run is created and another replica claims the sweep's next trial; the slow
    draft, having lost its index, is drafted again and takes the next one."""
    started, release = threading.Event(), threading.Event()
    spec = {"method": "bayes", "metric": {"name": "m"}, "parameters": {"x": {"values": [1, 2]}}}

    def slow(info: SweepInfo, index: int, past: Past) -> dict[str, Any]:
        past("m", 10)
        started.set()
        assert release.wait(30)
        return {"slow": index}

    def fast(info: SweepInfo, index: int, past: Past) -> dict[str, Any]:
        return {"fast": index}

    async def work() -> None:
        store, replica = make_store(), make_store()
        await store.open()
        await replica.open()
        try:
            await store.create_sweep(SweepCreate("b1", "p", "sw", "bayes", spec, 7, 5, "run_cap"))
            waiting = asyncio.ensure_future(store.claim_trial("b1", "slow", slow))
            assert await asyncio.to_thread(started.wait, 30)
            made = await store.create_run(RunCreate(project="p", name="meanwhile"))
            assert (await store.get_run(made.id)) is not None
            other = await replica.claim_trial("b1", "fast", fast)
            release.set()
            first = await waiting
            assert other.trial is not None and first.trial is not None
            assert (other.trial.index, other.trial.config) == (0, {"fast": 0})
            assert (first.trial.index, first.trial.config) == (1, {"slow": 1})
            trials = await store.list_trials("b1", -1, 10)
            assert [(t.index, t.agent) for t in trials] == [(0, "fast"), (1, "slow")]
        finally:
            release.set()
            await replica.close()
            await store.close()

    run(work())


def test_bayes_claims_in_one_process_draft_one_at_a_time(make_store: StoreMaker) -> None:
    """Concurrent claims of one sweep on one store each draft once: none is thrown away."""
    spec = {"method": "bayes", "metric": {"name": "m"}, "parameters": {"x": {"values": [1, 2]}}}
    drafted: list[int] = []

    def counted(info: SweepInfo, index: int, past: Past) -> dict[str, Any]:
        drafted.append(index)
        return {"i": index}

    async def work() -> list[int]:
        store = make_store()
        await store.open()
        try:
            await store.create_sweep(SweepCreate("b2", "p", "sw", "bayes", spec, 7, 8, "run_cap"))
            claims = await asyncio.gather(
                *(store.claim_trial("b2", f"agent-{i}", counted) for i in range(8))
            )
            return sorted(c.trial.index for c in claims if c.trial is not None)
        finally:
            await store.close()

    assert run(work()) == list(range(8))
    assert sorted(drafted) == list(range(8))


def test_a_run_stopped_early_reads_why_and_a_query_finds_it(
    make_store: StoreMaker,
) -> None:
    def judge(reached: RungReached, values: list[float]) -> dict[str, Any] | None:
        return {"message": "worse"} if reached.value > min(values) else None

    def early(runs: list[Any]) -> dict[str, str | None]:
        return {r.id: r.stopped_early for r in runs}

    async def work() -> tuple[list[Any], list[str]]:
        store = make_store()
        await store.open()
        try:
            await store.create_sweep(sweep(limit=3))
            made = [(await store.claim_trial("s1", "a", propose)).trial for _ in range(3)]
            ids = [t.run_id for t in made if t is not None]
            for run_id in [*ids, "plain"]:
                await store.create_run(RunCreate(project="p", id=run_id))
            good, bad, other = ids
            await store.reach_rung(RungReached("s1", 0, good, 2, 2, 1.0), judge)
            await store.reach_rung(RungReached("s1", 1, bad, 2, 2, 5.0), judge)
            running = await store.get_run(bad)  # judged, not yet ended (its cancel sent)
            await store.ingest(bad, succeeded("cancelled"))
            # Cancelled for another reason (the trial not stopped, a run that is no trial).
            await store.ingest(other, succeeded("cancelled"))
            await store.ingest("plain", succeeded("cancelled"))
            await store.ingest(good, succeeded())
            got = await store.get_run(bad)
            assert running is not None and got is not None
            listed = early(await store.list_runs(project="p"))
            paged = early((await store.query_runs(RunsQuery(project="p"))).runs)
            found = [
                sorted(r.id for r in (await store.query_runs(RunsQuery(where=parse(q)))).runs)
                for q in ("stopped_early != null", 'stopped_early ~ "wor"', 'status == "cancelled"')
            ]
            # Sorted by it, the runs with a reason come first either way.
            field, descending = parse_sort("-stopped_early")
            by_it = RunsQuery(sort=field, descending=descending, limit=1)
            top = (await store.query_runs(by_it)).runs[0].id
            seen = [(running.status, running.stopped_early), (got.status, got.stopped_early)]
            return [*seen, listed, paged, found, top], ids
        finally:
            await store.close()

    seen, (good, bad, other) = run(work())
    everyone = {good: None, bad: "worse", other: None, "plain": None}
    assert seen == [
        ("running", "worse"),
        ("cancelled", "worse"),
        everyone,
        everyone,
        [[bad], [bad], sorted([bad, other, "plain"])],
        bad,
    ]


def test_a_judged_run_that_ended_otherwise_was_not_stopped_early(
    make_store: StoreMaker,
) -> None:
    """A trial judged worse whose run then succeeded before its cancel came, or had failed
    before it was judged, keeps its verdict in the sweep, but its run was not stopped early:
    every read of it says so (``None``), as the query field does, filtering and sorting."""

    def judge(reached: RungReached, values: list[float]) -> dict[str, Any] | None:
        return {"message": "worse"} if reached.value > min(values) else None

    async def work() -> tuple[list[str], dict[str, Any]]:
        store = make_store()
        await store.open()
        try:
            await store.create_sweep(sweep(limit=4))
            made = [(await store.claim_trial("s1", "a", propose)).trial for _ in range(4)]
            ids = [t.run_id for t in made if t is not None]
            for run_id in ids:
                await store.create_run(RunCreate(project="p", id=run_id))
            good, outran, late, stopped = ids
            await store.reach_rung(RungReached("s1", 0, good, 2, 2, 1.0), judge)
            await store.reach_rung(RungReached("s1", 1, outran, 2, 2, 5.0), judge)
            await store.ingest(outran, succeeded())  # ended before its cancel came
            await store.ingest(late, succeeded("failed"))
            await store.reach_rung(RungReached("s1", 2, late, 2, 2, 5.0), judge)
            await store.reach_rung(RungReached("s1", 3, stopped, 2, 2, 5.0), judge)
            await store.ingest(stopped, succeeded("cancelled"))
            await store.ingest(good, succeeded())

            def early(runs: list[Any]) -> dict[str, str | None]:
                return {r.id: r.stopped_early for r in runs}

            field, descending = parse_sort("-stopped_early")
            by_it = RunsQuery(project="p", sort=field, descending=descending, limit=1)
            seen = {
                "get": {i: (await store.get_run(i)).stopped_early for i in ids},  # type: ignore[union-attr]
                "list": early(await store.list_runs(project="p")),
                "query": early((await store.query_runs(RunsQuery(project="p"))).runs),
                "found": [
                    sorted(r.id for r in (await store.query_runs(RunsQuery(where=parse(q)))).runs)
                    for q in ("stopped_early != null", "stopped_early == null")
                ],
                "sorted": (await store.query_runs(by_it)).runs[0].id,
                "trials": [
                    (t.status, t.stopped_early) for t in await store.list_trials("s1", -1, 10)
                ],
            }
            return ids, seen
        finally:
            await store.close()

    (good, outran, late, stopped), seen = run(work())
    reads = {good: None, outran: None, late: None, stopped: "worse"}
    assert seen == {
        "get": reads,
        "list": reads,
        "query": reads,
        "found": [[stopped], sorted([good, outran, late])],
        "sorted": stopped,
        # The sweep keeps each verdict; only the run that ended cancelled was stopped early.
        "trials": [
            ("succeeded", None),
            ("succeeded", "worse"),
            ("failed", "worse"),
            ("stopped_early", "worse"),
        ],
    }
