"""The Store protocol: what the server needs from durable storage, whatever the backend."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

import msgspec

from runwatch.protocol import ArchivedCommand, BatchAck, Command, Retention, RunCreate, RunPatch
from runwatch.rules.spec import Alert, Rule, RuleIn
from runwatch.runs_query.nodes import COLUMNS, Field, Node
from runwatch.store.prepare import PreparedBatch, SeriesColumns


class RunInfo(msgspec.Struct):
    """A run as the API shows it."""

    id: str
    project: str
    name: str
    group: str | None
    tags: list[str]
    config: dict[str, Any]
    status: str
    created_at: float
    started_at: float | None
    ended_at: float | None
    last_update: float | None
    exit_code: int | None
    error: str | None
    seq: int
    summary: dict[str, Any]
    snapshot: dict[str, Any] = {}
    heartbeat_at: float | None = None
    heartbeat: float = 5.0
    vitals: list[str] = []
    # Per metric, its smallest and largest finite value: {"loss": {"min": 0.1, "max": 2.3}}.
    extremes: dict[str, dict[str, float]] = {}
    # The command kinds the producer handles (``on_command``): what the run page offers.
    command_kinds: list[str] = []
    # How many records its producers reported lost on the way (disk full, refused): a run
    # that succeeded with a loss is not whole.
    lost: int = 0
    # Why early termination stopped it (its sweep trial's ``stopped_early``: it was sent a
    # cancel), None for any other run and for one that ended succeeded or failed all the same
    # (see ``runs_query.nodes.STOPPED_EARLY``). Once it ended ``cancelled`` the pages say
    # "stopped early" (the trial's status ``stopped_early``); its status stays ``cancelled``.
    stopped_early: str | None = None


# A run's place in a sorted list: the sort value's rank (0 a number, 1 a string, 2 none), the
# value as a number or as text, and the run's id.
RunsKey = tuple[int, float | None, str | None, str]


class RunsQuery(msgspec.Struct, frozen=True):
    """A page of runs to find: filters, a sort field, and where the page starts.

    ``after`` is the last row of the previous page as :class:`RunsPage` returned it (None for
    the first page): keyset pagination, so runs created meanwhile never shift a page.
    """

    where: Node | None = None
    project: str | None = None
    status: str | None = None
    tag: str | None = None
    sort: Field = COLUMNS["created"]
    descending: bool = True
    limit: int = 100
    after: RunsKey | None = None


class RunsPage(msgspec.Struct):
    """One page of runs, how many match in all, the key after which the next page starts
    (None on the last page), and the newest matching run's ``created_at`` (None when none
    matches): the edge of a list that later runs must not slip into."""

    runs: list[RunInfo]
    total: int
    after: RunsKey | None
    newest: float | None


class FieldStats(msgspec.Struct):
    """A field's numbers over a group of runs (count 0: none of them has a number there)."""

    count: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None


class RunsGroup(msgspec.Struct):
    """The runs sharing one value of the grouping field (``None``: the runs without one)."""

    value: float | str | None
    runs: int
    fields: dict[str, FieldStats]


class QueuedRun(msgspec.Struct):
    """A run the scheduler claimed from the queue: start it from ``template`` with ``params``."""

    run: RunInfo
    template: str
    params: dict[str, Any]


class SweepCreate(msgspec.Struct):
    """A sweep to store: its checked configuration (``spec``, as given), the seed its random
    draws use, and how many trials it hands out at most (``trial_limit``, and which bound
    that is: ``run_cap``, ``space`` (a grid's points) or ``max_trials``)."""

    id: str
    project: str
    name: str | None
    method: str
    spec: dict[str, Any]
    seed: int
    trial_limit: int
    limit_reason: str


class SweepInfo(msgspec.Struct):
    """A sweep as the API shows it: ``state`` is ``running``, ``paused``, ``stopped`` or
    ``finished`` (every trial handed out); ``trials`` counts its trials by status (a trial's
    run's status, ``claimed`` before its run exists)."""

    id: str
    project: str
    name: str | None
    method: str
    spec: dict[str, Any]
    seed: int
    state: str
    trial_limit: int
    limit_reason: str
    handed_out: int
    created_at: float
    updated_at: float
    trials: dict[str, int] = {}


