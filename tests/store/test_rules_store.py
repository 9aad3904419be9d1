"""Watch rules and alerts in the store, on every backend: rule CRUD, alerts journaled in the
run's live sequence (heard by commit listeners in order), cooldowns, action outcomes, and the
points columns ingest hands to in-process listeners (what the rule engine reads)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from runwatch.protocol import Batch, PointRow, RunCreate
from runwatch.rules.spec import RuleIn
from runwatch.store.base import Committed, PointsRecord, Store
from runwatch.store.prepare import prepare_batch
from tests.store.aio import run
from tests.store.conftest import StoreMaker


def rule_in(name: str, **extra: Any) -> RuleIn:
    spec = {"name": name, "condition": {"type": "nonfinite", "key": "loss"}, **extra}
    return msgspec.convert(spec, RuleIn)


class Heard:
    """A commit listener that keeps what it heard; ``until(seq)`` waits for a run's seq."""

    def __init__(self) -> None:
        self.commits: list[Committed] = []
        self._changed = asyncio.Event()

    def __call__(self, committed: list[Committed]) -> None:
        self.commits.extend(committed)
        self._changed.set()

    async def until(self, seq: int) -> None:
        while not self.commits or self.commits[-1].records[-1].seq < seq:
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), 10)


async def with_store(make_store: StoreMaker, work: Any) -> Any:
    store: Store = make_store()
    await store.open()
    try:
        return await work(store)
    finally:
        await store.close()


def test_rules_are_kept_per_project_and_a_rules_file_replaces_only_its_own(
    make_store: StoreMaker,
) -> None:
    async def work(store: Store) -> Any:
        api = await store.add_rule("p", rule_in("api", cooldown=5, actions=[{"type": "cancel"}]))
        await store.add_rule("q", rule_in("other"))
        await store.replace_file_rules([("p", rule_in("f1")), ("q", rule_in("f2"))])
        first = [(r.project, r.name, r.source) for r in await store.list_rules()]
        await store.replace_file_rules([("p", rule_in("f3"))])
        mine = await store.list_rules("p")
        deleted = [await store.delete_rule("q", api.id), await store.delete_rule("p", api.id)]
        return api, first, mine, deleted, [r.name for r in await store.list_rules()]

    api, first, mine, deleted, left = run(with_store(make_store, work))
    assert (api.project, api.cooldown, api.source, api.run) == ("p", 5, "api", None)
    assert type(api.actions[0]).__name__ == "CancelAction"
    assert first == [("p", "api", "api"), ("q", "other", "api"), ("p", "f1", "file"),
                     ("q", "f2", "file")]  # fmt: skip
    assert [r.name for r in mine] == ["api", "f3"] and mine[0] == api
    assert deleted == [False, True]  # a rule is deleted only through its own project
    assert left == ["other", "f3"]


def test_an_alert_is_an_event_in_the_runs_live_sequence_heard_in_commit_order(
    make_store: StoreMaker,
) -> None:
    heard = Heard()

    async def work(store: Store) -> Any:
        store.add_commit_listener(heard)
        rule = await store.add_rule("p", rule_in("nan", actions=[
            {"type": "webhook", "url": "http://user:pw@hooks.example/x?token=s"},
            {"type": "event", "level": "error"},
        ]))  # fmt: skip
        r = (await store.create_run(RunCreate(project="p", name="r1"))).id
        await store.ingest(r, prepare_batch(Batch("t", 1, points=[PointRow(0, 1.0, {"x": 1})])))
        alert = await store.record_alert(rule, r, "loss is nan", {"step": 3}, 1000.0)
        await heard.until(3)
        return alert, await store.events(r, kind="alert"), await store.replay(r, 0, 10)

    alert, events, replay = run(with_store(make_store, work))
    assert alert is not None and alert.run_name == "r1" and alert.level == "error"
    assert alert.event_seq == 3 and [x.seq for x in replay] == [1, 2, 3]
    (event,) = events
    assert event.seq == 3 and event.level == "error"
    assert event.payload == {"message": "loss is nan", "rule": "nan", "step": 3,
                             "rule_id": alert.rule_id, "alert_id": alert.id}  # fmt: skip
    assert msgspec.json.decode(replay[-1].body)["event"]["payload"] == event.payload
    assert [[x.seq for x in c.records] for c in heard.commits] == [[1], [2], [3]]
    assert alert.actions == [
        {"type": "webhook", "state": "pending", "target": alert.actions[0]["target"],
         "attempts": 0},
        {"type": "event", "state": "done", "level": "error"},
    ]  # fmt: skip
    assert "pw" not in alert.actions[0]["target"] and "token" not in alert.actions[0]["target"]


