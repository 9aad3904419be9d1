"""The ``~`` subset: what it refuses, the canonical form the database gets, and matching that
agrees with Python's ``re`` in linear time."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings

from runwatch.runs_query.regex import RegexError, parse_pattern, sqlite_regexp
from tests.runs_query.patterns import patterns, values


@pytest.mark.parametrize(
    ("pattern", "offset", "says"),
    [
        ("", 0, "empty"),
        ("a|", 2, "empty"),
        ("()", 1, "empty"),
        ("*a", 0, "must follow"),
        ("^*", 1, "cannot follow an anchor"),
        ("a**", 2, "one quantifier"),
        ("a{2}", 1, "bounds"),
        ("a]", 1, "unmatched ]"),
        ("a)", 1, "unmatched )"),
        ("(a", 0, "group never closed"),
        ("[ab", 0, "class never closed"),
        ("[]", 0, "empty class"),
        ("[z-a]", 3, "out of order"),
        ("[[:alpha:]]", 1, "no [:alpha:]"),
        ("\\d", 0, "only escape punctuation"),
        ("a\\", 1, "only escape punctuation"),
        ("(" * 34 + "a" + ")" * 34, 33, "nested deeper"),
    ],
)
def test_patterns_outside_the_subset_are_refused_where_they_go_wrong(
    pattern: str, offset: int, says: str
) -> None:
    with pytest.raises(RegexError) as caught:
        parse_pattern(pattern)
    assert caught.value.offset == offset
    assert says in caught.value.message


def test_the_canonical_form_escapes_every_punctuation_character() -> None:
    # PostgreSQL reads "***:" or "(?i)" at the start of a pattern as options: escaped, they
    # are characters.
    assert parse_pattern("\\*\\*\\*:a").canonical == "\\*\\*\\*\\:a"
    assert parse_pattern("\\(\\?i\\)a").canonical == "\\(\\?i\\)a"
    assert parse_pattern("trial-4.*").canonical == "trial\\-4.*"
    assert parse_pattern("[^a-c\\]%]+$").canonical == "[^a-c\\]\\%]+$"


@settings(max_examples=400, deadline=None)
@given(patterns, values)
def test_matching_agrees_with_python_re(pattern: tuple[str, str], value: str) -> None:
    ours, python = pattern
    compiled = parse_pattern(ours)
    expected = re.search(python, value, re.DOTALL) is not None
    assert compiled.search(value) == expected
    assert sqlite_regexp(compiled.canonical, value) == expected


def test_matching_takes_linear_time_where_backtracking_would_not() -> None:
    value = "a" * 50_000 + "c"
    started = time.monotonic()
    assert not parse_pattern("(a|aa)*b").search(value)
    assert not parse_pattern("^(a*)*b$").search(value)
    assert not parse_pattern(".*.*.*.*.*.*.*.*b").search(value)
    assert time.monotonic() - started < 5


def test_sqlite_regexp_matches_nothing_but_text() -> None:
    assert sqlite_regexp("a", None) is None
    assert sqlite_regexp("1", 1) is None
    assert sqlite_regexp(None, "a") is None