class Trial(msgspec.Struct):
    """One trial of a sweep: its index, the run it reports as, its configuration, its status
    (its run's; ``claimed`` before the run exists)."""

    sweep_id: str
    index: int
    run_id: str
    config: dict[str, Any]
    agent: str | None
    claimed_at: float
    status: str = "claimed"
    # The index of the crashed trial whose configuration this one runs again (its one retry).
    retry_of: int | None = None
    # Why early termination stopped it (its status is then ``stopped_early`` once its run has
    # ended ``cancelled``).
    stopped_early: str | None = None


class TrialClaim(msgspec.Struct):
    """An agent's claim: a trial, or none and why (``paused``, ``stopped``, ``finished``)."""

    trial: Trial | None
    reason: str | None
    sweep: SweepInfo


class WatchedTrial(msgspec.Struct):
    """The trial a run reports as: its sweep's configuration, and whether early termination
    already stopped it."""

    sweep_id: str
    index: int
    spec: dict[str, Any]
    stopped: bool


class RungReached(msgspec.Struct):
    """A trial's run logged the sweep's metric at ``step``, the first at or past ``rung``."""

    sweep_id: str
    index: int
    run_id: str
    rung: int
    step: int
    value: float


# Early termination's verdict on a trial at a rung, given every trial's value there (its own
# included): why it stops (``message`` and detail for its run's feed), or None.
Judge = Callable[[RungReached, list[float]], dict[str, Any] | None]


class TrialOutcome(msgspec.Struct):
    """A trial as a bayes proposal sees it: its configuration, its status (as in
    :class:`Trial`), the final value of the sweep's metric in its run's summary (None when
    absent or not a number) and, for a trial early termination stopped, the metric's value at
    each rung it reached (by the rung's step; empty for any other trial)."""

    index: int
    config: dict[str, Any]
    status: str
    value: float | None
    rungs: dict[int, float] = {}


# The sweep's trials read in the proposal's transaction: ``past(metric, limit)`` gives the
# ``limit`` latest, with ``metric``'s value from their runs' summaries (and a stopped trial's
# rungs).
Past = Callable[[str, int], list[TrialOutcome]]
# The controller's proposal of trial ``index``'s configuration, made inside the claim's
# transaction, or for bayes in a read transaction before it (grid and random are pure
# functions of the sweep and the index; bayes reads the trials before it through ``past``,
# which costs nothing unless called).
Propose = Callable[[SweepInfo, int, Past], dict[str, Any]]


class ProjectInfo(msgspec.Struct):
    """A project with its run counts."""

    name: str
    runs: int
    running: int
    last_update: float | None


class Promotion(msgspec.Struct):
    """A promoted result: a run, a name, and the checksum of what was promoted."""

    id: int
    run_id: str
    run_name: str
    project: str
    name: str
    artifact: str | None
    sha256: str
    created_at: float
    detail: dict[str, Any]


class TokenInfo(msgspec.Struct):
    """An API token as stored: never the token itself, only its hash and first characters."""

    id: int
    prefix: str
    name: str | None
    scope: str
    project: str | None
    created_at: float
    expires_at: float | None
    revoked_at: float | None


class EventRecord(msgspec.Struct, omit_defaults=True):
    """A stored event; ``seq`` is its place in the run's live sequence. ``entity`` is its
    first (or only) entity; ``entities`` lists them all when it names more than one; ``step``
    is the producer's step when it gave one."""

    seq: int
    ts: float
    kind: str
    level: str
    entity: int | str | None
    payload: dict[str, Any]
    entities: list[int | str] | None = None
    step: int | None = None


class Series(msgspec.Struct, omit_defaults=True):
    """One metric's points over a range: raw points, or buckets when there are too many.

    Columns line up index by index. Raw mode fills ``x`` and ``value``; bucket mode fills
    ``width`` (buckets are ``[b * width, (b + 1) * width)``), ``x`` (the first x in the bucket),
    ``min``, ``max``, ``mean`` (over finite values), ``count`` (all points, NaN included),
    ``finite`` (the finite ones), ``last`` and ``last_x`` (the value and x of the bucket's last
    point). Values are wire values (see ``protocol.encode_value``). Raw points over wall time
    (``x=time``) also carry ``step``: each point's step.
    """

    mode: Literal["raw", "buckets"]
    x: list[float]
    width: float | None = None
    value: list[Any] | None = None
    min: list[Any] | None = None
    max: list[Any] | None = None
    mean: list[Any] | None = None
    count: list[int] | None = None
    last: list[Any] | None = None
    finite: list[int] | None = None
    last_x: list[float] | None = None
    step: list[int] | None = None


