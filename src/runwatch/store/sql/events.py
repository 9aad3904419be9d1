"""Reading a run's events: its feed, and one entity's story (through the entity index).

An event's entity is kept as TEXT with ``entity_int`` saying it was an integer, so that one
index serves both kinds and the entity comes back as it was logged. An event naming several
entities keeps them all in ``entities`` (JSON) and its first in ``entity``; the others are
rows of ``event_entities``, an index of their own (see :func:`entity_rows`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from runwatch.store.base import EventRecord
from runwatch.store.sql.tx import Tx

_EVENT_COLUMNS = "seq, ts, kind, level, entity, entity_int, payload, entities, step"


def entity_columns(entity: int | str | None) -> tuple[str | None, bool]:
    """An entity as (text, was it an integer): the events table's two entity columns."""
    if entity is None:
        return None, False
    return str(entity), not isinstance(entity, str)


def entity_value(text: str | None, is_int: bool) -> int | str | None:
    """The entity as it was logged, from its two columns."""
    return int(text) if is_int and text is not None else text


def entity_rows(
    run_id: str, seq: int, entities: list[int | str] | None
) -> list[tuple[str, int, str | None, bool]]:
    """The ``event_entities`` rows of an event naming several entities: all but its first
    (which ``events.entity`` holds)."""
    return [(run_id, seq, *entity_columns(e)) for e in (entities or [])[1:]]


def _event(r: tuple[Any, ...]) -> EventRecord:
    return EventRecord(
        seq=r[0],
        ts=r[1],
        kind=r[2],
        level=r[3],
        entity=entity_value(r[4], bool(r[5])),
        payload=msgspec.json.decode(r[6]),
        entities=None if r[7] is None else msgspec.json.decode(r[7]),
        step=r[8],
    )


def events(
    tx: Tx, run_id: str, after: int, limit: int, kind: str | None, newest_first: bool
) -> list[EventRecord]:
    """Events of a run with seq > ``after``, oldest first unless ``newest_first``."""
    where = "run_id = ? AND seq > ?" + (" AND kind = ?" if kind is not None else "")
    args: list[Any] = [run_id, after] + ([kind] if kind is not None else [])
    order = "DESC" if newest_first else "ASC"
    sql = f"SELECT {_EVENT_COLUMNS} FROM events WHERE {where} ORDER BY seq {order} LIMIT ?"
    return [_event(r) for r in tx.execute(sql, [*args, limit]).fetchall()]


def entity_match(entity: str, table: str = "") -> tuple[str, tuple[str, str, str]]:
    """SQL (and its arguments) matching one entity in a table's two entity columns: "47" also
    matches the integer 47 (and "047" does); an integer's canonical text matches integers only,
    and an index on ``entity`` finds both texts."""
    texts = [entity]
    if entity.lstrip("-").isdigit():
        texts.append(str(int(entity)))
    t = f"{table}." if table else ""
    return (
        f"{t}entity IN (?, ?) AND ({t}entity = ? OR {t}entity_int)",
        (texts[0], texts[-1], entity),
    )


def birth_step(tx: Tx, run_id: str, entity: int | str | None) -> int | None:
    """The step of the entity's first event (its birth, among several entities or alone),
    when that event carried one."""
    if entity is None:
        return None
    text, is_int = entity_columns(entity)
    named = "run_id = ? AND entity = ? AND entity_int = ?"
    row = tx.execute(
        "SELECT step FROM events WHERE run_id = ? AND seq = (SELECT min(seq) FROM ("
        f"SELECT min(seq) AS seq FROM events WHERE {named}"
        f" UNION ALL SELECT min(seq) FROM event_entities WHERE {named}) firsts)",
        (run_id, run_id, text, is_int, run_id, text, is_int),
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def entity_events(tx: Tx, run_id: str, entity: str, limit: int) -> list[EventRecord]:
    """One entity's events, oldest first (matched as :func:`entity_match` says): those it is
    the first entity of, and those naming it among others, each once."""
    match, args = entity_match(entity)
    sql = (
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE run_id = ? AND seq IN ("
        f"SELECT seq FROM events WHERE run_id = ? AND {match}"
        f" UNION SELECT seq FROM event_entities WHERE run_id = ? AND {match})"
        " ORDER BY seq LIMIT ?"
    )
    return [_event(r) for r in tx.execute(sql, (run_id, run_id, *args, run_id, *args, limit))]
