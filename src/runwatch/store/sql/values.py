"""The value index of finished runs (``run_values``): a prefilter for runs queries.

Every number and string leaf of a finished run's ``config``, ``summary`` and ``extremes`` is a
row ``(run_id, doc, path, num, txt)``, so a comparison such as ``config.opt == "adam"`` finds
its runs through an index instead of reading and parsing the JSON of every run. Only runs in
a final status are indexed: a running run's summary changes with every batch, and rewriting its
rows each time would tax ingest. Every other run is always a candidate.

The index only narrows the rows the exact condition (:func:`runwatch.runs_query.compile_where`)
then runs on, so a query selects what it selected without it. The rows of a run are rewritten
by :func:`reindex` in every transaction that changes the status of a run to or from a final
one, or the JSON of a finished run; :func:`rebuild` rewrites them all (the migration that made
the table, ``runwatch migrate``, a bulk load).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, get_args

import msgspec

from runwatch.protocol import FINAL_STATUSES, RunStatus
from runwatch.runs_query.nodes import And, Compare, JsonPath, Node
from runwatch.runs_query.sql import Where
from runwatch.store.sql.tx import Dialect, Tx

DOCS = ("config", "summary", "extremes")
# The statuses whose runs the index does not hold (derived, so a new status is never lost).
UNINDEXED = tuple(sorted(set(get_args(RunStatus)) - FINAL_STATUSES))
_FINAL = tuple(sorted(FINAL_STATUSES))
_COLUMNS = "run_id, doc, path, num, txt"
_REBUILD_RUNS = 1000  # runs read per round by rebuild (bounded memory)
_decode = msgspec.json.decode
Row = tuple[str, str, str, float | None, str | None]
# A PostgreSQL B-tree entry holds at most 2,704 bytes (a third of a page), and a string leaf
# may be any length: an index row past it failed the whole transaction that finished the run
# (a config or text value of a few thousand characters). A path longer than this many UTF-8
# bytes is not indexed (a query on it reads every run), and a string is indexed by its first
# MAX_TXT characters (at most 4 bytes each): with the run id, well within an entry.
MAX_PATH_BYTES = 1024
MAX_TXT = 256
EXACT_TEXT = "txt = ?"


def path_text(keys: tuple[str, ...]) -> str:
    """The index's path of a value: ``."a"."b"``. Unambiguous, as :func:`leaves` skips keys
    holding a double quote (no query can name them)."""
    return "".join(f'."{key}"' for key in keys)


def leaves(value: Any, nul_text: bool) -> Iterator[tuple[str, float | None, str | None]]:
    """The ``(path, num, txt)`` of every number and string inside the object ``value``, reached
    through objects only (a query path never indexes an array). Keys a query cannot name (a
    double quote, backslash or control character) are skipped; so are strings holding NUL
    unless ``nul_text`` (PostgreSQL's TEXT cannot, and its queries do not see them), and
    paths past :data:`MAX_PATH_BYTES`; a string is cut to its first :data:`MAX_TXT`
    characters."""
    stack: list[tuple[tuple[str, ...], Any]] = [((), value)]
    while stack:
        keys, node = stack.pop()
        if not isinstance(node, dict):
            continue
        for key, item in node.items():
            if any(c in '"\\' or ord(c) < 0x20 for c in key):
                continue
            at = (*keys, key)
            if isinstance(item, dict):
                stack.append((at, item))
                continue
            path = path_text(at)
            if len(path.encode()) > MAX_PATH_BYTES:
                continue
            if isinstance(item, str):
                if nul_text or "\x00" not in item:
                    yield path, None, item[:MAX_TXT]
            elif isinstance(item, int | float) and not isinstance(item, bool):
                yield path, _float(item), None


def _float(number: int | float) -> float:
    try:
        return float(number)
    except OverflowError:  # an integer past the float range: as the databases cast it
        return math.copysign(math.inf, number)


def run_rows(dialect: Dialect, run_id: str, docs: tuple[Any, Any, Any]) -> list[Row]:
    """The index rows of one run from its stored ``config``, ``summary`` and ``extremes``."""
    nul_text = dialect.text_holds_nul
    return [
        (run_id, doc, path, num, txt)
        for doc, text in zip(DOCS, docs, strict=True)
        for path, num, txt in leaves(_decode(text), nul_text)
    ]


def reindex(tx: Tx, run_id: str) -> None:
    """Rewrite the rows of one run: its values if its status is final, none otherwise."""
    tx.execute("DELETE FROM run_values WHERE run_id = ?", (run_id,))
    row = tx.execute(
        "SELECT status, config, summary, extremes FROM runs WHERE id = ?", (run_id,)
    ).fetchone()
    if row is not None and row[0] in FINAL_STATUSES:
        tx.copy_rows("run_values", _COLUMNS, run_rows(tx.dialect, run_id, row[1:]))


def rebuild(tx: Tx) -> None:
    """Rewrite the whole index from the runs table."""
    tx.execute("DELETE FROM run_values")
    marks = ",".join("?" * len(_FINAL))
    after = ""
    while True:
        runs = tx.execute(
            f"SELECT id, config, summary, extremes FROM runs WHERE status IN ({marks})"
            f" AND id > ? ORDER BY id LIMIT {_REBUILD_RUNS}",
            (*_FINAL, after),
        ).fetchall()
        if not runs:
            break
        rows = [r for run in runs for r in run_rows(tx.dialect, run[0], run[1:])]
        tx.copy_rows("run_values", _COLUMNS, rows)
        after = runs[-1][0]
    if tx.dialect.analyze:  # a query planned on the empty table's statistics scans it all
        for table in ("runs", "run_values"):
            tx.execute(tx.dialect.analyze.format(table=table))


def prefilter(node: Node, dialect: Dialect) -> Where | None:
    """A condition on ``runs`` that every run ``node`` selects meets, through the index: the
    runs whose values meet each number or string comparison of the query's top-level ``and``,
    and every run not indexed. None when the query has no such comparison."""
    operands = node.operands if isinstance(node, And) else (node,)
    lookups = _lookups([c for c in operands if _indexable(c)], dialect.binary_order)
    if not lookups:
        return None
    # The first lookup's runs are kept when they are in each other's: an uncorrelated IN, which
    # both databases build once (SQLite a temp index, PostgreSQL a hash) and probe per run. A
    # join let SQLite's planner, with no statistics (ANALYZE never runs), scan the next lookup's
    # range for each run of the first (5 s at 10,000 runs); INTERSECT hashed or sorted every row
    # of every lookup.
    head = "SELECT run_id FROM run_values WHERE doc = ? AND path = ? AND"
    (first, params), rest = lookups[0], lookups[1:]
    indexed = f"SELECT v.run_id FROM ({head} {first}) AS v"
    if rest:
        indexed += " WHERE " + " AND ".join(f"v.run_id IN ({head} {c})" for c, _ in rest)
        params = [*params, *(p for _, args in rest for p in args)]
    marks = ",".join("?" * len(UNINDEXED))
    sql = (
        f"runs.id IN ({indexed}"
        f" UNION SELECT live.id FROM runs AS live WHERE live.status IN ({marks}))"
    )
    return Where(sql, [*params, *UNINDEXED])


def _indexable(node: Node) -> bool:
    """Whether ``node`` compares a JSON value that the index may hold with a number or string."""
    return (
        isinstance(node, Compare)
        and isinstance(node.field, JsonPath)
        and isinstance(node.value, float | str)  # null and booleans are not indexed
        and len(path_text(node.field.keys).encode()) <= MAX_PATH_BYTES  # else never indexed
    )


def _lookups(comparisons: list[Node], order: str) -> list[tuple[str, list[Any]]]:
    """Each lookup's condition on ``num`` or ``txt`` and its parameters (``doc`` and ``path``
    first). The number comparisons of one path are one range (a brush's ``>= a and <= b``
    reads the runs between, not every run above ``a``). Exact strings and ranges of two bounds
    first: likely the fewest runs, which the others are probed for."""
    ranges: dict[tuple[str, str], tuple[float, float]] = {}
    found: list[tuple[int, str, list[Any]]] = []  # (rank, condition, parameters)
    for node in comparisons:
        assert isinstance(node, Compare) and isinstance(node.field, JsonPath)
        doc, path, value = node.field.doc, path_text(node.field.keys), node.value
        if isinstance(value, str):
            condition, params = _text_lookup(value, node.op, order)
            found.append((0 if condition == EXACT_TEXT else 1, condition, [doc, path, *params]))
            continue
        assert isinstance(value, float)
        # Widened by one step of the float either side: a database may parse a stored number's
        # text to the float beside the one Python reads, and the index must never miss a run.
        low, high = ranges.get((doc, path), (-math.inf, math.inf))
        if node.op in ("==", ">", ">="):
            low = max(low, math.nextafter(value, -math.inf))
        if node.op in ("==", "<", "<="):
            high = min(high, math.nextafter(value, math.inf))
        ranges[doc, path] = (low, high)
    for key, (low, high) in ranges.items():
        if high == math.inf:
            found.append((1, "num >= ?", [*key, low]))
        elif low == -math.inf:
            found.append((1, "num <= ?", [*key, high]))
        else:
            found.append((0, "num BETWEEN ? AND ?", [*key, low, high]))
    found.sort(key=lambda lookup: lookup[0])  # stable: the query's order otherwise
    return [(condition, params) for _, condition, params in found]


def _text_lookup(value: str, op: str, order: str) -> tuple[str, list[Any]]:
    """The condition on ``txt`` of the indexed runs whose string may compare with ``value`` as
    ``op`` says. A run's string ``t`` is indexed as ``t[:MAX_TXT]`` (or whole, by a release
    before the cut: both are found), and cutting keeps the order: ``t >= v`` gives
    ``t[:MAX_TXT] >= v[:MAX_TXT]``, and ``t[:MAX_TXT] <= t``."""
    short = value[:MAX_TXT]
    if op == "==":
        if short == value:
            return EXACT_TEXT, [value]
        return f"txt{order} BETWEEN ? AND ?", [short, value]
    if op in (">", ">="):  # t > v may have t[:MAX_TXT] == v[:MAX_TXT]: >= for both
        return f"txt{order} >= ?", [short]
    return f"txt{order} {op} ?", [value]
