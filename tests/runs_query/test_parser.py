"""The query parser: the trees of good queries, and the column and message of bad ones."""

from __future__ import annotations

import pytest

from runwatch.runs_query import QueryError, parse
from runwatch.runs_query.nodes import COLUMNS, And, Compare, HasTag, JsonPath, Match, Not, Or

LR = JsonPath("config", ("lr",))
ACC = JsonPath("summary", ("acc",))
STATUS = COLUMNS["status"]


def test_the_issue_example_is_a_conjunction_of_four_conditions() -> None:
    query = 'config.lr < 1e-3 and summary.acc > 0.9 and status == "succeeded" and "sweep" in tags'
    assert parse(query) == And(
        (
            Compare(LR, "<", 0.001),
            Compare(ACC, ">", 0.9),
            Compare(STATUS, "==", "succeeded"),
            HasTag("sweep"),
        )
    )


def test_and_binds_tighter_than_or_and_not_tighter_than_and() -> None:
    a, b, c = (Compare(LR, "==", float(n)) for n in (1, 2, 3))
    assert parse("config.lr == 1 or config.lr == 2 and config.lr == 3") == Or((a, And((b, c))))
    assert parse("not config.lr == 1 and config.lr == 2") == And((Not(a), b))
    assert parse("not (config.lr == 1 OR config.lr == 2)") == Not(Or((a, b)))
    assert parse("((config.lr == 1))") == a


def test_not_equal_is_not_equal_and_lists_are_alternatives() -> None:
    assert parse('status != "failed"') == Not(Compare(STATUS, "==", "failed"))
    assert parse('status in ("a", "b")') == Or(
        (Compare(STATUS, "==", "a"), Compare(STATUS, "==", "b"))
    )
    assert parse("status not in ['a']") == Not(Compare(STATUS, "==", "a"))
    assert parse('"x" not in tags') == Not(HasTag("x"))


def test_paths_take_words_and_quoted_keys() -> None:
    deep = JsonPath("config", ("optim", "lr/base", "and"))
    assert parse('config.optim["lr/base"].and >= -2') == Compare(deep, ">=", -2.0)
    assert parse("summary['train/loss'] < .5") == Compare(
        JsonPath("summary", ("train/loss",)), "<", 0.5
    )


def test_literals() -> None:
    assert parse("config.a == true") == Compare(JsonPath("config", ("a",)), "==", True)
    assert parse("config.a == null") == Compare(JsonPath("config", ("a",)), "==", None)
    assert parse("config.a == 1E+2") == Compare(JsonPath("config", ("a",)), "==", 100.0)
    text = parse(r'name == "q\"\\\n\u00e9\ud83d\ude00" or name == ' + "'it\\'s'")
    assert text == Or(
        (Compare(COLUMNS["name"], "==", 'q"\\\né😀'), Compare(COLUMNS["name"], "==", "it's"))
    )


def test_times_take_iso_dates_in_utc_or_epoch_seconds() -> None:
    created = COLUMNS["created"]
    assert parse('created > "2026-12-01"') == Compare(created, ">", 1796083200.0)
    assert parse('created > "2026-12-01T02:00+02:00"') == Compare(created, ">", 1796083200.0)
    assert parse("created > 1796083200") == Compare(created, ">", 1796083200.0)
    assert parse("ended == null") == Compare(COLUMNS["ended"], "==", None)


def test_patterns_are_kept_in_canonical_form() -> None:
    node = parse('name ~ "trial-4.*"')
    assert isinstance(node, Match)
    assert node.pattern.canonical == "trial\\-4.*"


@pytest.mark.parametrize(
    ("query", "column", "says"),
    [
        ("", 1, "empty query"),
        ("config.lr <", 12, "expected a value"),
        ("config.lr < 1 and", 18, "expected a condition"),
        ("config.lr = 1", 11, "use =="),
        ("nme == 'x'", 1, "unknown field 'nme'"),
        ("config == 1", 8, "config needs a key"),
        ("config.0 == 1", 8, "expected a key"),
        ("config[lr] == 1", 8, "quoted key"),
        ('config["a\\"b"] == 1', 8, "double quote"),
        ("name == 3", 9, "quoted string"),
        ("name == null", 9, "never null"),
        ("group < null", 9, "needs a number or a string"),
        ("config.a > true", 12, "needs a number or a string"),
        ("created > 'yesterday'", 11, "ISO date"),
        ("created ~ 'x'", 11, "not numbers or times"),
        ("lost ~ 'x'", 8, "not numbers or times"),
        ("lost > '3'", 8, "lost is a count"),
        ("lost == null", 9, "never null"),
        ("name ~ 3", 8, "quoted pattern"),
        ("name ~ 'ab{2}'", 11, "bounds"),
        ("name ~ 'a\\\\d'", 8, "may only escape punctuation"),
        ("(name == 'a'", 13, "expected ) to close the ( at column 1"),
        ("name == 'a')", 12, "unmatched )"),
        ("name == 'a' name", 13, "expected and, or"),
        ("tags == 'x'", 1, "in tags"),
        ("'x' in name", 8, "only tags"),
        ("3 in tags", 1, "quote the tag"),
        ("'x' == name", 5, "in tags"),
        ("name in 'a'", 9, "expected a list"),
        ("name in ('a' 'b')", 14, "expected , or )"),
        ("name == 'abc", 9, "never closed"),
        ("name == 'a\\qb'", 11, "unknown escape"),
        ("name == '\\u0000'", 10, "not a character"),
        ("config.x == 1e999", 13, "too large"),
        ("name == 'a' & x", 13, "unexpected character '&'"),
        ("and", 1, "expected a condition"),
    ],
)
def test_bad_queries_point_at_their_column(query: str, column: int, says: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse(query)
    assert caught.value.column == column, caught.value
    assert says in caught.value.message


def test_the_error_text_draws_a_caret_under_the_column() -> None:
    with pytest.raises(QueryError) as caught:
        parse("config.lr < 1 and summary.acc >")
    lines = str(caught.value).splitlines()
    assert lines[0] == ('expected a value: a number, a "string", true, false or null (column 32)')
    assert lines[1] == "config.lr < 1 and summary.acc >"
    assert lines[2] == " " * 31 + "^"


def test_a_long_query_is_drawn_around_its_column() -> None:
    query = "config.a == 1 and " * 10 + "config.b = 2"
    with pytest.raises(QueryError) as caught:
        parse(query)
    _, shown, caret = str(caught.value).splitlines()
    assert shown.startswith("…") and len(shown) < 90
    assert shown[caret.index("^")] == "="


def test_limits_bound_length_nesting_conditions_and_paths() -> None:
    with pytest.raises(QueryError, match="longer than 2000"):
        parse("name == '" + "x" * 2000 + "'")
    assert parse("(" * 32 + "name == 'a'" + ")" * 32) == Compare(COLUMNS["name"], "==", "a")
    with pytest.raises(QueryError, match="nested deeper than 32") as caught:
        parse("(" * 33 + "name == 'a'" + ")" * 33)
    assert caught.value.column == 34
    with pytest.raises(QueryError, match="nested deeper than 32"):
        parse("not " * 33 + "name == 'a'")
    parse(" or ".join(["name == 'a'"] * 64))
    with pytest.raises(QueryError, match="more than 64 conditions"):
        parse(" or ".join(["name == 'a'"] * 65))
    with pytest.raises(QueryError, match="more than 64 conditions"):
        parse("name in (" + ", ".join(["'a'"] * 65) + ")")
    with pytest.raises(QueryError, match="more than 16 keys"):
        parse("config" + ".k" * 17 + " == 1")
