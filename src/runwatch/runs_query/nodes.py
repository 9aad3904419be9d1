"""The parsed query: a small tree of conditions joined by ``and``, ``or`` and ``not``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from runwatch.protocol import CLOSED_STATUSES
from runwatch.runs_query.regex import Pattern

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # a key a query may name without quotes
# What a column holds: text, nullable text, epoch seconds, nullable epoch seconds, a count.
ColumnType = Literal["text", "text?", "time", "time?", "count"]
Op = Literal["==", "<", "<=", ">", ">="]


@dataclass(frozen=True)
class Column:
    """A plain field of a run: ``key`` in a run dict, ``sql`` its SQL on ``runs`` (a column
    name, or an expression of the row)."""

    key: str
    sql: str
    type: ColumnType

    @property
    def numeric(self) -> bool:
        """Whether it holds numbers (times, counts): sorted and compared as numbers."""
        return self.type.startswith("time") or self.type == "count"


@dataclass(frozen=True)
class JsonPath:
    """A value inside a run's JSON ``config``, ``summary`` or ``extremes`` (each metric's
    ``{"min", "max"}``, which a query names ``summary.KEY.min``): object keys from the top."""

    doc: Literal["config", "summary", "extremes"]
    keys: tuple[str, ...]


Field = Column | JsonPath
# A literal: null, a boolean, a number (every number is compared as a float) or a string.
Value = None | bool | float | str


@dataclass(frozen=True)
class Compare:
    """``field op value``; ``!=`` is parsed as ``not ==``."""

    field: Field
    op: Op
    value: Value


@dataclass(frozen=True)
class Match:
    """``field ~ pattern``: the field is a string that the pattern matches somewhere."""

    field: Field
    pattern: Pattern


@dataclass(frozen=True)
class HasTag:
    """``"tag" in tags``."""

    tag: str


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = Compare | Match | HasTag | Not | And | Or

# Why early termination stopped the run: its sweep trial's reason (judged worse at a rung, the
# run sent a cancel) while that cancel may still end it and once it ended it cancelled; NULL for
# any other run, and for one that closed otherwise (succeeded or failed before the cancel came,
# or before it was judged: early termination did not stop it). One lookup in the trials'
# unique index on ``run_id`` per row read; RunInfo.stopped_early reads the same SQL.
_NOT_STOPPED = ", ".join(f"'{s}'" for s in sorted(CLOSED_STATUSES - {"cancelled"}))
STOPPED_EARLY = (
    "(SELECT t.stopped_early FROM sweep_trials t"
    f" WHERE t.run_id = runs.id AND runs.status NOT IN ({_NOT_STOPPED}))"
)
# The plain fields by the name a query uses for them.
COLUMNS: dict[str, Column] = {
    "id": Column("id", "id", "text"),
    "name": Column("name", "name", "text"),
    "project": Column("project", "project", "text"),
    "status": Column("status", "status", "text"),
    "group": Column("group", "grp", "text?"),
    "created": Column("created_at", "created_at", "time"),
    "started": Column("started_at", "started_at", "time?"),
    "ended": Column("ended_at", "ended_at", "time?"),
    "updated": Column("last_update", "last_update", "time?"),
    "lost": Column("lost", "lost", "count"),
    "stopped_early": Column("stopped_early", STOPPED_EARLY, "text?"),
}


def field_name(field: Field) -> str:
    """The field as a query names it: ``created``, ``config.lr``, ``summary["train/loss"]``."""
    if isinstance(field, Column):
        return next(name for name, column in COLUMNS.items() if column == field)
    keys = "".join(f".{k}" if _WORD.fullmatch(k) else f'["{k}"]' for k in field.keys)
    return ("summary" if field.doc == "extremes" else field.doc) + keys