class MetricsResult(msgspec.Struct):
    """Series of several keys, and the run's ``seq`` read in the same snapshot (so a client can
    fold in exactly the live records that came after)."""

    seq: int
    series: dict[str, Series]


class RunState(msgspec.Struct):
    """Everything a page needs to draw a run at once, current to ``seq`` (one read snapshot)."""

    run: RunInfo
    seq: int
    metrics: dict[str, Series]
    events: list[EventRecord]
    vitals: dict[str, Series] = {}
    tables: dict[str, Any] = {}
    point_sets: dict[str, Any] = {}
    snapshots: dict[str, int] = {}
    media: dict[str, int] = {}  # image keys with their number of kept steps
    histograms: dict[str, int] = {}  # histogram keys with their number of kept steps


class Record(msgspec.Struct):
    """One live record: its run-wide sequence number and its encoded JSON message."""

    seq: int
    body: bytes
    # A status the run never leaves (CLOSED_STATUSES; not "crashed", which a producer that speaks
    # again undoes): live streams of the run end after it. Set where the status is made and
    # carried by the bus; the journal keeps no flag (a replay goes by the run's own status).
    final: bool = False


class PointsRecord(Record):
    """A batch's points record that also carries the batch's columns (values already floats),
    so an in-process commit listener (the rule engine) reads them without decoding ``body``.
    Only the in-process listeners see ``columns``; the journal and the bus carry ``body``."""

    columns: dict[str, SeriesColumns] = {}


class Committed(msgspec.Struct):
    """What one commit changed for one run: passed to commit listeners, in commit order."""

    run_id: str
    records: list[Record]


CommitListener = Callable[[list[Committed]], None]

# A replay page stops once it holds this many bytes: a viewer catching up from far behind
# (a point set record can be hundreds of KiB) costs the server about this much at a time.
REPLAY_MAX_BYTES = 256 * 1024


def replay_sql(param: str) -> str:
    """The journal page query of both backends (``param`` is the driver's placeholder): the
    running byte total stops the page at REPLAY_MAX_BYTES without reading further rows."""
    p = param
    return (
        "SELECT seq, body FROM (SELECT seq, body, SUM(LENGTH(body)) OVER (ORDER BY seq)"
        f" - LENGTH(body) AS before FROM journal WHERE run_id = {p} AND seq > {p}"
        f" ORDER BY seq LIMIT {p}) AS page WHERE before < {REPLAY_MAX_BYTES} ORDER BY seq"
    )


class RunStore(Protocol):
    """Runs: creation, renaming, lookup, liveness and the crash sweep."""

    async def create_run(self, spec: RunCreate) -> RunInfo: ...

    async def update_run(self, run_id: str, patch: RunPatch) -> RunInfo:
        """Set the run's name and/or tags (whatever its status) and return it; its live
        viewers and runs lists hear of it. :class:`RunNotFound` (``RunDeleted``) when there is
        no such run."""
        ...

    async def get_run(self, run_id: str) -> RunInfo | None: ...

    async def last_step(self, run_id: str) -> int | None:
        """The largest step of the run's metric points other than ``sys/*`` (None: none): where
        a producer attaching to the run goes on from."""
        ...

    async def list_runs(
        self, project: str | None = None, status: str | None = None, tag: str | None = None
    ) -> list[RunInfo]: ...

    async def query_runs(self, query: RunsQuery) -> RunsPage:
        """A page of the runs that match ``query``, in its order, with the total count (both
        read in one snapshot)."""
        ...

    async def group_runs(self, query: RunsQuery, by: Field, values: list[Field]) -> list[RunsGroup]:
        """The runs matching ``query`` (its sort and page ignored) grouped by ``by``, with the
        statistics of ``values`` per group; at most ``query.limit`` groups, largest first."""
        ...

    async def list_projects(self) -> list[ProjectInfo]: ...

    async def heartbeat(self, run_id: str) -> RunInfo:
        """The producer is alive; a crashed run comes back to running."""
        ...

    async def sweep_crashed(self, now: float, listening_since: float = 0.0) -> list[str]:
        """Mark running runs crashed whose producer was silent for its timeout, counted from
        ``listening_since`` at the earliest (when the caller began to hear producers: 0 for
        always); return their ids."""
        ...

    async def restore_times(
        self, run_id: str, created_at: float, started_at: float | None
    ) -> RunInfo:
        """Give an imported run its archived creation and start times (:class:`RunNotFound`
        when there is no such run)."""
        ...

    async def delete_run(self, run_id: str) -> RunInfo:
        """Delete a finished run and everything stored for it; return it as it was. Every read
        stops seeing it when this returns; the rows it owned go after, in bounded write jobs of
        this store (other runs' writes go on between them) that the next open resumes if the
        store closes first (:meth:`purged` waits for them). :class:`RunNotFound`
        (``RunDeleted`` when it was deleted before); :class:`RunNotFinished` while it is
        queued or running."""
        ...

    async def purged(self, run_id: str) -> None:
        """Return once this store's purge of the deleted run is done (at once when none runs)."""
        ...

    async def deleted_project(self, run_id: str) -> str | None:
        """The project of the run ``run_id`` if it was deleted (None: it was not, or so long
        ago that it is forgotten)."""
        ...

    async def deleted_runs(self) -> list[str]:
        """The ids of the deleted runs this store remembers, purged or not (the newest
        deletions; a run created again under its id is no longer one)."""
        ...


