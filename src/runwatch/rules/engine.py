"""The rule engine: watches every committed batch against the active rules, once, and acts.

It listens to the store's commits (off the ingest ack path: the listener only queues), decodes
a run's points and status records only when the run's project has rules, and folds them into
per-(rule, run) state (see :mod:`runwatch.rules.conditions`). A timer checks the time-based
conditions (stalled, plateau by minutes) with a clock that tests can drive. A firing is recorded
once per episode (the store enforces each rule's cooldown), put into the run's feed as an
``alert`` event, published on the project's alerts channel, and acted on: webhooks are queued
to :class:`~runwatch.rules.webhooks.WebhookSender`, commands and cancel go through the same
command machinery as the dashboard's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from runwatch.bus.base import Bus
from runwatch.commit_queue import CommitQueue
from runwatch.live_records import LiveRecord, decode_live
from runwatch.protocol import FINAL_STATUSES, Value, decode_value
from runwatch.rules.conditions import Column, Trigger, WatchState, on_points, on_status, on_tick
from runwatch.rules.spec import (
    Alert,
    CancelAction,
    CommandAction,
    Plateau,
    Rule,
    Stalled,
    StatusIs,
    WebhookAction,
)
from runwatch.rules.targets import WebhookPolicy
from runwatch.rules.webhooks import WebhookSender
from runwatch.store.base import Committed, PointsRecord, Record, Store
from runwatch.store.errors import StoreError

logger = logging.getLogger("runwatch.rules")
BACKLOG = 10_000  # commits waiting for evaluation; past it the oldest are dropped (counted)
STATES_CAP = 100_000  # (rule, run) states kept; the least recently used go first
PROJECTS_CAP = 50_000  # run -> project cache; cleared when full, refilled lazily
TICK = 1.0  # seconds between checks of the time-based conditions
SYSTEM_PREFIX = "sys/"  # the SDK's own vitals (sdk/vitals.py): not the run's progress
RELOAD_EVERY = 10.0  # seconds between re-reads of the rules (another replica may change them)


def alerts_channel(project: str) -> str:
    """The bus channel of a project's alerts: each record is one new or updated alert."""
    return f"alerts:{project}"


def alert_record(alert: Alert) -> Record:
    """An alert as a live message on its project's alerts channel."""
    return Record(alert.id, msgspec.json.encode({"type": "alert", "alert": alert}))


def _column(steps: list[int], wire: list[Value]) -> Column:
    """Wire values as floats: all numbers (the common case) pass as they are, and their sum
    (which says whether all are finite) comes for free; "nan"/"inf"/null are converted."""
    try:
        total = sum(wire)  # type: ignore[arg-type]
    except TypeError:
        return Column(steps, [decode_value(v) for v in wire])
    return Column(steps, wire, total)  # type: ignore[arg-type]


def _is_progress(keys: Iterable[str]) -> bool:
    """Points with a key other than ``sys/*``: the run's own data. The SDK's ``sys/*`` vitals come
    from its sender thread while the training loop may be hung, so they say the process is alive,
    not that the run moves on; alone, they do not reset a ``stalled`` rule's clock."""
    return any(not key.startswith(SYSTEM_PREFIX) for key in keys)


def _is_timed(rule: Rule) -> bool:
    cond = rule.condition
    return isinstance(cond, Stalled) or (isinstance(cond, Plateau) and cond.minutes is not None)


