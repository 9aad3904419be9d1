"""Hypothesis strategies: runs (as dicts of RunInfo fields) and valid query texts over them,
drawn from small alphabets so that queries and runs meet often."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

from tests.runs_query.patterns import patterns

KEYS = ["lr", "a", "b", "train/loss", "x y", "it's", "a.b", "0", "é", ""]
TEXT = st.text(alphabet="ab-.é\n*'\"\\ %_😀", max_size=5)
INJECTIONS = ["'); DROP TABLE runs; --", "' OR 1=1 --", '" OR ""="', "%", "_", "\\"]
TAGS = ["sweep", "base", "é", *INJECTIONS]
STATUSES = ["queued", "running", "succeeded", "failed", "crashed"]
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

numbers = st.one_of(
    st.integers(-3, 3),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.5, -0.0, 1e-3, 1e300, 2.5]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, TEXT)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=2)
    ),
    max_leaves=4,
)
times = st.floats(1.7e9, 1.9e9)


@st.composite
def runs(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Up to 10 runs with distinct ids."""
    count = draw(st.integers(0, 10))
    return [
        {
            "id": f"r{i}",
            "project": draw(st.sampled_from(["p", "q"])),
            "name": draw(st.one_of(TEXT, st.sampled_from(["trial-4", "trial-42", "base"]))),
            "group": draw(st.one_of(st.none(), TEXT)),
            "tags": draw(st.lists(st.sampled_from(TAGS), unique=True, max_size=3)),
            "config": draw(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4)),
            "status": draw(st.sampled_from(STATUSES)),
            "created_at": draw(times),
            "started_at": draw(st.one_of(st.none(), times)),
            "ended_at": draw(st.one_of(st.none(), times)),
            "last_update": draw(st.one_of(st.none(), times)),
            "lost": draw(st.integers(0, 3)),
            "summary": draw(
                st.dictionaries(
                    st.sampled_from(KEYS),
                    st.one_of(numbers, st.sampled_from(["nan", "inf", "-inf"])),
                    max_size=3,
                )
            ),
            "extremes": draw(
                st.dictionaries(
                    st.sampled_from(KEYS),
                    st.tuples(numbers, numbers).map(
                        lambda t: {"min": min(t), "max": max(t)}  # type: ignore[type-var]
                    ),
                    max_size=3,
                )
            ),
        }
        for i in range(count)
    ]


def string(text: str) -> str:
    """``text`` as a query string literal (JSON's escapes are the query's)."""
    return json.dumps(text)


def _number(value: int | float) -> str:
    return str(value) if isinstance(value, int) else repr(value)


def _key(key: str) -> str:
    return f".{key}" if _WORD.fullmatch(key) else f"[{string(key)}]"


paths = st.tuples(
    st.sampled_from(["config", "summary"]), st.lists(st.sampled_from(KEYS), min_size=1, max_size=2)
).map(lambda t: t[0] + "".join(_key(k) for k in t[1])) | st.tuples(
    st.sampled_from(KEYS), st.sampled_from(["min", "max", "last"])
).map(lambda t: f"summary{_key(t[0])}.{t[1]}")  # a metric's aggregates
number_literals = numbers.map(_number)
string_literals = st.one_of(TEXT, st.sampled_from(["trial-4", "nan", "b", *STATUSES])).map(string)
ordering = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])
pattern_literals = patterns.map(lambda p: string(p[0]))
iso_times = st.datetimes(datetime(2023, 1, 1), datetime(2030, 1, 1)).map(
    lambda d: string(d.isoformat())
) | st.datetimes(datetime(2023, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)).map(
    lambda d: string(d.isoformat())
)


def _comparison(
    fields: st.SearchStrategy[str], ops: st.SearchStrategy[str], values: st.SearchStrategy[str]
) -> st.SearchStrategy[str]:
    return st.tuples(fields, ops, values).map(" ".join)


def _membership(
    fields: st.SearchStrategy[str], values: st.SearchStrategy[str]
) -> st.SearchStrategy[str]:
    return st.tuples(
        fields, st.sampled_from(["in", "not in"]), st.lists(values, min_size=1, max_size=3)
    ).map(lambda t: f"{t[0]} {t[1]} ({', '.join(t[2])})")


_text_columns = st.sampled_from(["name", "project", "status", "group", "id"])
_time_columns = st.sampled_from(["created", "started", "ended", "updated"])
_json_values = st.one_of(
    number_literals, string_literals, st.sampled_from(["true", "false", "null"])
)
conditions = st.one_of(
    _comparison(paths, ordering, st.one_of(number_literals, string_literals)),
    _comparison(paths, st.sampled_from(["==", "!="]), st.sampled_from(["true", "false", "null"])),
    _comparison(paths, st.just("~"), pattern_literals),
    _membership(paths, _json_values),
    _comparison(_text_columns, ordering, string_literals),
    _comparison(st.just("group"), st.sampled_from(["==", "!="]), st.just("null")),
    _comparison(_text_columns, st.just("~"), pattern_literals),
    _membership(_text_columns, string_literals),
    _comparison(_time_columns, ordering, st.one_of(times.map(repr), iso_times)),
    _comparison(st.sampled_from(["started", "ended", "updated"]), st.just("=="), st.just("null")),
    _comparison(st.just("lost"), ordering, st.integers(-1, 4).map(str)),
    _membership(st.just("lost"), st.integers(0, 3).map(str)),
    st.tuples(st.sampled_from(TAGS).map(string), st.sampled_from(["in", "not in"])).map(
        lambda t: f"{t[0]} {t[1]} tags"
    ),
)
queries = st.recursive(
    conditions,
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda t: f"({t[0]}) and ({t[1]})"),
        st.tuples(inner, inner).map(lambda t: f"{t[0]} or {t[1]}"),
        inner.map(lambda q: f"not ({q})"),
    ),
    max_leaves=6,
)
