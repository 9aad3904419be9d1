"""The query evaluated in Python over one run: the reference the SQL of every store must equal."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from runwatch.runs_query.nodes import And, Column, Compare, Field, HasTag, Match, Node, Not, Or

_MISSING = object()
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def matches(node: Node, run: Mapping[str, Any]) -> bool:
    """Whether ``run`` (the fields of a RunInfo: ``config``, ``summary``, ``tags``, ``name``,
    ``created_at``…) satisfies the query ``node``."""
    if isinstance(node, And):
        return all(matches(n, run) for n in node.operands)
    if isinstance(node, Or):
        return any(matches(n, run) for n in node.operands)
    if isinstance(node, Not):
        return not matches(node.operand, run)
    if isinstance(node, HasTag):
        return node.tag in run["tags"]
    value = _lookup(node.field, run)
    if isinstance(node, Match):
        return isinstance(value, str) and node.pattern.search(value)
    return _compare(node, value)


def _lookup(field: Field, run: Mapping[str, Any]) -> Any:
    if isinstance(field, Column):
        return run[field.key]
    value: Any = run[field.doc]
    for key in field.keys:
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def _compare(node: Compare, value: Any) -> bool:
    wanted = node.value
    if wanted is None:
        return value is None or value is _MISSING
    if isinstance(wanted, bool):
        return isinstance(value, bool) and value == wanted
    if isinstance(wanted, float):
        # Every number is compared as a 64-bit float, as both databases are told to.
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return _OPS[node.op](float(value), wanted)
    return isinstance(value, str) and _OPS[node.op](value, wanted)
