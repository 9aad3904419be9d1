"""The rule engine on a real store of every backend, driven through real commits, with a clock the test
moves (time-based conditions are checked by ``tick()``, never by sleeping)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from runwatch.bus import MemoryBus
from runwatch.protocol import Batch, PointRow, RunCreate, StatusIn
from runwatch.rules.engine import RuleEngine, alerts_channel
from runwatch.rules.spec import RuleIn
from runwatch.rules.targets import WebhookPolicy, parse_networks
from runwatch.rules.webhooks import WebhookSender
from runwatch.store.base import Committed, Record, Store
from runwatch.store.prepare import prepare_batch
from tests.rules.receiver import WebhookReceiver
from tests.store.aio import run
from tests.store.conftest import StoreMaker


class Clock:
    """Now, as the engine sees it; the test moves it."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self, store: Store, engine: RuleEngine, clock: Clock, bus: MemoryBus):
        self.store, self.engine, self.clock, self.bus = store, engine, clock, bus
        self.seen: dict[str, int] = {}
        self._seen_changed = asyncio.Event()
        self._batch_seq = 0
        self.pushed: list[dict[str, Any]] = []

    def listener(self, committed: list[Committed]) -> None:
        # Listeners run in order: once this one saw a seq, the engine's listener saw it too.
        for change in committed:
            last = max((r.seq for r in change.records), default=0)
            self.seen[change.run_id] = max(self.seen.get(change.run_id, 0), last)
        self._seen_changed.set()

    async def rule(self, project: str = "p", **spec: Any) -> int:
        rule = await self.store.add_rule(project, msgspec.convert(spec, RuleIn))
        await self.engine.reload()
        return rule.id

    async def run(self, project: str = "p") -> str:
        return (await self.store.create_run(RunCreate(project=project))).id

    async def log(
        self, run_id: str, rows: list[tuple[int, dict[str, Any]]], status: str | None = None
    ) -> None:
        """Ingest one batch and wait until the engine has evaluated it."""
        self._batch_seq += 1
        batch = Batch(
            producer="t",
            batch_seq=self._batch_seq,
            points=[PointRow(step, time.time(), values) for step, values in rows],
            status=StatusIn(state=status, ts=time.time()) if status else None,  # type: ignore[arg-type]
        )
        ack = await self.store.ingest(run_id, prepare_batch(batch))
        while self.seen.get(run_id, 0) < ack.seq_last:
            self._seen_changed.clear()
            await asyncio.wait_for(self._seen_changed.wait(), 10)
        await self.engine.idle()

    async def alerts(self, project: str = "p") -> list[Any]:
        return list(reversed(await self.store.list_alerts(project)))


def engine_test(
    make_store: StoreMaker, work: Callable[[Harness], Awaitable[Any]], **kw: Any
) -> Any:
    async def main() -> Any:
        store = make_store()
        await store.open()
        bus = MemoryBus()
        clock = Clock()
        engine = RuleEngine(store, bus, clock=clock, tick=0, **kw)
        h = Harness(store, engine, clock, bus)
        store.add_commit_listener(engine.on_commit)
        store.add_commit_listener(h.listener)
        await engine.start()
        try:
            return await work(h)
        finally:
            await engine.stop()
            await store.close()

    return run(main())


def test_nan_fires_once_per_episode_with_an_event_in_the_feed(make_store: StoreMaker) -> None:
    async def work(h: Harness) -> Any:
        await h.rule(name="diverged", condition={"type": "nonfinite", "key": "loss"}, cooldown=0)
        r = await h.run()
        unsubscribe = h.bus.subscribe(
            alerts_channel("p"),
            lambda recs: h.pushed.extend(msgspec.json.decode(x.body) for x in recs),
        )
        await h.log(r, [(s, {"loss": 1.0 / (s + 1), "acc": 0.5}) for s in range(5)])
        await h.log(r, [(5, {"loss": math.nan}), (6, {"loss": "inf"}), (7, {"acc": 1.0})])
        await h.log(r, [(8, {"loss": math.nan})])  # still the same episode: no new alert
        first = await h.alerts()
        await h.log(r, [(9, {"loss": 0.3}), (10, {"loss": "-inf"})])  # recovered, then again
        unsubscribe()
        events = await h.store.events(r, kind="alert")
        return first, await h.alerts(), events

    first, alerts, events = engine_test(make_store, work)
    assert len(first) == 1
    assert first[0].detail == {"condition": "nonfinite", "key": "loss", "step": 5, "value": "nan"}
    assert first[0].message == "loss is nan at step 5" and first[0].level == "warning"
    assert [a.detail["step"] for a in alerts] == [5, 10]
    assert [e.payload["alert_id"] for e in events] == [a.id for a in alerts]
    assert events[0].seq == alerts[0].event_seq and events[0].payload["rule"] == "diverged"


