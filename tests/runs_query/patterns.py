"""Hypothesis strategies for patterns of the ``~`` subset, each with the Python ``re`` pattern of
the same meaning (``.`` matches newlines, ``$`` only the very end)."""

from __future__ import annotations

import re

from hypothesis import strategies as st

# A small alphabet, so that generated patterns and values meet often.
ALPHABET = "ab-.é\n*"


def _literal(c: str) -> tuple[str, str]:
    ours = "\\" + c if c in ".*-" else c
    return ours, re.escape(c)


_chars = st.sampled_from(ALPHABET).map(_literal)
_dot = st.just((".", "."))


@st.composite
def _class(draw: st.DrawFn) -> tuple[str, str]:
    negated = draw(st.booleans())
    items = draw(st.lists(st.sampled_from(["a", "b", "a-b", "\\-", "é", "\\.", "\n"]), min_size=1))
    body = "".join(items)
    return f"[{'^' if negated else ''}{body}]", f"[{'^' if negated else ''}{body}]"


def _quantified(item: st.SearchStrategy[tuple[str, str]]) -> st.SearchStrategy[tuple[str, str]]:
    return st.tuples(item, st.sampled_from(["", "", "*", "+", "?"])).map(
        lambda t: (t[0][0] + t[1], t[0][1] + t[1])
    )


def _branch(items: st.SearchStrategy[tuple[str, str]]) -> st.SearchStrategy[tuple[str, str]]:
    anchored = st.tuples(
        st.sampled_from([("", ""), ("^", "^")]),
        st.lists(items, min_size=1, max_size=4),
        st.sampled_from([("", ""), ("$", r"\Z")]),
    )
    return anchored.map(
        lambda t: (
            t[0][0] + "".join(i[0] for i in t[1]) + t[2][0],
            t[0][1] + "".join(i[1] for i in t[1]) + t[2][1],
        )
    )


def _alternation(
    items: st.SearchStrategy[tuple[str, str]],
) -> st.SearchStrategy[tuple[str, str]]:
    return st.lists(_branch(items), min_size=1, max_size=3).map(
        lambda bs: ("|".join(b[0] for b in bs), "|".join(b[1] for b in bs))
    )


_atoms = st.one_of(_chars, _dot, _class())
patterns: st.SearchStrategy[tuple[str, str]] = _alternation(
    _quantified(
        st.one_of(
            _atoms,
            _alternation(_quantified(_atoms)).map(lambda p: (f"({p[0]})", f"(?:{p[1]})")),
        )
    )
)
values = st.text(alphabet=ALPHABET, max_size=8)
