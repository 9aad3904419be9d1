"""The regular expressions ``~`` accepts: a small subset that every engine reads the same way.

Syntax: literal characters; ``.`` (any character, newline included); ``[abc]``, ``[a-z]``,
``[^…]`` (ranges by code point); ``*``, ``+``, ``?`` after a character, class, ``.`` or group;
``|``; groups ``( … )``; ``^`` and ``$`` (start and end of the whole value); ``\\`` before an
ASCII punctuation character makes it literal. Nothing else: no ``\\d``/``\\w`` (their Unicode
meanings differ between engines), no ``{m,n}``, no flags, look-arounds or back-references.
A pattern matches a value when it matches somewhere in it (anchor with ``^…$`` for whole values).

The pattern is parsed here, so:

- the database gets its *canonical* form (every ASCII punctuation character escaped unless it
  is an operator), which PostgreSQL's ``~`` reads with the meaning above, with no way to reach
  its option prefixes or escapes;
- matching in Python (the evaluator, and SQLite's ``REGEXP`` function :func:`sqlite_regexp`)
  runs a Thompson automaton: time linear in the value whatever the pattern, so a query cannot
  make the server backtrack for ever.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

_META = set(".[]()|*+?^$\\{}")
_PUNCT = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
MAX_DEPTH = 32
# Transitions remembered per pattern (the automaton's reachable state sets, looked up by
# character, so a long value costs a dict lookup per character once warm), bounded by the
# states they hold in all; and how many patterns' automata are kept.
_CACHE_STATES = 50_000
_AUTOMATA = 32


class RegexError(ValueError):
    """A pattern outside the subset: ``offset`` is the 0-based index of the problem in it."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True)
class _Char:
    """One character: ``ranges`` of code points (inclusive), or all but them when ``negated``."""

    ranges: tuple[tuple[int, int], ...]
    negated: bool = False
    any: bool = False


@dataclass(frozen=True)
class _Anchor:
    end: bool  # False: ^ (start of value), True: $ (end of value)


@dataclass(frozen=True)
class _Group:
    alt: _Alt


@dataclass(frozen=True)
class _Repeat:
    item: _Char | _Group
    op: str  # * + ?


@dataclass(frozen=True)
class _Alt:
    branches: tuple[tuple[_Char | _Anchor | _Group | _Repeat, ...], ...]


@dataclass(frozen=True)
class Pattern:
    """A parsed pattern: ``canonical`` is what the database gets; :meth:`search` matches."""

    source: str
    canonical: str

    def search(self, text: str) -> bool:
        """Whether the pattern matches somewhere in ``text``."""
        return _automaton(self.canonical).search(text)


def parse_pattern(source: str) -> Pattern:
    """``source`` parsed; RegexError when it is outside the subset."""
    return Pattern(source, _canonical_alt(_parse(source)))


def sqlite_regexp(pattern: str | None, value: object) -> bool | None:
    """SQLite's ``REGEXP`` function (``value REGEXP pattern`` calls it as (pattern, value)):
    register it on every connection that runs a query, e.g.
    ``conn.create_function("regexp", 2, sqlite_regexp, deterministic=True)``.
    ``pattern`` is a canonical pattern from a compiled query; a non-text value matches nothing."""
    if pattern is None or not isinstance(value, str):
        return None
    return _automaton(pattern).search(value)


class _Parser:
    def __init__(self, source: str) -> None:
        self.s = source
        self.i = 0

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def alt(self, depth: int) -> _Alt:
        if depth > MAX_DEPTH:
            raise RegexError(f"groups nested deeper than {MAX_DEPTH}", self.i)
        branches = [self.branch(depth)]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.branch(depth))
        return _Alt(tuple(branches))

    def branch(self, depth: int) -> tuple[_Char | _Anchor | _Group | _Repeat, ...]:
        items: list[_Char | _Anchor | _Group | _Repeat] = []
        start = self.i
        while (c := self.peek()) and c not in "|)":
            at = self.i
            item: _Char | _Anchor | _Group | _Repeat
            if c in "*+?":
                raise RegexError(f"{c} must follow a character, class, . or group", at)
            if c in "{}":
                raise RegexError("bounds {m,n} are not supported: escape a literal as \\{", at)
            if c == "]":
                raise RegexError("unmatched ]: escape a literal as \\]", at)
            if c in "^$":
                self.i += 1
                item = _Anchor(end=c == "$")
            elif c == "(":
                self.i += 1
                item = _Group(self.alt(depth + 1))
                if self.peek() != ")":
                    raise RegexError("group never closed", at)
                self.i += 1
            elif c == "[":
                item = self.char_class()
            elif c == ".":
                self.i += 1
                item = _Char((), any=True)
            else:
                item = self.literal()
            if self.peek() and self.peek() in "*+?":
                if isinstance(item, _Anchor):
                    raise RegexError(f"{self.peek()} cannot follow an anchor", self.i)
                item = _Repeat(item, self.peek())
                self.i += 1
                if self.peek() and self.peek() in "*+?":
                    raise RegexError("one quantifier at a time: use a group", self.i)
            items.append(item)
        if not items:
            raise RegexError("empty pattern or alternative", start)
        return tuple(items)

    def literal(self) -> _Char:
        c = self.s[self.i]
        if c == "\\":
            e = self.s[self.i + 1 : self.i + 2]
            if not e or e not in _PUNCT:
                raise RegexError(
                    "\\ may only escape punctuation (no \\d, \\w, \\s: use [0-9] and the like)",
                    self.i,
                )
            self.i += 2
            return _Char(((ord(e), ord(e)),))
        self.i += 1
        return _Char(((ord(c), ord(c)),))

    def char_class(self) -> _Char:
        start = self.i
        self.i += 1
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        ranges: list[tuple[int, int]] = []
        while self.peek() != "]":
            if not self.peek():
                raise RegexError("class never closed", start)
            lo = self.class_char()
            if self.peek() == "-" and self.s[self.i + 1 : self.i + 2] not in ("]", ""):
                self.i += 1
                at = self.i
                hi = self.class_char()
                if hi < lo:
                    raise RegexError("range out of order", at)
                ranges.append((lo, hi))
            else:
                ranges.append((lo, lo))
        if not ranges:
            raise RegexError("empty class", start)
        self.i += 1
        return _Char(tuple(ranges), negated=negated)

    def class_char(self) -> int:
        c = self.s[self.i]
        if c == "[":
            raise RegexError("escape [ inside a class as \\[ (no [:alpha:] classes)", self.i)
        if c == "\\":
            return self.literal().ranges[0][0]
        self.i += 1
        return ord(c)


