"""The query as a parameterised SQL condition on the ``runs`` table, for one store's Dialect.

Every value from the query (literals, JSON paths, patterns, tags) travels as a ``?``
parameter; the SQL text is made only of this module's and the Dialect's fragments and the
columns' SQL of :data:`runwatch.runs_query.nodes.COLUMNS`. The condition reads ``runs``
unaliased (the Dialect's tag test names it).

A comparison whose value is absent or of another type is NULL in SQL; ``and``/``or`` and the
final WHERE treat NULL as false already, so only ``not`` needs ``IS TRUE`` to stay two-valued,
as the Python evaluator is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runwatch.runs_query.nodes import (
    And,
    Column,
    Compare,
    Field,
    HasTag,
    JsonPath,
    Match,
    Node,
    Not,
    Or,
)
from runwatch.store.sql.tx import Dialect


@dataclass(frozen=True)
class Where:
    """A condition for ``SELECT … FROM runs WHERE {sql}`` and its parameters, in order."""

    sql: str
    params: list[Any] = field(default_factory=list)


def compile_where(node: Node, dialect: Dialect) -> Where:
    """``node`` as SQL with ``?`` placeholders for ``dialect``."""
    params: list[Any] = []
    return Where(_condition(node, dialect, params), params)


def _condition(node: Node, dialect: Dialect, params: list[Any]) -> str:
    if isinstance(node, And | Or):
        joiner = " AND " if isinstance(node, And) else " OR "
        return "(" + joiner.join(_condition(n, dialect, params) for n in node.operands) + ")"
    if isinstance(node, Not):
        return f"(NOT (({_condition(node.operand, dialect, params)}) IS TRUE))"
    if isinstance(node, HasTag):
        params.append(node.tag)
        return f"({dialect.has_tag})"
    if isinstance(node, Match):
        text = _text(node.field, dialect, params)
        params.append(node.pattern.canonical)
        return "(" + dialect.regex_match.replace("{value}", text) + ")"
    return _compare(node, dialect, params)


def _compare(node: Compare, dialect: Dialect, params: list[Any]) -> str:
    value = node.value
    if isinstance(node.field, Column):
        if value is None:
            return f"({node.field.sql} IS NULL)"
        params.append(value)
        return f"({node.field.sql}{_order(node.op, value, dialect)} {_sql_op(node.op)} ?)"
    path = node.field
    if value is None:
        return f"(COALESCE({_json(dialect.json_kind, path, dialect, params)}, 'null') = 'null')"
    if isinstance(value, bool):
        kind = _json(dialect.json_kind, path, dialect, params)
        params.append("true" if value else "false")
        return f"({kind} = ?)"
    if isinstance(value, float):
        number = _json(dialect.json_number, path, dialect, params, dialect.json_number_tail)
        params.append(value)
        return f"({number} {_sql_op(node.op)} ?)"
    text = _json(dialect.json_text, path, dialect, params, dialect.json_text_tail)
    params.append(value)
    return f"({text}{_order(node.op, value, dialect)} {_sql_op(node.op)} ?)"


def _order(op: str, value: float | str, dialect: Dialect) -> str:
    """Code-point order for text compared with < and the like; equality is byte equality in
    any collation, and stays plain so an index on the column serves it."""
    return dialect.binary_order if isinstance(value, str) and op != "==" else ""


def _sql_op(op: str) -> str:
    return "=" if op == "==" else op


def _text(field: Column | JsonPath, dialect: Dialect, params: list[Any]) -> str:
    if isinstance(field, Column):
        return field.sql
    return _json(dialect.json_text, field, dialect, params, dialect.json_text_tail)


def _json(
    fragment: str, path: JsonPath, dialect: Dialect, params: list[Any], tail: str = ""
) -> str:
    """``fragment`` on the path's column, with its path parameters added (one per ``?``, each
    the path then ``tail``); the caller adds its own value after, as its ``?`` comes after the
    fragment."""
    params.extend([_path(path, dialect) + tail] * fragment.count("?"))
    return f"({fragment.replace('{doc}', path.doc)})"


def _path(path: JsonPath, dialect: Dialect) -> str:
    """The dialect's path text: ``$."a"."b"``; keys hold no ``"``, backslash or control
    character (the parser refuses them), so no quoting is needed in either syntax."""
    return dialect.json_root + "".join(f'."{key}"' for key in path.keys)


@dataclass(frozen=True)
class SortKey:
    """A sort field as three SQL expressions on ``runs``: ``rank`` (0 a number, 1 a string, 2
    absent or of another type), and the value as a number or as text (NULL otherwise), with the
    parameters they need in that order. Rows sort by rank first, so the runs without the value
    come last in either direction."""

    rank: str
    number: str
    text: str
    params: list[Any] = field(default_factory=list)


_NO_NUMBER = "CAST(NULL AS DOUBLE PRECISION)"
_NO_TEXT = "CAST(NULL AS TEXT)"


def sort_key(sort: Field, dialect: Dialect) -> SortKey:
    """The expressions :class:`SortKey` describes, for ``dialect``."""
    if isinstance(sort, Column):
        if sort.numeric:
            rank = f"CASE WHEN {sort.sql} IS NULL THEN 2 ELSE 0 END"
            return SortKey(rank, sort.sql, _NO_TEXT)
        rank = f"CASE WHEN {sort.sql} IS NULL THEN 2 ELSE 1 END"
        return SortKey(rank, _NO_NUMBER, sort.sql)
    params: list[Any] = []
    kind = _json(dialect.json_kind, sort, dialect, params)
    number = _json(dialect.json_number, sort, dialect, params, dialect.json_number_tail)
    text = _json(dialect.json_text, sort, dialect, params, dialect.json_text_tail)
    rank = f"CASE {kind} WHEN 'number' THEN 0 WHEN 'string' THEN 1 ELSE 2 END"
    return SortKey(rank, number, text, params)


def number_value(value: Field, dialect: Dialect) -> tuple[str, list[Any]]:
    """SQL for the field's value as a number (NULL unless it is one), and its parameters."""
    if isinstance(value, Column):
        return (value.sql if value.numeric else _NO_NUMBER), []
    params: list[Any] = []
    return _json(dialect.json_number, value, dialect, params, dialect.json_number_tail), params
