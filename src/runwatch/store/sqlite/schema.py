"""SQLite schema, versioned with forward-only migrations tracked in ``PRAGMA user_version``.

SQLite's own history comes first, then the migrations both stores share
(:mod:`runwatch.store.sql.migrations`, rendered with :data:`TYPES`). To change the schema,
append a shared migration; never edit one that has shipped, because data dirs created by
earlier versions are migrated by replaying the list from their version onwards.
"""

from __future__ import annotations

import sqlite3

from runwatch.store.sql.migrations import data_step, render
from runwatch.store.sqlite.tx import SqliteTx

TYPES = {
    "int": "INTEGER",
    "float": "REAL",
    "bytes": "BLOB",
    "bool": "INTEGER",
    "false": "0",
    "blob_storage": "",
    "json_copies": "",  # SQLite reads its JSON text as it is (no JSONB before 3.45)
    "binary_text": "TEXT",  # SQLite compares text byte by byte already
}

MIGRATIONS: list[str] = [
    # 1: runs; metric series: chunks of raw points and the aggregate pyramid; events; the live
    # journal; batch dedup.
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        grp TEXT,
        tags TEXT NOT NULL DEFAULT '[]',
        config TEXT NOT NULL DEFAULT '{}',
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL,
        last_update REAL,
        exit_code INTEGER,
        error TEXT,
        seq INTEGER NOT NULL DEFAULT 0,
        summary TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX runs_by_project ON runs (project, created_at);
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs (id),
        key TEXT NOT NULL,
        UNIQUE (run_id, key)
    );
    CREATE TABLE chunks (
        series_id INTEGER NOT NULL,
        n INTEGER NOT NULL,
        step_min INTEGER NOT NULL,
        step_max INTEGER NOT NULL,
        ts_min REAL NOT NULL,
        ts_max REAL NOT NULL,
        steps BLOB NOT NULL,
        ts BLOB NOT NULL,
        vals BLOB NOT NULL
    );
    CREATE INDEX chunks_by_step ON chunks (series_id, step_max);
    CREATE INDEX chunks_by_time ON chunks (series_id, ts_max);
    CREATE TABLE pyramid (
        series_id INTEGER NOT NULL,
        axis INTEGER NOT NULL,
        level INTEGER NOT NULL,
        block INTEGER NOT NULL,
        n INTEGER NOT NULL,
        nf INTEGER NOT NULL,
        vmin REAL NOT NULL,
        vmax REAL NOT NULL,
        vsum REAL NOT NULL,
        first_x REAL NOT NULL,
        last_x REAL NOT NULL,
        last REAL,
        PRIMARY KEY (series_id, axis, level, block)
    ) WITHOUT ROWID;
    CREATE TABLE events (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        level TEXT NOT NULL,
        entity,
        payload TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;
    CREATE INDEX events_by_entity ON events (run_id, entity, seq) WHERE entity IS NOT NULL;
    CREATE TABLE journal (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        body BLOB NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE batches (
        run_id TEXT NOT NULL,
        producer TEXT NOT NULL,
        batch_seq INTEGER NOT NULL,
        seq_first INTEGER NOT NULL,
        seq_last INTEGER NOT NULL,
        PRIMARY KEY (run_id, producer, batch_seq)
    ) WITHOUT ROWID;
    """,
    # 2: per-project retention of raw points; per series, how far raw points were dropped.
    """
    CREATE TABLE retention (
        project TEXT PRIMARY KEY,
        raw_keep_steps INTEGER,
        raw_keep_days REAL
    );
    ALTER TABLE series ADD COLUMN raw_floor_step REAL;
    ALTER TABLE series ADD COLUMN raw_floor_ts REAL;
    """,
    # 3: lifecycle and control: heartbeats, the request snapshot, commands, promotions.
    """
    ALTER TABLE runs ADD COLUMN snapshot TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE runs ADD COLUMN heartbeat_at REAL;
    ALTER TABLE runs ADD COLUMN heartbeat_interval REAL NOT NULL DEFAULT 5;
    UPDATE runs SET heartbeat_at = last_update;
    CREATE INDEX runs_by_status ON runs (status, heartbeat_at);
    CREATE TABLE commands (
        run_id TEXT NOT NULL,
        id INTEGER NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        error TEXT,
        PRIMARY KEY (run_id, id)
    ) WITHOUT ROWID;
    CREATE TABLE promotions (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        artifact TEXT,
        sha256 TEXT NOT NULL,
        created_at REAL NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 4: API tokens, stored as SHA-256 hashes only.
    """
    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        name TEXT,
        scope TEXT NOT NULL,
        project TEXT,
        created_at REAL NOT NULL,
        expires_at REAL,
        revoked_at REAL
    );
    """,
    # 5: the run page's sticky state: vitals keys, tables, point sets, snapshot history.
    """
    ALTER TABLE runs ADD COLUMN vitals TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE tables (
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        rows TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (run_id, name)
    ) WITHOUT ROWID;
    CREATE TABLE point_sets (
        run_id TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        points TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (run_id, name)
    ) WITHOUT ROWID;
    CREATE TABLE snapshot_keys (
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        first_step INTEGER NOT NULL,
        next_age INTEGER NOT NULL,
        last_version INTEGER NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE snapshots (
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        version INTEGER NOT NULL,
        step INTEGER NOT NULL,
        ts REAL NOT NULL,
        reason TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key, version)
    ) WITHOUT ROWID;
    """,
    # 6: captured stdout/stderr lines of supervised workers (bounded per run).
    """
    CREATE TABLE logs (
        run_id TEXT NOT NULL,
        line INTEGER NOT NULL,
        stream TEXT NOT NULL,
        ts REAL NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY (run_id, line)
    ) WITHOUT ROWID;
    """,
    # 7: the artifact manifest of each run (the launcher's latest scan of its run dir).
    """
    CREATE TABLE artifacts (
        run_id TEXT PRIMARY KEY,
        manifest TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
    # 8: the run queue: templated runs submitted from the dashboard, launched by the scheduler.
    """
    CREATE TABLE run_queue (
        run_id TEXT PRIMARY KEY,
        template TEXT NOT NULL,
        params TEXT NOT NULL,
        queued_at REAL NOT NULL,
        started_at REAL
    );
    CREATE INDEX run_queue_waiting ON run_queue (started_at, queued_at);
    """,
    # 9: watch rules (per project, optionally per run) and their alerts (one per episode).
    """
    CREATE TABLE rules (
        id INTEGER PRIMARY KEY,
        project TEXT NOT NULL,
        name TEXT NOT NULL,
        run_id TEXT,
        spec TEXT NOT NULL,
        source TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX rules_by_project ON rules (project);
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        rule_id INTEGER NOT NULL,
        rule_name TEXT NOT NULL,
        project TEXT NOT NULL,
        run_id TEXT NOT NULL,
        run_name TEXT NOT NULL,
        ts REAL NOT NULL,
        level TEXT NOT NULL,
        message TEXT NOT NULL,
        detail TEXT NOT NULL,
        event_seq INTEGER NOT NULL,
        actions TEXT NOT NULL
    );
    CREATE INDEX alerts_by_project ON alerts (project, id);
    CREATE INDEX alerts_by_rule_run ON alerts (rule_id, run_id, ts);
    """,
    # 10: an event's entity as PostgreSQL keeps it: TEXT, with ``entity_int`` saying it was an
    # integer (so one SQL serves both databases).
    """
    ALTER TABLE events ADD COLUMN entity_int INTEGER NOT NULL DEFAULT 0;
    UPDATE events SET entity_int = 1, entity = CAST(entity AS TEXT) WHERE typeof(entity) = 'integer';
    """,
    # 11: a series' newest chunk by rowid, the one ingest appends to (an index on series_id
    # alone orders each series' entries by rowid), as PostgreSQL's chunks_by_id.
    """
    CREATE INDEX chunks_by_id ON chunks (series_id);
    """,
    *render(TYPES),
]

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database forward to :data:`SCHEMA_VERSION`; return the version it started at."""
    (start,) = conn.execute("PRAGMA user_version").fetchone()
    if start > SCHEMA_VERSION:
        raise RuntimeError(
            f"the data dir has schema version {start}, newer than this runwatch ({SCHEMA_VERSION}); "
            "upgrade runwatch"
        )
    for version in range(start, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            if step := data_step(version, SCHEMA_VERSION):
                step(SqliteTx(conn))
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return int(start)