def _escape(c: str) -> str:
    return "\\" + c if c in _PUNCT else c


def _canonical_char(ch: _Char) -> str:
    if ch.any:
        return "."
    if not ch.negated and len(ch.ranges) == 1 and ch.ranges[0][0] == ch.ranges[0][1]:
        return _escape(chr(ch.ranges[0][0]))
    items = "".join(
        _escape(chr(lo)) if lo == hi else f"{_escape(chr(lo))}-{_escape(chr(hi))}"
        for lo, hi in ch.ranges
    )
    return f"[{'^' if ch.negated else ''}{items}]"


def _canonical_item(item: _Char | _Anchor | _Group | _Repeat) -> str:
    if isinstance(item, _Char):
        return _canonical_char(item)
    if isinstance(item, _Anchor):
        return "$" if item.end else "^"
    if isinstance(item, _Group):
        return f"({_canonical_alt(item.alt)})"
    return _canonical_item(item.item) + item.op


def _canonical_alt(alt: _Alt) -> str:
    return "|".join("".join(_canonical_item(i) for i in branch) for branch in alt.branches)


# The automaton: state i is _kinds[i] with _args[i], and its successors.
_SPLIT, _CHAR, _START, _END, _MATCH = range(5)


class _Automaton:
    """A Thompson NFA over the pattern, searched with cached state-set transitions."""

    def __init__(self, alt: _Alt) -> None:
        self.kinds: list[int] = []
        self.chars: list[_Char | None] = []
        self.outs: list[list[int]] = []
        match = self.state(_MATCH, None, [])
        self.start = self.build_alt(alt, match)
        self.match = match
        self.cache: dict[tuple[frozenset[int], str, bool], frozenset[int]] = {}
        self.cached_states = 0

    def state(self, kind: int, char: _Char | None, outs: list[int]) -> int:
        self.kinds.append(kind)
        self.chars.append(char)
        self.outs.append(outs)
        return len(self.kinds) - 1

    def build_alt(self, alt: _Alt, then: int) -> int:
        starts = [self.build_branch(b, then) for b in alt.branches]
        return starts[0] if len(starts) == 1 else self.state(_SPLIT, None, starts)

    def build_branch(
        self, branch: tuple[_Char | _Anchor | _Group | _Repeat, ...], then: int
    ) -> int:
        for item in reversed(branch):
            then = self.build_item(item, then)
        return then

    def build_item(self, item: _Char | _Anchor | _Group | _Repeat, then: int) -> int:
        if isinstance(item, _Char):
            return self.state(_CHAR, item, [then])
        if isinstance(item, _Anchor):
            return self.state(_END if item.end else _START, None, [then])
        if isinstance(item, _Group):
            return self.build_alt(item.alt, then)
        if item.op == "?":
            return self.state(_SPLIT, None, [self.build_item(item.item, then), then])
        loop = self.state(_SPLIT, None, [])
        body = self.build_item(item.item, loop)
        self.outs[loop] = [body, then]
        return loop if item.op == "*" else body

    def closure(self, states: set[int], at_start: bool, at_end: bool) -> frozenset[int]:
        seen: set[int] = set()
        stack = list(states)
        while stack:
            s = stack.pop()
            if s in seen:
                continue
            seen.add(s)
            kind = self.kinds[s]
            if kind == _SPLIT or (kind == _START and at_start) or (kind == _END and at_end):
                stack.extend(self.outs[s])
        return frozenset(seen)

    def accepts(self, s: int, c: str) -> bool:
        ch = self.chars[s]
        if ch is None:
            return False
        if ch.any:
            return True
        code = ord(c)
        inside = any(lo <= code <= hi for lo, hi in ch.ranges)
        return inside != ch.negated

    def search(self, text: str) -> bool:
        n = len(text)
        current = self.closure({self.start}, True, n == 0)
        for i, c in enumerate(text):
            if self.match in current:
                return True
            at_end = i + 1 == n
            key = (current, c, at_end)
            following = self.cache.get(key)
            if following is None:
                moved = {
                    self.outs[s][0]
                    for s in current
                    if self.kinds[s] == _CHAR and self.accepts(s, c)
                }
                moved.add(self.start)  # a match may also begin after this character
                following = self.closure(moved, False, at_end)
                if self.cached_states > _CACHE_STATES:
                    self.cache.clear()
                    self.cached_states = 0
                self.cache[key] = following
                self.cached_states += len(current) + len(following)
            current = following
        return self.match in current


@functools.lru_cache(maxsize=_AUTOMATA)
def _automaton(canonical: str) -> _Automaton:
    return _Automaton(_parse(canonical))


def _parse(source: str) -> _Alt:
    parser = _Parser(source)
    alt = parser.alt(0)
    if parser.i < len(source):
        raise RegexError("unmatched )", parser.i)
    return alt
