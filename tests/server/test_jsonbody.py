"""The nesting bound read from a body's bytes: brackets in strings (escaped quotes included) do
not count, objects and arrays both do, and the limit is exact."""

from __future__ import annotations

import msgspec
import pytest

from runwatch.server.jsonbody import MAX_DEPTH, integral_floats_as_ints, too_deep


def nested(depth: int) -> object:
    node: object = 1
    for level in range(depth):
        node = {"k": node} if level % 2 else [node]
    return node


@pytest.mark.parametrize("depth", [1, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 5 * MAX_DEPTH])
def test_the_limit_is_exact_for_arrays_and_objects(depth: int) -> None:
    body = msgspec.json.encode({"wide": [[1]] * 500, "deep": nested(depth - 1)})
    assert too_deep(body) is (depth > MAX_DEPTH)


@pytest.mark.parametrize(
    "text", ["[" * 200, '\\"' + "[" * 200, "\\\\" + "{" * 200, "]" * 100 + "[" * 100]
)
def test_brackets_inside_strings_do_not_count(text: str) -> None:
    assert not too_deep(msgspec.json.encode({"s": text, "t": [text, {"u": text}]}))
    assert too_deep(msgspec.json.encode({"s": text, "deep": nested(MAX_DEPTH + 1)}))


def test_whole_floats_become_ints_and_the_rest_stay() -> None:
    got = integral_floats_as_ints({"a": [5.0, 5.5, 1e300, float(2**63), -3.0], "b": "5.0"})
    assert got == {"a": [5, 5.5, 1e300, float(2**63), -3], "b": "5.0"}
    assert [type(v) for v in got["a"]] == [int, float, float, float, int]