def test_the_cooldown_suppresses_a_new_episode_on_the_same_run(make_store: StoreMaker) -> None:
    async def work(h: Harness) -> Any:
        await h.rule(name="nan", condition={"type": "nonfinite", "key": "x"}, cooldown=60)
        r = await h.run()
        await h.log(r, [(0, {"x": math.nan}), (1, {"x": 1.0})])
        h.clock.now += 30
        await h.log(r, [(2, {"x": math.nan}), (3, {"x": 1.0})])  # within 60 s: suppressed
        h.clock.now += 31
        await h.log(r, [(4, {"x": math.nan})])  # past the cooldown: a new alert
        return await h.alerts()

    assert [a.detail["step"] for a in engine_test(make_store, work)] == [0, 4]


def test_a_threshold_needs_n_consecutive_points(make_store: StoreMaker) -> None:
    async def work(h: Harness) -> Any:
        cond = {"type": "threshold", "key": "loss", "op": "above", "value": 10, "points": 3}
        await h.rule(name="exploding", condition=cond, cooldown=0)
        await h.rule(name="low", condition={"type": "threshold", "key": "acc", "op": "below",
                                            "value": 0.1})  # fmt: skip
        r = await h.run()
        await h.log(r, [(0, {"loss": 11, "acc": 0.5}), (1, {"loss": 12}), (2, {"loss": 9})])
        await h.log(r, [(3, {"loss": 11}), (4, {"loss": 20})])
        await h.log(r, [(5, {"loss": 30}), (6, {"loss": 40}), (7, {"acc": 0.05})])
        return await h.alerts()

    alerts = engine_test(make_store, work)
    assert [(a.rule_name, a.detail["step"]) for a in alerts] == [("exploding", 5), ("low", 7)]
    assert alerts[0].message == "loss = 30 above 10 at step 5 (3 points in a row)"


def test_plateau_by_steps_fires_at_the_step_the_wait_ends(make_store: StoreMaker) -> None:
    async def work(h: Harness) -> Any:
        cond = {"type": "plateau", "key": "loss", "mode": "min", "steps": 50}
        await h.rule(name="stuck", condition=cond, cooldown=0)
        r = await h.run()
        # Improves until step 100 (best 1/101), then hovers above it; batches of 7 points.
        series = [(s, 1 / (s + 1) if s <= 100 else 0.02 + (s % 3) * 0.001) for s in range(200)]
        for at in range(0, 200, 7):
            await h.log(r, [(s, {"loss": v}) for s, v in series[at : at + 7]])
        before = await h.alerts()
        await h.log(r, [(200, {"loss": 0.001}), (260, {"loss": 0.002})])  # better, then flat
        return before, await h.alerts()

    before, after = engine_test(make_store, work)
    assert len(before) == 1
    assert before[0].detail["step"] == 150 and before[0].detail["best_step"] == 100
    assert before[0].detail["best"] == 1 / 101
    assert [a.detail["step"] for a in after] == [150, 260]