class QueueStore(Protocol):
    """The run queue: templated runs waiting for the scheduler."""

    async def enqueue_run(self, spec: RunCreate, template: str, params: dict[str, Any]) -> RunInfo:
        """Create a run in status ``queued``, waiting in the run queue to be launched from
        ``template`` with ``params`` (already validated); a full queue (1,000 waiting) raises
        :class:`LimitExceeded`."""
        ...

    async def claim_queued(self, max_running: int) -> QueuedRun | None:
        """Move the oldest waiting queued run to ``running`` if fewer than ``max_running``
        queued-and-started runs are running; return it (None: no slot or nothing waiting)."""
        ...


class SweepStore(Protocol):
    """Sweeps: their configuration and state, and the trials handed out to agents."""

    async def create_sweep(self, sweep: SweepCreate) -> SweepInfo:
        """Store a new sweep, ``running`` (:class:`Conflict` for an id that exists)."""
        ...

    async def get_sweep(self, sweep_id: str) -> SweepInfo | None: ...

    async def claim_trial(self, sweep_id: str, agent: str | None, propose: Propose) -> TrialClaim:
        """Hand out the sweep's next trial, once: its index is taken under the sweep's row lock,
        and ``propose`` makes its configuration (:class:`NotFound` for no such sweep)."""
        ...

    async def set_sweep_state(self, sweep_id: str, action: str) -> SweepInfo:
        """``pause``, ``resume`` or ``stop`` a sweep; :class:`Conflict` when the sweep is
        stopped or finished (nothing to change), :class:`NotFound` for no such sweep."""
        ...

    async def list_trials(self, sweep_id: str, after: int, limit: int) -> list[Trial]:
        """The sweep's trials with index > ``after``, in order, with their runs' status."""
        ...

    async def watched_trial(self, run_id: str) -> WatchedTrial | None:
        """The sweep trial the run reports as (None: the run is no trial)."""
        ...

    async def reach_rung(self, reached: RungReached, judge: Judge) -> dict[str, Any] | None:
        """Record the trial's value at a rung, once, under its sweep's row lock (so replicas
        judge in turn), and judge it against every trial there: when it stops, mark the trial,
        put an ``early_stop`` event into its run's feed and send its run a cancel. The verdict's
        detail; None when it goes on, was judged there before, or was stopped before."""
        ...


class IngestStore(Protocol):
    """Batches in, and the live journal out (replayed to viewers that fell behind)."""

    async def ingest(self, run_id: str, batch: PreparedBatch, alive: bool = True) -> BatchAck:
        """Store one batch once. ``alive``: the batch proves its producer lives (a crashed run
        comes back to running, the heartbeat time is renewed); False for a gone producer's."""
        ...

    async def replay(self, run_id: str, since: int, limit: int) -> list[Record]:
        """Journal records after ``since``, in order: at most ``limit``, and no more once the
        page holds REPLAY_MAX_BYTES (one record at least), so a replay pins little memory."""
        ...


