"""The tables of runwatch's first releases, written once for both databases.

These are SQLite's migrations 1 to 9 as they shipped; PostgreSQL, which came later, applies
the same DDL folded into its migrations 1 (SQLite's 1 to 7) and 2 (SQLite's 8 and 9). Besides
the column types of :mod:`runwatch.store.sql.migrations`, the fields here say where the two
databases' tables really differ: ``{id}`` (an integer key the database assigns), ``{small}``
(a small integer), ``{without_rowid}`` (SQLite's clustered tables), ``{untyped}`` (SQLite keeps
an event's entity with its own type; PostgreSQL keeps TEXT and says in ``{entity_int}`` that it
was an integer), ``{rowid_pk}``, ``{rowid}`` and ``{rowid_order}`` (PostgreSQL's stand-ins for
the insertion order SQLite's rowid gives chunks and queued runs) and ``{chunk_storage}``
(PostgreSQL keeps packed points uncompressed). Never edit them: data dirs made by those
releases have them as written.
"""

from __future__ import annotations

FIRST: list[str] = [
    # 1: runs; metric series: chunks of raw points and the aggregate pyramid; events; the live
    # journal; batch dedup.
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        grp TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        config TEXT NOT NULL DEFAULT '{{}}',
        status TEXT NOT NULL,
        created_at {float} NOT NULL,
        started_at {float},
        ended_at {float},
        last_update {float},
        exit_code {int},
        error TEXT,
        seq {int} NOT NULL DEFAULT 0,
        summary TEXT NOT NULL DEFAULT '{{}}'
    );
    CREATE INDEX runs_by_project ON runs (project, created_at);
    CREATE TABLE series (
        id {id},
        run_id TEXT NOT NULL REFERENCES runs (id),
        key TEXT NOT NULL,
        UNIQUE (run_id, key)
    );
    CREATE TABLE chunks (
        {rowid_pk}series_id {int} NOT NULL,
        n INTEGER NOT NULL,
        step_min {int} NOT NULL,
        step_max {int} NOT NULL,
        ts_min {float} NOT NULL,
        ts_max {float} NOT NULL,
        steps {bytes} NOT NULL,
        ts {bytes} NOT NULL,
        vals {bytes} NOT NULL
    );
    {chunk_storage}CREATE INDEX chunks_by_step ON chunks (series_id, step_max);
    CREATE INDEX chunks_by_time ON chunks (series_id, ts_max);
    CREATE TABLE pyramid (
        series_id {int} NOT NULL,
        axis {small} NOT NULL,
        level {small} NOT NULL,
        block {int} NOT NULL,
        n {int} NOT NULL,
        nf {int} NOT NULL,
        vmin {float} NOT NULL,
        vmax {float} NOT NULL,
        vsum {float} NOT NULL,
        first_x {float} NOT NULL,
        last_x {float} NOT NULL,
        last {float},
        PRIMARY KEY (series_id, axis, level, block)
    ){without_rowid};
    CREATE TABLE events (
        run_id TEXT NOT NULL,
        seq {int} NOT NULL,
        ts {float} NOT NULL,
        kind TEXT NOT NULL,
        level TEXT NOT NULL,
        entity{untyped},
        {entity_int}payload TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ){without_rowid};
    CREATE INDEX events_by_entity ON events (run_id, entity, seq) WHERE entity IS NOT NULL;
    CREATE TABLE journal (
        run_id TEXT NOT NULL,
        seq {int} NOT NULL,
        body {bytes} NOT NULL,
        PRIMARY KEY (run_id, seq)
    ){without_rowid};
    CREATE TABLE batches (
        run_id TEXT NOT NULL,
        producer TEXT NOT NULL,
        batch_seq {int} NOT NULL,
        seq_first {int} NOT NULL,
        seq_last {int} NOT NULL,
        PRIMARY KEY (run_id, producer, batch_seq)
    ){without_rowid};
    """,
    # 2: per-project retention of raw points; per series, how far raw points were dropped.
    """
    CREATE TABLE retention (
        project TEXT PRIMARY KEY,
        raw_keep_steps {int},
        raw_keep_days {float}
    );
    ALTER TABLE series ADD COLUMN raw_floor_step {float};
    ALTER TABLE series ADD COLUMN raw_floor_ts {float};
    """,
    # 3: lifecycle and control: heartbeats, the request snapshot, commands, promotions.
    """
    ALTER TABLE runs ADD COLUMN snapshot TEXT NOT NULL DEFAULT '{{}}';
    ALTER TABLE runs ADD COLUMN heartbeat_at {float};
    ALTER TABLE runs ADD COLUMN heartbeat_interval {float} NOT NULL DEFAULT 5;
    UPDATE runs SET heartbeat_at = last_update;
    CREATE INDEX runs_by_status ON runs (status, heartbeat_at);
    CREATE TABLE commands (
        run_id TEXT NOT NULL,
        id {int} NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at {float} NOT NULL,
        updated_at {float} NOT NULL,
        error TEXT,
        PRIMARY KEY (run_id, id)
    ){without_rowid};
    CREATE TABLE promotions (
        id {id},
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        artifact TEXT,
        sha256 TEXT NOT NULL,
        created_at {float} NOT NULL,
        detail TEXT NOT NULL DEFAULT '{{}}'
    );
    """,
    # 4: API tokens, stored as SHA-256 hashes only.
    """
    CREATE TABLE tokens (
        id {id},
        hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        name TEXT,
        scope TEXT NOT NULL,
        project TEXT,
        created_at {float} NOT NULL,
        expires_at {float},
        revoked_at {float}
    );
    """,
    # 5: the run page's sticky state: vitals keys, tables, point sets, snapshot history.
    """
    ALTER TABLE runs ADD COLUMN vitals TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE tables (
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        version {int} NOT NULL,
        rows TEXT NOT NULL,
        updated_at {float} NOT NULL,
        PRIMARY KEY (run_id, name)
    ){without_rowid};
    CREATE TABLE point_sets (
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        version {int} NOT NULL,
        points TEXT NOT NULL,
        updated_at {float} NOT NULL,
        PRIMARY KEY (run_id, name)
    ){without_rowid};
    CREATE TABLE snapshot_keys (
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        first_step {int} NOT NULL,
        next_age {int} NOT NULL,
        last_version {int} NOT NULL,
        PRIMARY KEY (run_id, key)
    ){without_rowid};
    CREATE TABLE snapshots (
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        version {int} NOT NULL,
        step {int} NOT NULL,
        ts {float} NOT NULL,
        reason TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key, version)
    ){without_rowid};
    """,
    # 6: captured stdout/stderr lines of supervised workers (bounded per run).
    """
    CREATE TABLE logs (
        run_id TEXT NOT NULL,
        line {int} NOT NULL,
        stream TEXT NOT NULL,
        ts {float} NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (run_id, line)
    ){without_rowid};
    """,
    # 7: the artifact manifest of each run (the launcher's latest scan of its run dir).
    """
    CREATE TABLE artifacts (
        run_id TEXT PRIMARY KEY,
        manifest TEXT NOT NULL,
        updated_at {float} NOT NULL
    );
    """,
    # 8: the run queue: templated runs submitted from the dashboard, launched by the scheduler.
    """
    CREATE TABLE run_queue (
        {rowid}run_id TEXT PRIMARY KEY,
        template TEXT NOT NULL,
        params TEXT NOT NULL,
        queued_at {float} NOT NULL,
        started_at {float}
    );
    CREATE INDEX run_queue_waiting ON run_queue (started_at, queued_at{rowid_order});
    """,
    # 9: watch rules (per project, optionally per run) and their alerts (one per episode).
    """
    CREATE TABLE rules (
        id {id},
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        run_id TEXT,
        spec TEXT NOT NULL,
        source TEXT NOT NULL,
        created_at {float} NOT NULL
    );
    CREATE INDEX rules_by_project ON rules (project);
    CREATE TABLE alerts (
        id {id},
        rule_id {int} NOT NULL,
        rule_name TEXT NOT NULL,
        project TEXT NOT NULL,
        run_id TEXT NOT NULL,
        run_name TEXT NOT NULL,
        ts {float} NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL,
        detail TEXT NOT NULL,
        event_seq {int} NOT NULL,
        actions TEXT NOT NULL
    );
    CREATE INDEX alerts_by_project ON alerts (project, id);
    CREATE INDEX alerts_by_rule_run ON alerts (rule_id, run_id, ts);
    """,
]