def test_plateau_by_max_and_min_delta_counts_only_real_improvements(make_store: StoreMaker) -> None:
    async def work(h: Harness) -> Any:
        cond = {"type": "plateau", "key": "acc", "mode": "max", "steps": 10, "min_delta": 0.05}
        await h.rule(name="acc flat", condition=cond)
        r = await h.run()
        # +0.01 a step: never 0.05 above the best at once... until step 5, 10, 15 (cumulative).
        await h.log(r, [(s, {"acc": 0.5 + 0.011 * s}) for s in range(12)])
        mid = await h.alerts()
        await h.log(r, [(s, {"acc": 0.6}) for s in range(12, 30)])
        return mid, await h.alerts()

    mid, after = engine_test(make_store, work)
    assert mid == []
    # Bests at steps 0, 5, 10 (each > 0.05 above the last best); flat after: fires at 20.
    assert [(a.detail["best_step"], a.detail["step"]) for a in after] == [(10, 20)]


def test_stalled_and_plateau_by_minutes_fire_on_the_clock(make_store: StoreMaker) -> None:
    async def work(h: Harness) -> Any:
        await h.rule(name="stalled", condition={"type": "stalled", "minutes": 5}, cooldown=0)
        cond = {"type": "plateau", "key": "loss", "minutes": 10}
        await h.rule(name="slow", condition=cond, cooldown=0)
        r = await h.run()
        done = await h.run()
        await h.log(r, [(0, {"loss": 1.0}), (1, {"loss": 0.5})])
        await h.log(done, [(0, {"loss": 1.0})], status="succeeded")  # finished: never stalls
        t0 = h.clock.now
        seen = []
        for minutes in (4.9, 5.0, 7.0):
            h.clock.now = t0 + minutes * 60
            await h.engine.tick()
            seen.append([a.rule_name for a in await h.alerts()])
        await h.log(r, [(2, {"loss": 0.6})])  # data again (no improvement): the stall is over
        h.clock.now = t0 + 10 * 60
        await h.engine.tick()
        seen.append([a.rule_name for a in await h.alerts()])
        h.clock.now = t0 + 12.1 * 60
        await h.engine.tick()
        seen.append([(a.rule_name, a.run_id) for a in await h.alerts()])
        return r, seen

    r, seen = engine_test(make_store, work)
    assert seen[:4] == [[], ["stalled"], ["stalled"], ["stalled", "slow"]]
    assert seen[4] == [("stalled", r), ("slow", r), ("stalled", r)]


def test_status_rules_and_command_and_cancel_actions(make_store: StoreMaker) -> None:
    async def work(h: Harness) -> Any:
        await h.rule(name="failed", condition={"type": "status", "states": ["failed"]},
                     actions=[{"type": "event", "level": "error"}])  # fmt: skip
        actions = [
            {"type": "command", "kind": "lower_lr", "payload": {"factor": 0.5}},
            {"type": "cancel"},
        ]
        await h.rule(name="nan", condition={"type": "nonfinite", "key": "loss"}, actions=actions)
        r1, r2 = await h.run(), await h.run()
        await h.log(r1, [(0, {"loss": math.nan})])
        await h.log(r2, [(0, {"loss": 1.0})], status="failed")
        return await h.alerts(), await h.store.list_commands(r1), await h.store.events(r2)

    alerts, commands, r2_events = engine_test(make_store, work)
    assert [(a.rule_name, a.level) for a in alerts] == [("nan", "warning"), ("failed", "error")]
    assert [(c.kind, c.payload) for c in reversed(commands)] == [
        ("lower_lr", {"factor": 0.5}),
        ("cancel", {"reason": "rule 'nan': loss is nan at step 0"}),
    ]
    assert [o["state"] for o in alerts[0].actions] == ["done", "done"]
    assert alerts[1].detail == {"condition": "status", "status": "failed"}
    assert [e.kind for e in r2_events][-1] == "alert" and r2_events[-1].level == "error"


def test_a_run_rule_watches_only_its_run_and_other_projects_are_ignored(
    make_store: StoreMaker,
) -> None:
    async def work(h: Harness) -> Any:
        r1, r2, other = await h.run(), await h.run(), await h.run("q")
        await h.rule(name="one run", condition={"type": "nonfinite", "key": "x"}, run=r1)
        for r in (r1, r2, other):
            await h.log(r, [(0, {"x": math.nan})])
        return r1, await h.alerts(), await h.alerts("q")

    r1, alerts, other = engine_test(make_store, work)
    assert [a.run_id for a in alerts] == [r1] and other == []