class SeriesStore(Protocol):
    """Metric series: keys, tails, bucketed ranges, raw pages for archives, and a page's first view."""

    async def metric_keys(self, run_id: str) -> list[str]: ...

    async def tails(self, run_id: str, keys: list[str], n: int) -> dict[str, Series]:
        """The last ``n`` points (by step) of each key, raw: cheap, for sparklines."""
        ...

    async def metrics(
        self,
        run_id: str,
        keys: list[str],
        start: float | None,
        end: float | None,
        max_points: int,
        x: Literal["step", "time"],
    ) -> MetricsResult: ...

    async def curves(
        self, run_ids: list[str], key: str, max_points: int, project: str | None = None
    ) -> dict[str, Series]:
        """Per run of ``run_ids`` (of ``project`` when given) that logged ``key``, its whole
        series by step as :meth:`metrics` answers it, ``x`` with ``value`` (raw) or ``mean``
        (buckets) only: the curves of many runs in one read."""
        ...

    async def raw_points(
        self, run_id: str, key: str, after: int, limit: int
    ) -> tuple[list[tuple[int, float, float | str | None]], int]:
        """A page of one key's raw ``(step, wall time, wire value)`` points in ingest order:
        whole storage chunks after the opaque cursor ``after`` (0 starts) until at least
        ``limit`` points; returns them and the next cursor (0 when there are no more)."""
        ...

    async def state(self, run_id: str, max_points: int, events_limit: int) -> RunState | None: ...


class ObjectStore(Protocol):
    """What a run logged besides points: events, snapshots, tables, point sets, logs, artifacts."""

    async def events(
        self,
        run_id: str,
        after: int = 0,
        limit: int = 100,
        kind: str | None = None,
        newest_first: bool = False,
    ) -> list[EventRecord]: ...

    async def entity_events(self, run_id: str, entity: str, limit: int) -> list[EventRecord]:
        """Events of one entity (an int id matches its text too), oldest first, from an index."""
        ...

    async def entity_media(self, run_id: str, entity: str, limit: int) -> dict[str, Any]:
        """What shows one entity: ``images`` (each image key naming it, with its count and
        newest item) and ``snapshots`` (each snapshot key naming it), at most ``limit`` each."""
        ...

    async def snapshot_versions(self, run_id: str, key: str) -> list[dict[str, Any]]: ...

    async def snapshot_value(self, run_id: str, key: str, version: int | None) -> Any:
        """One kept version with its value (the latest when ``version`` is None); KeyError."""
        ...

    async def logs(
        self,
        run_id: str,
        after: int,
        stream: str | None,
        limit: int,
        q: str | None = None,
        before: int | None = None,
    ) -> list[dict[str, Any]]:
        """Captured log lines numbered after ``after``, oldest first: of ``stream`` only, and
        holding the substring ``q`` (ASCII letters in either case) only, when given; with
        ``before``, the newest ``limit`` such lines numbered under it."""
        ...

    async def artifacts(self, run_id: str) -> list[Any]:
        """The run's latest artifact manifest (empty when nothing was scanned)."""
        ...

    async def sticky(self, run_id: str, kind: Literal["tables", "point_sets"]) -> dict[str, Any]:
        """The latest state of every table or point set of a run."""
        ...


class MediaStore(Protocol):
    """Images (blobs by SHA-256, a bounded history per key) and histograms over steps."""

    async def put_blob(self, sha256: str, mime: str, data: bytes) -> bool:
        """Store a blob whose hash the caller checked; True when it was new."""
        ...

    async def put_blobs(self, blobs: Sequence[tuple[str, str, bytes]]) -> list[bool]:
        """Store ``(sha256, mime, bytes)`` blobs whose hashes the caller checked, in one
        transaction; True for each that was new."""
        ...

    async def blob_mime(self, run_id: str, sha256: str) -> str | None:
        """The blob's mime if the run names it in a media row, else None."""
        ...

    async def blob(self, run_id: str, sha256: str) -> tuple[str, bytes] | None:
        """``(mime, bytes)`` of a blob the run names in a media row, else None."""
        ...

    async def media_keys(self, run_id: str, after: str, limit: int) -> list[dict[str, Any]]:
        """Image keys after ``after`` with their count, first, last and before-last step and
        newest item."""
        ...

    async def media_items(
        self, run_id: str, key: str, after: int | None, limit: int
    ) -> list[dict[str, Any]]:
        """A page of one key's kept items with step > ``after``, oldest first."""
        ...

    async def media_nearest(self, run_id: str, key: str, step: int) -> dict[str, Any] | None:
        """The kept item nearest ``step`` with its neighbours' steps; None: no such key."""
        ...

    async def histograms(
        self, run_id: str, key: str, start: float | None, end: float | None, max_steps: int
    ) -> dict[str, Any] | None:
        """A key's histograms in a step range, evenly thinned; None: no such key."""
        ...

    async def histogram_keys(self, run_id: str) -> dict[str, int]:
        """Each histogram key of the run with its number of kept steps."""
        ...


