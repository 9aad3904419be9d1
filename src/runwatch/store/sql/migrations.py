"""Migrations written once for both databases, appended to each one's own history.

Each is DDL with the column types that differ as fields: ``{int}`` (64-bit), ``{float}``,
``{bytes}``, ``{bool}`` with ``{false}``, ``{blob_storage}`` (PostgreSQL keeps the image
bytes of ``blobs`` out of line and uncompressed; nothing for SQLite), and ``{json_copies}``
(PostgreSQL's generated JSONB copies of the runs' queried JSON; nothing for SQLite, which has
no JSONB to keep), ``{binary_text}`` (TEXT compared by code point, as a query orders text),
``{series_fk}`` (PostgreSQL drops the series' reference to ``runs``; nothing for SQLite). A
store's schema module renders them with its :data:`TYPES`. The same rule as the histories':
append, never edit one that has shipped.

A migration may also fill what SQL would spell differently on each database: its step in
:data:`DATA_STEPS`, run through the store's Tx after its DDL, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from runwatch.store.sql import values
from runwatch.store.sql.tx import Tx

SHARED: list[str] = [
    # SQLite 12, PostgreSQL 3: media over steps: image bytes kept once by SHA-256 (``blobs``),
    # each image key's bounded history (``media``: the newest plus log-spaced older steps, counted from the
    # key's first step in ``media_keys``), and histograms per step, evenly thinned
    # (``histograms``; ``histogram_keys.stride``: only steps a multiple of it past the key's
    # first step are kept outside the newest).
    """
    CREATE TABLE blobs (
        sha256 TEXT PRIMARY KEY,
        mime TEXT NOT NULL,
        size {int} NOT NULL,
        created_at {float} NOT NULL,
        data {bytes} NOT NULL
    );
    {blob_storage}
    CREATE TABLE media_keys (
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        first_step {int} NOT NULL,
        next_age {int} NOT NULL,
        PRIMARY KEY (run_id, key)
    );
    CREATE TABLE media (
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        step {int} NOT NULL,
        ts {float} NOT NULL,
        kind TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        mime TEXT NOT NULL,
        size {int} NOT NULL,
        width {int} NOT NULL,
        height {int} NOT NULL,
        caption TEXT,
        entity TEXT,
        entity_int {bool} NOT NULL DEFAULT {false},
        vmin {float},
        vmax {float},
        log_keep {bool} NOT NULL,
        PRIMARY KEY (run_id, key, step)
    );
    CREATE INDEX media_by_sha ON media (sha256, run_id);
    CREATE TABLE histogram_keys (
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        first_step {int} NOT NULL,
        stride {int} NOT NULL,
        kept {int} NOT NULL,
        PRIMARY KEY (run_id, key)
    );
    CREATE TABLE histograms (
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        step {int} NOT NULL,
        ts {float} NOT NULL,
        edges {bytes} NOT NULL,
        counts {bytes} NOT NULL,
        nan {int} NOT NULL,
        inf {int} NOT NULL,
        neg_inf {int} NOT NULL,
        PRIMARY KEY (run_id, key, step)
    );
    """,
    # SQLite 13, PostgreSQL 4: each metric's smallest and largest finite value
    # (``summary.acc.max`` in a runs query).
    """
    ALTER TABLE runs ADD COLUMN extremes TEXT NOT NULL DEFAULT '{{}}';
    """,
    # SQLite 14, PostgreSQL 5: the JSON a runs query reads, kept parsed where the database has
    # a parsed form (a query over 100,000 runs spent most of its time casting TEXT to jsonb);
    # the newest runs of every project (the runs page's live list) by an index, not a sort of
    # every run.
    """
    {json_copies}
    CREATE INDEX runs_by_created ON runs (created_at);
    """,
    # SQLite 15, PostgreSQL 6: a command's idempotency key (a retried POST is one command; only
    # the newest commands of a run keep theirs), the command kinds a run's producer handles,
    # the entity a snapshot key or an image shows (an entity lists its images and snapshots),
    # and an event's step (an entity's first event is its birth: its keys' ages count from it).
    """
    ALTER TABLE events ADD COLUMN step {int};
    ALTER TABLE commands ADD COLUMN idem_key TEXT;
    CREATE UNIQUE INDEX commands_by_key ON commands (run_id, idem_key) WHERE idem_key IS NOT NULL;
    ALTER TABLE runs ADD COLUMN command_kinds TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE snapshot_keys ADD COLUMN entity TEXT;
    ALTER TABLE snapshot_keys ADD COLUMN entity_int {bool} NOT NULL DEFAULT {false};
    CREATE INDEX media_by_entity ON media (run_id, entity) WHERE entity IS NOT NULL;
    """,
    # SQLite 16, PostgreSQL 7: an event naming several entities (a merge of 5 and 6). The
    # event keeps them all (``entities``, JSON, NULL for one or none; ``entity`` is the
    # first); ``event_entities`` indexes the others, so that each one's history finds it.
    """
    ALTER TABLE events ADD COLUMN entities TEXT;
    CREATE TABLE event_entities (
        run_id TEXT NOT NULL,
        seq {int} NOT NULL,
        entity TEXT NOT NULL,
        entity_int {bool} NOT NULL DEFAULT {false},
        PRIMARY KEY (run_id, entity, seq)
    );
    """,
    # SQLite 17, PostgreSQL 8: the value index of finished runs (store.sql.values), filled
    # from the runs already stored by its data step; the runs it does not hold, by status.
    """
    CREATE TABLE run_values (
        run_id TEXT NOT NULL,
        doc TEXT NOT NULL,
        path TEXT NOT NULL,
        num {float},
        txt {binary_text}
    );
    CREATE INDEX run_values_num ON run_values (doc, path, num, run_id) WHERE num IS NOT NULL;
    CREATE INDEX run_values_txt ON run_values (doc, path, txt, run_id) WHERE txt IS NOT NULL;
    CREATE INDEX run_values_by_run ON run_values (run_id);
    """,
    # SQLite 18, PostgreSQL 9: sweeps (store.sql.sweeps): a sweep's configuration and state,
    # the next trial index a claim takes under the sweep's row lock, and each trial handed out,
    # once: (sweep_id, idx) is its key, and its status is its run's.
    """
    CREATE TABLE sweeps (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        name TEXT,
        method TEXT NOT NULL,
        spec TEXT NOT NULL,
        seed {int} NOT NULL,
        state TEXT NOT NULL,
        trial_limit {int} NOT NULL,
        limit_reason TEXT NOT NULL,
        next_index {int} NOT NULL,
        created_at {float} NOT NULL,
        updated_at {float} NOT NULL
    );
    CREATE INDEX sweeps_by_project ON sweeps (project, created_at);
    CREATE TABLE sweep_trials (
        sweep_id TEXT NOT NULL,
        idx {int} NOT NULL,
        run_id TEXT NOT NULL UNIQUE,
        config TEXT NOT NULL,
        agent TEXT,
        claimed_at {float} NOT NULL,
        PRIMARY KEY (sweep_id, idx)
    );
    """,
    # SQLite 19, PostgreSQL 10: a crashed trial's one retry (``retry_of``: the index of the
    # trial whose configuration it runs again); early termination (store.sql.early_stop): each
    # trial's metric at each hyperband rung it reached, and why a trial was stopped early.
    """
    ALTER TABLE sweep_trials ADD COLUMN retry_of {int};
    ALTER TABLE sweep_trials ADD COLUMN stopped_early TEXT;
    CREATE TABLE sweep_rungs (
        sweep_id TEXT NOT NULL,
        rung {int} NOT NULL,
        idx {int} NOT NULL,
        value {float} NOT NULL,
        PRIMARY KEY (sweep_id, rung, idx)
    );
    """,
    # SQLite 20, PostgreSQL 11: how many records the run's producers reported lost (the sum of
    # its ``sdk.lost`` events): the runs list and the run's header show it beside the status.
    """
    ALTER TABLE runs ADD COLUMN lost {int} NOT NULL DEFAULT 0;
    """,
    # SQLite 21, PostgreSQL 12: deleted runs (store.sql.purge): each one's id, project and time
    # (a producer that speaks for it again is told it was deleted), and whether every row it
    # owned is gone yet (a purge left halfway resumes at the next open); a sweep trial whose
    # run was deleted. A deleted run's series outlive its ``runs`` row until purged: PostgreSQL
    # drops the reference (``{series_fk}``; SQLite never enforced it).
    """
    CREATE TABLE deleted_runs (
        run_id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        deleted_at {float} NOT NULL,
        purged {bool} NOT NULL DEFAULT {false}
    );
    CREATE INDEX deleted_runs_by_time ON deleted_runs (deleted_at);
    ALTER TABLE sweep_trials ADD COLUMN run_deleted {bool} NOT NULL DEFAULT {false};
    {series_fk}
    """,
]
# By index in SHARED: the Python step that fills what that migration made.
DATA_STEPS: dict[int, Callable[[Tx], None]] = {5: values.rebuild}


def render(migrations: list[str], types: Mapping[str, str]) -> list[str]:
    """``migrations`` in the DDL of the store whose column types are ``types``."""
    return [ddl.format_map(types) for ddl in migrations]


def data_step(version: int, schema_version: int) -> Callable[[Tx], None] | None:
    """The data step of migration ``version`` (0-based) of a history of ``schema_version``
    migrations that ends with :data:`SHARED`, if it has one."""
    return DATA_STEPS.get(version - (schema_version - len(SHARED)))
