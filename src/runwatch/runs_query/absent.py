"""The fields a query names that no run of a sample has: most likely typos, which otherwise
show as "no run matches" with nothing to say why (``config.optimzer == "adam"``)."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterator

from runwatch.runs_query.nodes import And, Compare, JsonPath, Match, Node, Not, Or, field_name


def json_fields(node: Node) -> Iterator[JsonPath]:
    """Every config and summary field ``node`` names, in order (repeats included)."""
    if isinstance(node, Compare | Match):
        if isinstance(node.field, JsonPath):
            yield node.field
    elif isinstance(node, Not):
        yield from json_fields(node.operand)
    elif isinstance(node, And | Or):
        for operand in node.operands:
            yield from json_fields(operand)


def absent_fields(node: Node, known: Collection[str]) -> list[dict[str, str | None]]:
    """Each field ``node`` names that is not among ``known`` (the fields runs have, as
    ``/run-fields`` names them: leaves, objects past its depth shown whole) nor an object
    holding one of them, with the known field most like it (``like``, or None)."""
    out: list[dict[str, str | None]] = []
    for path in json_fields(node):
        name = field_name(path)
        if any(
            k == name
            or k.startswith((name + ".", name + "["))
            or name.startswith((k + ".", k + "["))
            for k in known
        ):
            continue  # a field, an object holding fields, or inside a field listed whole
        if all(entry["field"] != name for entry in out):
            like = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
            out.append({"field": name, "like": like[0] if like else None})
    return out