class ControlStore(Protocol):
    """Commands to a run and promotions of its results."""

    async def add_command(
        self, run_id: str, kind: str, payload: dict[str, Any], key: str | None = None
    ) -> tuple[Command, bool]:
        """Queue a command: ``(command, True)``; with an idempotency ``key`` one of the run's
        newest commands took, that one and ``False``. :class:`RunFinished` when the run is
        over; :class:`Conflict` (``idempotency_key_reused``) for the key of another command."""
        ...

    async def deliver_commands(self, run_id: str, after: int) -> list[Command]: ...

    async def list_commands(self, run_id: str) -> list[Command]: ...

    async def restore_commands(self, run_id: str, commands: list[ArchivedCommand]) -> list[Command]:
        """Give an imported run its archived commands (ids 1, 2, … in the given order);
        :class:`RunNotFound`, or :class:`Conflict` when it has commands already."""
        ...

    async def promote(
        self, run_id: str, name: str, artifact: str | None, sha256: str, detail: dict[str, Any]
    ) -> Promotion: ...

    async def list_promoted(self) -> list[Promotion]: ...


class TokenStore(Protocol):
    """API tokens (hashes only)."""

    async def add_token(
        self,
        token_hash: str,
        prefix: str,
        name: str | None,
        scope: str,
        project: str | None,
        expires_at: float | None,
    ) -> TokenInfo: ...

    async def find_token(self, token_hash: str) -> TokenInfo | None: ...

    async def list_tokens(self) -> list[TokenInfo]: ...

    async def revoke_token(self, token_id: int) -> bool: ...

    async def count_tokens(self) -> int:
        """Tokens neither revoked nor expired: any at all means the server requires auth."""
        ...

    async def tokens_created(self) -> bool:
        """Whether any token was ever created (revoked and expired ones are kept): a server
        that has had tokens never opens up again when the last one goes."""
        ...


class RetentionStore(Protocol):
    """How long raw points are kept, per project."""

    async def get_retention(self, project: str) -> Retention: ...

    async def set_retention(self, project: str, retention: Retention) -> int:
        """Store a project's retention and apply it at once; return how many chunks it dropped."""
        ...

    async def apply_retention(self, now: float) -> int:
        """Drop raw chunks past every project's retention; return how many were dropped."""
        ...


class RuleStore(Protocol):
    """Watch rules and the alerts they raised."""

    async def add_rule(self, project: str, spec: RuleIn, source: str = "api") -> Rule: ...

    async def list_rules(self, project: str | None = None) -> list[Rule]:
        """Rules of one project (every project's when None), oldest first, secrets included."""
        ...

    async def delete_rule(self, project: str, rule_id: int) -> bool: ...

    async def replace_file_rules(self, rules: list[tuple[str, RuleIn]]) -> list[Rule]:
        """Replace the rules loaded from a rules file (``(project, rule)`` pairs); API rules stay."""
        ...

    async def record_alert(
        self, rule: Rule, run_id: str, message: str, detail: dict[str, Any], now: float
    ) -> Alert | None:
        """Record a firing and its ``alert`` event in the run's feed (journaled, pushed live);
        None, writing nothing, when the rule fired on the run less than its cooldown before."""
        ...

    async def set_alert_action(
        self, alert_id: int, index: int, outcome: dict[str, Any]
    ) -> Alert | None:
        """Merge what an action did (state, error, attempts) into the alert."""
        ...

    async def list_alerts(
        self, project: str, run_id: str | None = None, limit: int = 200
    ) -> list[Alert]:
        """A project's alerts, newest first."""
        ...


class Store(
    RunStore,
    QueueStore,
    SweepStore,
    IngestStore,
    SeriesStore,
    ObjectStore,
    MediaStore,
    ControlStore,
    TokenStore,
    RetentionStore,
    RuleStore,
    Protocol,
):
    """Durable storage of runs, series, events and the live journal.

    Writes are acknowledged only after commit. Commit listeners are called in commit order, on
    the event loop thread that opened the store, with every record of the commit.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def add_commit_listener(self, listener: CommitListener) -> None: ...

    async def health(self) -> dict[str, Any]: ...
