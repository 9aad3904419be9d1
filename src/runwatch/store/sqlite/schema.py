"""SQLite schema, versioned with forward-only migrations tracked in ``PRAGMA user_version``.

The tables of the first releases (:mod:`runwatch.store.sql.history`) come first, then SQLite's
own two, then the migrations both stores share (:mod:`runwatch.store.sql.migrations`), all
rendered with :data:`TYPES`. To change the schema,
append a shared migration; never edit one that has shipped, because data dirs created by
earlier versions are migrated by replaying the list from their version onwards.
"""

from __future__ import annotations

import sqlite3

from runwatch.store.sql.history import FIRST
from runwatch.store.sql.migrations import SHARED, data_step, render
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
    "id": "INTEGER PRIMARY KEY",
    "small": "INTEGER",
    "without_rowid": " WITHOUT ROWID",
    "untyped": "",
    "entity_int": "",
    "rowid_pk": "",
    "rowid": "",
    "rowid_order": "",
    "chunk_storage": "",
    "series_fk": "",  # SQLite never enforced the reference
}

MIGRATIONS: list[str] = [
    *render(FIRST, TYPES),
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
    *render(SHARED, TYPES),
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