def test_webhooks_are_delivered_once_and_failures_are_retried_then_visible(
    make_store: StoreMaker,
) -> None:
    with WebhookReceiver(200) as good, WebhookReceiver(503) as bad:

        async def work(h: Harness) -> Any:
            actions = [{"type": "webhook", "url": good.url}, {"type": "webhook", "url": bad.url}]
            await h.rule(name="nan", condition={"type": "nonfinite", "key": "x"}, actions=actions)
            r = await h.run()
            await h.log(r, [(3, {"x": "inf"})])  # as on the wire (JSON has no inf)
            return await h.alerts(), h.engine.health()

        sender: dict[str, Any] = {}

        def webhooks(store: Store, on_update: Any) -> WebhookSender:
            sender["s"] = WebhookSender(
                store,
                on_update,
                timeout=2,
                attempts=3,
                backoff=0.01,
                policy=WebhookPolicy(parse_networks(["127.0.0.0/8"])),
            )
            return sender["s"]

        alerts, health = engine_test_with_sender(make_store, work, webhooks)
        assert len(good.bodies) == 1 and len(bad.bodies) == 3
    body = good.bodies[0]
    assert body["text"] == body["content"]
    assert "nan" in body["text"] and "x is inf at step 3" in body["text"]
    assert body["alert"]["detail"]["step"] == 3 and body["alert"]["rule"] == "nan"
    delivered, failed = alerts[0].actions
    assert delivered["state"] == "delivered" and delivered["attempts"] == 1
    assert failed == {"type": "webhook", "state": "failed", "target": "http://127.0.0.1/…",
                      "attempts": 3, "error": "HTTP 503"}  # fmt: skip
    assert health["webhooks_delivered"] == 1 and health["webhooks_failed"] == 1


def engine_test_with_sender(make_store: StoreMaker, work: Any, make: Any) -> Any:
    """Like ``engine_test`` with a webhook sender made for the engine's store and callback."""

    async def main() -> Any:
        store = make_store()
        await store.open()
        bus, clock = MemoryBus(), Clock()
        engine = RuleEngine(store, bus, clock=clock, tick=0)
        engine.webhooks = make(store, engine.publish)
        h = Harness(store, engine, clock, bus)
        store.add_commit_listener(engine.on_commit)
        store.add_commit_listener(h.listener)
        await engine.start()
        try:
            return await work(h)
        finally:
            await engine.stop()
            await store.close()

    return run(main())


def test_records_of_alerts_on_the_bus_carry_the_alert(make_store: StoreMaker) -> None:
    async def work(h: Harness) -> Any:
        got: list[Record] = []
        h.bus.subscribe(alerts_channel("p"), got.extend)
        await h.rule(name="nan", condition={"type": "nonfinite", "key": "x"})
        await h.log(await h.run(), [(0, {"x": math.nan})])
        return [msgspec.json.decode(r.body) for r in got]

    (pushed,) = engine_test(make_store, work)
    assert pushed["type"] == "alert" and pushed["alert"]["rule_name"] == "nan"


def test_a_points_record_without_columns_is_decoded_from_its_body(make_store: StoreMaker) -> None:
    """A store that hands listeners only the journaled body (no columns) gets the same alerts."""

    async def work(h: Harness) -> Any:
        await h.rule(name="nan", condition={"type": "nonfinite", "key": "loss"})
        cond = {"type": "threshold", "key": "acc", "op": "below", "value": 0.5, "points": 2}
        await h.rule(name="low", condition=cond)
        r = await h.run()
        body = (
            b'{"seq":2,"type":"points","points":{"loss":{"step":[7,8],"ts":[1.0,2.0],'
            b'"value":[0.5,"-inf"]},"acc":{"step":[7,8],"ts":[1.0,2.0],"value":[0.4,0.3]}}}'
        )
        await h.engine.evaluate([Committed(r, [Record(2, body)])])
        return await h.alerts()

    alerts = engine_test(make_store, work)
    assert [(a.rule_name, a.detail["step"], a.detail["value"]) for a in alerts] == [
        ("nan", 8, "-inf"),
        ("low", 8, 0.3),
    ]