class RuleEngine:
    """Evaluates the store's rules on committed records; ``clock`` is its notion of now."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        clock: Callable[[], float] = time.time,
        tick: float = TICK,
        webhooks: WebhookSender | None = None,
        backlog: int = BACKLOG,
        webhook_policy: WebhookPolicy | None = None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._tick = tick
        self.webhooks = webhooks or WebhookSender(store, self.publish, policy=webhook_policy)
        self._rules: dict[str, list[Rule]] = {}
        self._projects: dict[str, str] = {}
        self._states: OrderedDict[tuple[int, str], WatchState] = OrderedDict()
        self._commits = CommitQueue(self.evaluate, "rule evaluation", logger, backlog)
        self._tasks: list[asyncio.Task[None]] = []
        self.fired = 0

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the rules, then evaluate commits (and, with a tick, time) until stopped."""
        await self.reload()
        await self.webhooks.start()
        self._tasks.append(asyncio.create_task(self._commits.run(), name="runwatch-rules"))
        if self._tick > 0:
            self._tasks.append(asyncio.create_task(self._timer(), name="runwatch-rules-timer"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.webhooks.stop()

    async def reload(self) -> None:
        """Re-read the rules (after a change); state of deleted rules is forgotten."""
        by_project: dict[str, list[Rule]] = {}
        for rule in await self._store.list_rules():
            by_project.setdefault(rule.project, []).append(rule)
        self._rules = by_project
        live = {r.id for rules in by_project.values() for r in rules}
        for key in [k for k in self._states if k[0] not in live]:
            del self._states[key]

    def health(self) -> dict[str, Any]:
        return {
            "rules": sum(len(r) for r in self._rules.values()),
            "backlog": len(self._commits),
            "dropped_commits": self._commits.dropped,
            "fired": self.fired,
            "webhooks_delivered": self.webhooks.delivered,
            "webhooks_failed": self.webhooks.failed,
        }

    # -- the commit path -------------------------------------------------------------------
    def on_commit(self, committed: list[Committed]) -> None:
        """The store's commit listener: queue the commit, never evaluate here (ack path)."""
        if not self._rules:
            return
        self._commits.put(committed)

    async def idle(self) -> None:
        """Wait until every queued commit is evaluated and queued webhooks are done."""
        await self._commits.idle()
        await self.webhooks.idle()

    async def evaluate(self, committed: list[Committed]) -> None:
        """Fold one commit's points and status records into the rules of their runs."""
        for change in committed:
            rules = await self._rules_of(change.run_id)
            if not rules:
                continue
            for record in change.records:
                if isinstance(record, PointsRecord):  # values already floats: nothing to decode
                    cols = {k: Column(c.step, c.value) for k, c in record.columns.items()}
                    await self._apply(rules, change.run_id, LiveRecord("points"), cols)
                    continue
                head = record.body[:48]
                if b'"type":"points"' in head or b'"type":"status"' in head:
                    await self._apply(rules, change.run_id, decode_live(record.body))

    async def _apply(
        self,
        rules: list[Rule],
        run_id: str,
        msg: LiveRecord,
        columns: dict[str, Column] | None = None,
    ) -> None:
        now = self._clock()
        fired: list[tuple[Rule, Trigger]] = []
        if msg.type == "status" and msg.state is not None:
            for rule in rules:
                if isinstance(rule.condition, StatusIs):
                    trigger = on_status(rule.condition, self._state(rule, run_id, now), msg.state)
                    if trigger:
                        fired.append((rule, trigger))
            if msg.state in FINAL_STATUSES:
                self._forget_run(run_id)
        elif msg.type == "points":
            columns = {} if columns is None else columns  # one per key, shared by its rules
            progress = _is_progress(columns or msg.points)
            for rule in rules:
                cond = rule.condition
                key = getattr(cond, "key", None)
                if key is None:
                    if isinstance(cond, Stalled) and progress:
                        on_points(cond, self._state(rule, run_id, now), Column([], []), now)
                    continue
                column = columns.get(key)
                if column is None:
                    wire = msg.points.get(key)
                    if wire is None or not wire.step:
                        continue
                    column = columns[key] = _column(wire.step, wire.value)
                state = self._state(rule, run_id, now)
                trigger = on_points(cond, state, column, now)
                if trigger:
                    fired.append((rule, trigger))
        for rule, trigger in fired:
            await self.fire(rule, run_id, trigger)

    # -- the timer -------------------------------------------------------------------------
    async def _timer(self) -> None:
        loop = asyncio.get_running_loop()
        reloaded = loop.time()
        while True:
            await asyncio.sleep(self._tick)
            try:
                if loop.time() - reloaded >= RELOAD_EVERY:
                    reloaded = loop.time()
                    await self.reload()
                await self.tick()
            except StoreError as exc:
                logger.warning("rule timer skipped a round: %s", exc.message)
            except Exception:  # a bug must not stop the timer for good: log, go on
                logger.exception("rule timer round failed")

    async def tick(self) -> None:
        """Check the time-based conditions of every running run whose project has them."""
        now = self._clock()
        for project, rules in list(self._rules.items()):
            timed = [r for r in rules if _is_timed(r)]
            if not timed:
                continue
            for run in await self._store.list_runs(project, "running"):
                self._remember(run.id, project)
                since = run.last_update or run.created_at
                for rule in timed:
                    if rule.run is not None and rule.run != run.id:
                        continue
                    trigger = on_tick(rule.condition, self._state(rule, run.id, since), now)
                    if trigger:
                        await self.fire(rule, run.id, trigger)

    # -- firing ----------------------------------------------------------------------------
    async def fire(self, rule: Rule, run_id: str, trigger: Trigger) -> Alert | None:
        """Record the alert (unless within the cooldown) and take the rule's actions."""
        alert = await self._store.record_alert(
            rule, run_id, trigger.message, trigger.detail, self._clock()
        )
        if alert is None:
            return None
        self.fired += 1
        self.publish(alert)
        for index, action in enumerate(rule.actions):
            if isinstance(action, WebhookAction):
                await self.webhooks.enqueue(alert, index, action.url)
            elif isinstance(action, CommandAction | CancelAction):
                await self._command(alert, index, action)
        return alert

    async def _command(
        self, alert: Alert, index: int, action: CommandAction | CancelAction
    ) -> None:
        if isinstance(action, CancelAction):
            kind, payload = "cancel", {"reason": f"rule {alert.rule_name!r}: {alert.message}"}
        else:
            kind, payload = action.kind, action.payload
        outcome: dict[str, Any] = {"state": "done", "error": None}
        try:
            command, _ = await self._store.add_command(alert.run_id, kind, payload)
            outcome["command_id"] = command.id
        except StoreError as exc:  # e.g. the run finished meanwhile (409)
            outcome = {"state": "failed", "error": exc.message}
        updated = await self._store.set_alert_action(alert.id, index, outcome)
        if updated is not None:
            self.publish(updated)

    def publish(self, alert: Alert) -> None:
        """Push a new or updated alert to the project's Alerts viewers (any replica)."""
        self._bus.publish(alerts_channel(alert.project), [alert_record(alert)])

    # -- bounded state ---------------------------------------------------------------------
    async def _rules_of(self, run_id: str) -> list[Rule]:
        project = self._projects.get(run_id)
        if project is None:
            run = await self._store.get_run(run_id)
            if run is None:
                return []
            project = run.project
            self._remember(run_id, project)
        return [r for r in self._rules.get(project, ()) if r.run is None or r.run == run_id]

    def _remember(self, run_id: str, project: str) -> None:
        if len(self._projects) >= PROJECTS_CAP:
            self._projects.clear()
        self._projects[run_id] = project

    def _state(self, rule: Rule, run_id: str, since: float) -> WatchState:
        key = (rule.id, run_id)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = WatchState(last_data=since, best_at=since)
            if len(self._states) > STATES_CAP:
                self._states.popitem(last=False)
        else:
            self._states.move_to_end(key)
        return state

    def _forget_run(self, run_id: str) -> None:
        for key in [k for k in self._states if k[1] == run_id]:
            del self._states[key]