def test_cooldowns_action_outcomes_and_listing_alerts(make_store: StoreMaker) -> None:
    async def work(store: Store) -> Any:
        rule = await store.add_rule("p", rule_in("nan", cooldown=60, actions=[
            {"type": "webhook", "url": "http://hooks.example/x"},
        ]))  # fmt: skip
        a, b = [(await store.create_run(RunCreate(project="p"))).id for _ in range(2)]
        fired = [
            await store.record_alert(rule, a, "m1", {}, 1000.0),
            await store.record_alert(rule, a, "m2", {}, 1059.0),  # within the cooldown
            await store.record_alert(rule, b, "m3", {}, 1059.0),  # another run
            await store.record_alert(rule, a, "m4", {}, 1060.0),  # past it
            await store.record_alert(rule, "nosuchrun", "m5", {}, 2000.0),
        ]
        first = fired[0]
        assert first is not None
        await store.set_alert_action(first.id, 0, {"state": "failed", "attempts": 3})
        updated = await store.set_alert_action(first.id, 0, {"error": "HTTP 503"})
        gone = await store.set_alert_action(10_000, 0, {"state": "failed"})
        listed = [x.message for x in await store.list_alerts("p")]
        of_a = [x.message for x in await store.list_alerts("p", a, limit=1)]
        return fired, updated, gone, listed, of_a, await store.list_alerts("q")

    fired, updated, gone, listed, of_a, other = run(with_store(make_store, work))
    assert [f is not None for f in fired] == [True, False, True, True, False]
    assert updated.actions == [{"type": "webhook", "state": "failed", "attempts": 3,
                                "target": "http://hooks.example/…", "error": "HTTP 503"}]  # fmt: skip
    assert gone is None
    assert listed == ["m4", "m3", "m1"] and of_a == ["m4"] and other == []


def test_ingest_hands_in_process_listeners_the_points_as_float_columns(
    make_store: StoreMaker,
) -> None:
    heard = Heard()

    async def work(store: Store) -> None:
        store.add_commit_listener(heard)
        r = (await store.create_run(RunCreate(project="p"))).id
        rows = [PointRow(5, 1.0, {"loss": "nan", "acc": 0.5}), PointRow(6, 2.0, {"loss": 2})]
        ack = await store.ingest(r, prepare_batch(Batch("t", 1, points=rows)))
        await heard.until(ack.seq_last)

    run(with_store(make_store, work))
    (points,) = [x for c in heard.commits for x in c.records if isinstance(x, PointsRecord)]
    loss = points.columns["loss"]
    assert loss.step == [5, 6] and loss.value[1] == 2.0 and loss.value[0] != loss.value[0]
    assert points.columns["acc"].value == [0.5]


def test_replicas_loading_one_rules_file_at_once_keep_one_copy(make_store: StoreMaker) -> None:
    async def work() -> list[str]:
        stores = [make_store() for _ in range(3)]
        for store in stores:
            await store.open()
        try:
            rules = [("p", rule_in("a")), ("p", rule_in("b"))]
            await asyncio.gather(*(s.replace_file_rules(rules) for s in stores for _ in range(3)))
            return [r.name for r in await stores[0].list_rules("p")]
        finally:
            for store in stores:
                await store.close()

    assert sorted(run(work())) == ["a", "b"]
