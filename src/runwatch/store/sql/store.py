"""The store: every storage concern written once against the seam (``tx`` and ``executor``).

A backend is an :class:`~runwatch.store.sql.executor.Executor` (how jobs reach its database:
SQLite's writer thread and readers, PostgreSQL's pool) whose transactions speak its
:class:`~runwatch.store.sql.tx.Dialect`; ``SqliteStore`` and ``PostgresStore`` only build one.
Write jobs return what they committed, which the executor hands back in commit order and this
class passes to the event loop for the live fan-out.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

from runwatch.protocol import (
    CLAIM_LEASE,
    ArchivedCommand,
    BatchAck,
    Command,
    Retention,
    RunCreate,
    RunPatch,
)
from runwatch.rules.spec import Alert, Rule, RuleIn
from runwatch.runs_query.nodes import Field
from runwatch.store.base import (
    CommitListener,
    Committed,
    EventRecord,
    Judge,
    MetricsResult,
    ProjectInfo,
    Promotion,
    Propose,
    QueuedRun,
    Record,
    RungReached,
    RunInfo,
    RunsGroup,
    RunsPage,
    RunsQuery,
    RunState,
    Series,
    SweepCreate,
    SweepInfo,
    TokenInfo,
    Trial,
    TrialClaim,
    WatchedTrial,
    replay_sql,
)
from runwatch.store.chunks import RawPoint
from runwatch.store.prepare import PreparedBatch
from runwatch.store.snapshots import EPSILON
from runwatch.store.sql import (
    archive,
    control,
    early_stop,
    events,
    media,
    objects,
    projects,
    purge,
    queries,
    queue,
    records,
    retention,
    rules,
    runs,
    sweeps,
    tokens,
)
from runwatch.store.sql.executor import Executor
from runwatch.store.sql.ingest import ingest_job
from runwatch.store.sql.points import Points
from runwatch.store.sql.rules import replace_file_rules
from runwatch.store.sql.runs import VITALS_HISTORY
from runwatch.store.sql.tx import Tx

T = TypeVar("T")


class SqlStore:
    """Runs, series, events and the live journal in one SQL database, through ``executor``."""

    def __init__(
        self,
        executor: Executor,
        snapshot_epsilon: float = EPSILON,
        claim_lease: float = CLAIM_LEASE,
        clock: Callable[[], float] = time.time,
        purge_rows: int = purge.PURGE_ROWS,
    ) -> None:
        """``snapshot_epsilon``: a snapshot version is kept between log-spaced ages when it
        changed by more than this. ``claim_lease``: seconds a sweep trial's claim holds without
        its run (then the trial is crashed, and retried), judged by ``clock``. ``purge_rows``:
        rows a deleted run's purge removes per write job."""
        self._executor = executor
        self._snapshot_epsilon = snapshot_epsilon
        self._claim_lease = claim_lease
        self._clock = clock
        self._points = Points()
        # Drafts of one sweep's trials are made one at a time in this process (striped by
        # sweep id: a fixed number of locks), so concurrent agents do not all draft the same
        # index and throw all but one away; only replicas still race, and redraft.
        self._draft_locks = [asyncio.Lock() for _ in range(16)]
        self._listeners: list[CommitListener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._purges = purge.Purges(self._write_quiet, purge_rows)

    # -- lifecycle -------------------------------------------------------------------------
    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._executor.open(self._dispatch_commit)
        for run_id in await self._read_tx(purge.pending):  # left halfway when it last closed
            self._purges.start(run_id)

    async def close(self) -> None:
        await self._purges.stop()
        await self._executor.close()

    def add_commit_listener(self, listener: CommitListener) -> None:
        self._listeners.append(listener)

    def _dispatch_commit(self, committed: list[Committed]) -> None:
        # Called on the committing thread; call_soon_threadsafe keeps commit order on the loop.
        if self._loop is not None and not self._loop.is_closed():
            for listener in self._listeners:
                self._loop.call_soon_threadsafe(listener, committed)

    async def _write_tx(self, job: Callable[[Tx], tuple[T, list[Committed]]]) -> T:
        return await self._executor.write(job)

    async def _write_run(self, run_id: str, fn: Callable[[Tx], tuple[T, list[Record]]]) -> T:
        """A write whose live records, if any, belong to ``run_id``."""

        def job(tx: Tx) -> tuple[T, list[Committed]]:
            result, changes = fn(tx)
            return result, [Committed(run_id, changes)] if changes else []

        return await self._executor.write(job)

    async def _write_quiet(self, fn: Callable[[Tx], T]) -> T:
        """A write that no viewer hears of."""
        return await self._executor.write(lambda tx: (fn(tx), []))

    async def _read_tx(self, fn: Callable[[Tx], T]) -> T:
        return await self._executor.read(fn)

    # -- runs ------------------------------------------------------------------------------
    async def create_run(self, spec: RunCreate) -> RunInfo:
        run_id = spec.id or secrets.token_hex(6)
        return await self._write_run(run_id, lambda tx: runs.create_run(tx, run_id, spec))

    async def update_run(self, run_id: str, patch: RunPatch) -> RunInfo:
        return await self._write_run(run_id, lambda tx: runs.update_run(tx, run_id, patch))

    async def last_step(self, run_id: str) -> int | None:
        return await self._read_tx(lambda tx: runs.last_step(tx, run_id))

    async def delete_run(self, run_id: str) -> RunInfo:
        run = await self._write_run(run_id, lambda tx: purge.delete(tx, run_id, time.time()))
        self._purges.start(run_id)
        return run

    async def purged(self, run_id: str) -> None:
        await self._purges.wait(run_id)

    async def deleted_project(self, run_id: str) -> str | None:
        return await self._read_tx(lambda tx: purge.deleted_project(tx, run_id))

    async def deleted_runs(self) -> list[str]:
        return await self._read_tx(purge.deleted)

    # -- the run queue ----------------------------------------------------------------------
    async def enqueue_run(self, spec: RunCreate, template: str, params: dict[str, Any]) -> RunInfo:
        run_id = spec.id or secrets.token_hex(6)

        def job(tx: Tx) -> tuple[RunInfo, list[Record]]:
            run, record = queue.enqueue(tx, run_id, spec, template, params)
            return run, [record]

        return await self._write_run(run_id, job)

    async def claim_queued(self, max_running: int) -> QueuedRun | None:
        def job(tx: Tx) -> tuple[QueuedRun | None, list[Committed]]:
            claimed = queue.claim(tx, max_running)
            if claimed is None:
                return None, []
            queued, record = claimed
            return queued, [Committed(queued.run.id, [record])]

        return await self._write_tx(job)

    # -- sweeps ------------------------------------------------------------------------------
    def _expired(self) -> float:
        """The time before which a trial's claim (stamped by the same clock) has expired."""
        return self._clock() - self._claim_lease

    async def create_sweep(self, sweep: SweepCreate) -> SweepInfo:
        expired = self._expired()
        return await self._write_quiet(lambda tx: sweeps.create(tx, sweep, expired))

    async def get_sweep(self, sweep_id: str) -> SweepInfo | None:
        expired = self._expired()
        return await self._read_tx(lambda tx: sweeps.fetch(tx, sweep_id, expired))

    async def claim_trial(self, sweep_id: str, agent: str | None, propose: Propose) -> TrialClaim:
        async with self._draft_locks[zlib.crc32(sweep_id.encode()) % len(self._draft_locks)]:
            return await self._claim_trial(sweep_id, agent, propose)

    async def _claim_trial(self, sweep_id: str, agent: str | None, propose: Propose) -> TrialClaim:
        now = self._clock()
        expired = now - self._claim_lease
        for _ in range(sweeps.DRAFTS):
            drafted = await self._read_tx(lambda tx: sweeps.draft(tx, sweep_id, propose, expired))
            if drafted is None:
                break
            claim = await self._write_quiet(
                functools.partial(sweeps.claim_drafted, sweep_id=sweep_id, agent=agent,
                                  drafted=drafted, now=now, expired=expired)
            )  # fmt: skip
            if claim is not None:
                return claim
        return await self._write_quiet(
            lambda tx: sweeps.claim(tx, sweep_id, agent, propose, now, expired)
        )

    async def set_sweep_state(self, sweep_id: str, action: str) -> SweepInfo:
        expired = self._expired()
        return await self._write_quiet(lambda tx: sweeps.set_state(tx, sweep_id, action, expired))

    async def list_trials(self, sweep_id: str, after: int, limit: int) -> list[Trial]:
        expired = self._expired()
        return await self._read_tx(lambda tx: sweeps.trials(tx, sweep_id, after, limit, expired))

    async def watched_trial(self, run_id: str) -> WatchedTrial | None:
        return await self._read_tx(lambda tx: early_stop.watched_trial(tx, run_id))

    async def reach_rung(self, reached: RungReached, judge: Judge) -> dict[str, Any] | None:
        return await self._write_run(
            reached.run_id, lambda tx: early_stop.reach_rung(tx, reached, judge)
        )

    async def get_run(self, run_id: str) -> RunInfo | None:
        return await self._read_tx(lambda tx: records.fetch_run(tx, run_id))

    async def list_runs(
        self, project: str | None = None, status: str | None = None, tag: str | None = None
    ) -> list[RunInfo]:
        return await self._read_tx(lambda tx: runs.list_runs(tx, project, status, tag))

    async def query_runs(self, query: RunsQuery) -> RunsPage:
        return await self._read_tx(lambda tx: runs.query_runs(tx, query))

    async def group_runs(self, query: RunsQuery, by: Field, values: list[Field]) -> list[RunsGroup]:
        return await self._read_tx(lambda tx: runs.group_runs(tx, query, by, values))

    async def list_projects(self) -> list[ProjectInfo]:
        return await self._read_tx(projects.list_projects)

    # -- ingest ----------------------------------------------------------------------------
    async def ingest(self, run_id: str, batch: PreparedBatch, alive: bool = True) -> BatchAck:
        return await self._write_tx(
            lambda tx: ingest_job(tx, self._points, run_id, batch, self._snapshot_epsilon, alive)
        )

    # -- lifecycle and control -------------------------------------------------------------
    async def heartbeat(self, run_id: str) -> RunInfo:
        def job(tx: Tx) -> tuple[RunInfo, list[Record]]:
            changes = control.heard_from(tx, run_id, records.lock_run(tx, run_id))
            run = records.fetch_run(tx, run_id)
            assert run is not None
            return run, changes

        return await self._write_run(run_id, job)

    async def sweep_crashed(self, now: float, listening_since: float = 0.0) -> list[str]:
        def job(tx: Tx) -> tuple[list[str], list[Committed]]:
            crashed = control.sweep_crashed(tx, now, listening_since)
            return list(crashed), [Committed(run_id, recs) for run_id, recs in crashed.items()]

        return await self._write_tx(job)

    async def add_command(
        self, run_id: str, kind: str, payload: dict[str, Any], key: str | None = None
    ) -> tuple[Command, bool]:
        def job(tx: Tx) -> tuple[tuple[Command, bool], list[Record]]:
            cmd, created, out = control.add_command(tx, run_id, kind, payload, key)
            return (cmd, created), out

        return await self._write_run(run_id, job)

    async def deliver_commands(self, run_id: str, after: int) -> list[Command]:
        return await self._write_run(run_id, lambda tx: control.deliver_commands(tx, run_id, after))

    async def list_commands(self, run_id: str) -> list[Command]:
        return await self._read_tx(lambda tx: control.list_commands(tx, run_id))

    async def promote(
        self, run_id: str, name: str, artifact: str | None, sha256: str, detail: dict[str, Any]
    ) -> Promotion:
        return await self._write_run(
            run_id, lambda tx: control.promote(tx, run_id, name, artifact, sha256, detail)
        )

    async def list_promoted(self) -> list[Promotion]:
        return await self._read_tx(control.list_promoted)

    # -- reads -----------------------------------------------------------------------------
    async def replay(self, run_id: str, since: int, limit: int) -> list[Record]:
        sql = replay_sql("?")
        return await self._read_tx(
            lambda tx: [Record(s, bytes(b)) for s, b in tx.execute(sql, (run_id, since, limit))]
        )

    async def events(
        self,
        run_id: str,
        after: int = 0,
        limit: int = 100,
        kind: str | None = None,
        newest_first: bool = False,
    ) -> list[EventRecord]:
        return await self._read_tx(
            lambda tx: events.events(tx, run_id, after, limit, kind, newest_first)
        )

    async def entity_events(self, run_id: str, entity: str, limit: int) -> list[EventRecord]:
        return await self._read_tx(lambda tx: events.entity_events(tx, run_id, entity, limit))

    async def entity_media(self, run_id: str, entity: str, limit: int) -> dict[str, Any]:
        def job(tx: Tx) -> dict[str, Any]:
            return {
                "images": media.entity_images(tx, run_id, entity, limit),
                "snapshots": objects.entity_snapshots(tx, run_id, entity, limit),
            }

        return await self._read_tx(job)

    async def snapshot_versions(self, run_id: str, key: str) -> list[dict[str, Any]]:
        return await self._read_tx(lambda tx: objects.snapshot_versions(tx, run_id, key))

    async def snapshot_value(self, run_id: str, key: str, version: int | None) -> Any:
        return await self._read_tx(lambda tx: objects.snapshot_value(tx, run_id, key, version))

    async def logs(
        self,
        run_id: str,
        after: int,
        stream: str | None,
        limit: int,
        q: str | None = None,
        before: int | None = None,
    ) -> list[dict[str, Any]]:
        return await self._read_tx(
            lambda tx: objects.read_logs(tx, run_id, after, stream, limit, q, before)
        )

    async def artifacts(self, run_id: str) -> list[Any]:
        return await self._read_tx(lambda tx: objects.read_manifest(tx, run_id))

    async def raw_points(
        self, run_id: str, key: str, after: int, limit: int
    ) -> tuple[list[RawPoint], int]:
        return await self._read_tx(lambda tx: archive.raw_points(tx, run_id, key, after, limit))

    async def restore_times(
        self, run_id: str, created_at: float, started_at: float | None
    ) -> RunInfo:
        return await self._write_quiet(
            lambda tx: archive.restore_times(tx, run_id, created_at, started_at)
        )

    async def restore_commands(self, run_id: str, commands: list[ArchivedCommand]) -> list[Command]:
        return await self._write_quiet(lambda tx: archive.restore_commands(tx, run_id, commands))

    async def sticky(self, run_id: str, kind: Literal["tables", "point_sets"]) -> dict[str, Any]:
        read = objects.tables if kind == "tables" else objects.point_sets
        return await self._read_tx(lambda tx: read(tx, run_id))

    async def metric_keys(self, run_id: str) -> list[str]:
        return await self._read_tx(lambda tx: queries.metric_keys(tx, run_id))

    async def tails(self, run_id: str, keys: list[str], n: int) -> dict[str, Series]:
        return await self._read_tx(lambda tx: queries.tails(tx, run_id, keys, n))

    async def metrics(
        self,
        run_id: str,
        keys: list[str],
        start: float | None,
        end: float | None,
        max_points: int,
        x: Literal["step", "time"],
    ) -> MetricsResult:
        def read(tx: Tx) -> MetricsResult:
            row = tx.execute("SELECT seq FROM runs WHERE id = ?", (run_id,)).fetchone()
            series = queries.metrics(tx, run_id, keys, start, end, max_points, x)
            return MetricsResult(seq=row[0] if row else 0, series=series)

        return await self._read_tx(read)

    async def curves(
        self, run_ids: list[str], key: str, max_points: int, project: str | None = None
    ) -> dict[str, Series]:
        return await self._read_tx(lambda tx: queries.curves(tx, run_ids, key, max_points, project))

    async def state(self, run_id: str, max_points: int, events_limit: int) -> RunState | None:
        def read(tx: Tx) -> RunState | None:
            run = records.fetch_run(tx, run_id)
            if run is None:
                return None
            keys = queries.metric_keys(tx, run_id)
            metrics = queries.metrics(tx, run_id, keys, None, None, max_points, "step")
            feed = events.events(tx, run_id, 0, events_limit, None, newest_first=True)
            vital_keys = list(dict.fromkeys(run.vitals + [k for k in keys if k.startswith("sys/")]))
            return RunState(
                run=run,
                seq=run.seq,
                metrics=metrics,
                events=feed,
                vitals=queries.tails(tx, run_id, vital_keys, VITALS_HISTORY),
                tables=objects.tables(tx, run_id),
                point_sets=objects.point_sets(tx, run_id),
                snapshots=objects.snapshot_keys(tx, run_id),
                media=media.media_counts(tx, run_id),
                histograms=media.histogram_keys(tx, run_id),
            )

        return await self._read_tx(read)

    # -- media ------------------------------------------------------------------------------
    async def put_blob(self, sha256: str, mime: str, data: bytes) -> bool:
        (new,) = await self.put_blobs([(sha256, mime, data)])
        return new

    async def put_blobs(self, blobs: Sequence[tuple[str, str, bytes]]) -> list[bool]:
        now = time.time()
        return await self._write_quiet(lambda tx: media.put_blobs(tx, blobs, now))

    async def blob_mime(self, run_id: str, sha256: str) -> str | None:
        return await self._read_tx(lambda tx: media.blob_mime(tx, run_id, sha256))

    async def blob(self, run_id: str, sha256: str) -> tuple[str, bytes] | None:
        return await self._read_tx(lambda tx: media.blob(tx, run_id, sha256))

    async def media_keys(self, run_id: str, after: str, limit: int) -> list[dict[str, Any]]:
        return await self._read_tx(lambda tx: media.media_keys(tx, run_id, after, limit))

    async def media_items(
        self, run_id: str, key: str, after: int | None, limit: int
    ) -> list[dict[str, Any]]:
        return await self._read_tx(lambda tx: media.media_items(tx, run_id, key, after, limit))

    async def media_nearest(self, run_id: str, key: str, step: int) -> dict[str, Any] | None:
        return await self._read_tx(lambda tx: media.media_nearest(tx, run_id, key, step))

    async def histograms(
        self, run_id: str, key: str, start: float | None, end: float | None, max_steps: int
    ) -> dict[str, Any] | None:
        return await self._read_tx(
            lambda tx: media.histograms(tx, run_id, key, start, end, max_steps)
        )

    async def histogram_keys(self, run_id: str) -> dict[str, int]:
        return await self._read_tx(lambda tx: media.histogram_keys(tx, run_id))

    # -- tokens ----------------------------------------------------------------------------
    async def add_token(
        self,
        token_hash: str,
        prefix: str,
        name: str | None,
        scope: str,
        project: str | None,
        expires_at: float | None,
    ) -> TokenInfo:
        return await self._write_quiet(
            lambda tx: tokens.add_token(tx, token_hash, prefix, name, scope, project, expires_at)
        )

    async def find_token(self, token_hash: str) -> TokenInfo | None:
        return await self._read_tx(lambda tx: tokens.find_token(tx, token_hash))

    async def list_tokens(self) -> list[TokenInfo]:
        return await self._read_tx(tokens.list_tokens)

    async def revoke_token(self, token_id: int) -> bool:
        return await self._write_quiet(lambda tx: tokens.revoke_token(tx, token_id))

    async def count_tokens(self) -> int:
        return await self._read_tx(lambda tx: tokens.count_tokens(tx, time.time()))

    async def tokens_created(self) -> bool:
        return await self._read_tx(tokens.tokens_created)

    # -- watch rules and alerts --------------------------------------------------------------
    async def add_rule(self, project: str, spec: RuleIn, source: str = "api") -> Rule:
        return await self._write_quiet(lambda tx: rules.add_rule(tx, project, spec, source))

    async def list_rules(self, project: str | None = None) -> list[Rule]:
        return await self._read_tx(lambda tx: rules.list_rules(tx, project))

    async def delete_rule(self, project: str, rule_id: int) -> bool:
        return await self._write_quiet(lambda tx: rules.delete_rule(tx, project, rule_id))

    async def replace_file_rules(self, rules: list[tuple[str, RuleIn]]) -> list[Rule]:
        return await self._write_quiet(lambda tx: replace_file_rules(tx, rules))

    async def record_alert(
        self, rule: Rule, run_id: str, message: str, detail: dict[str, Any], now: float
    ) -> Alert | None:
        return await self._write_run(
            run_id, lambda tx: rules.record_alert(tx, rule, run_id, message, detail, now)
        )

    async def set_alert_action(
        self, alert_id: int, index: int, outcome: dict[str, Any]
    ) -> Alert | None:
        return await self._write_quiet(
            lambda tx: rules.set_alert_action(tx, alert_id, index, outcome)
        )

    async def list_alerts(
        self, project: str, run_id: str | None = None, limit: int = 200
    ) -> list[Alert]:
        return await self._read_tx(lambda tx: rules.list_alerts(tx, project, run_id, limit))

    # -- retention -------------------------------------------------------------------------
    async def get_retention(self, project: str) -> Retention:
        return await self._read_tx(lambda tx: projects.get_retention(tx, project))

    async def set_retention(self, project: str, rule: Retention) -> int:
        await self._write_quiet(lambda tx: projects.set_retention(tx, project, rule))
        return await self._drop_raw(time.time(), project)

    async def apply_retention(self, now: float) -> int:
        await self._write_quiet(retention.trim_journals)
        await self._write_quiet(lambda tx: media.sweep_blobs(tx, now))
        return await self._drop_raw(now, None)

    async def _drop_raw(self, now: float, project: str | None) -> int:
        # One transaction per run: each holds only its run's lock, and briefly.
        rules = await self._read_tx(lambda tx: retention.runs_with_rules(tx, project))
        dropped = 0
        for run_id, keep_steps, keep_days in rules:
            dropped += await self._write_quiet(
                functools.partial(retention.drop_run_raw, run_id=run_id, keep_steps=keep_steps,
                                  keep_days=keep_days, now=now)
            )  # fmt: skip
        return dropped

    async def health(self) -> dict[str, Any]:
        return await self._executor.health()
