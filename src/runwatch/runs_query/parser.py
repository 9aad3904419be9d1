"""Query text to a tree (:mod:`runwatch.runs_query.nodes`): a recursive-descent parser whose
every refusal is a QueryError pointing at the column of the problem."""

from __future__ import annotations

from datetime import UTC, datetime

from runwatch.runs_query import regex
from runwatch.runs_query.errors import QueryError
from runwatch.runs_query.nodes import (
    COLUMNS,
    And,
    Column,
    Compare,
    Field,
    HasTag,
    JsonPath,
    Match,
    Node,
    Not,
    Op,
    Or,
    Value,
)
from runwatch.runs_query.tokens import Token, tokenize

MAX_LENGTH = 2000
MAX_DEPTH = 32  # parentheses and nots inside one another
MAX_CONDITIONS = 64  # comparisons, tag tests and list items
MAX_KEYS = 16  # keys in one config/summary path
MAX_KEY_LENGTH = 256
_ORDER = ("<", "<=", ">", ">=")
_OPS: dict[str, Op] = {"==": "==", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_FIELDS = (
    "config.KEY, summary.KEY, name, project, status, group, id, created, started, ended,"
    " updated, lost, stopped_early"
)


def parse(query: str) -> Node:
    """The tree of ``query``; QueryError (with the column) when it is not a valid query."""
    if len(query) > MAX_LENGTH:
        raise QueryError(f"query longer than {MAX_LENGTH} characters", MAX_LENGTH + 1, query)
    return _Parser(query).query()


def parse_sort(text: str) -> tuple[Field, bool]:
    """A sort field (``created``, ``name``, ``config.lr``, ``summary["train/loss"]``…), with a
    leading ``-`` for descending order; returns the field and whether it is descending."""
    descending = text.startswith("-")
    body = text[1:] if descending else text
    parser = _Parser(body)
    if parser.peek().kind == "end":
        raise parser.error("expected a field to sort by, e.g. -created or config.lr", parser.peek())
    field = parser.field()
    if parser.peek().kind != "end":
        raise parser.error("expected the end of the sort field", parser.peek())
    return field, descending


def _keyword(token: Token, word: str) -> bool:
    # Operators are words in either case: "and" or "AND" (not "And").
    return token.kind == "word" and token.text in (word, word.upper())


def _is_keyword(token: Token) -> bool:
    return any(_keyword(token, w) for w in ("and", "or", "not", "in"))


def _epoch(text: str) -> float | None:
    """An ISO date or date-time as epoch seconds (UTC unless it names an offset); None if not."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class _Parser:
    def __init__(self, query: str) -> None:
        self.query_text = query
        self.tokens = tokenize(query)
        self.i = 0
        self.conditions = 0

    def error(self, message: str, token: Token) -> QueryError:
        return QueryError(message, token.column, self.query_text)

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        if token.kind != "end":
            self.i += 1
        return token

    def expect_punct(self, text: str, what: str) -> Token:
        token = self.take()
        if token.kind != "punct" or token.text != text:
            raise self.error(f"expected {what}", token)
        return token

    def count(self, token: Token) -> None:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self.error(f"more than {MAX_CONDITIONS} conditions", token)

    def query(self) -> Node:
        if self.peek().kind == "end":
            raise self.error(
                "empty query: expected a condition, e.g. config.lr < 0.01", self.peek()
            )
        node = self.disjunction(0)
        token = self.peek()
        if token.kind != "end":
            if token.text == ")":
                raise self.error("unmatched )", token)
            raise self.error("expected and, or, or the end of the query", token)
        return node

    def disjunction(self, depth: int) -> Node:
        nodes = [self.conjunction(depth)]
        while _keyword(self.peek(), "or"):
            self.take()
            nodes.append(self.conjunction(depth))
        return nodes[0] if len(nodes) == 1 else Or(tuple(nodes))

    def conjunction(self, depth: int) -> Node:
        nodes = [self.negation(depth)]
        while _keyword(self.peek(), "and"):
            self.take()
            nodes.append(self.negation(depth))
        return nodes[0] if len(nodes) == 1 else And(tuple(nodes))

    def negation(self, depth: int) -> Node:
        token = self.peek()
        if depth > MAX_DEPTH:
            raise self.error(f"nested deeper than {MAX_DEPTH}", token)
        if _keyword(token, "not"):
            self.take()
            return Not(self.negation(depth + 1))
        return self.primary(depth)

    def primary(self, depth: int) -> Node:
        token = self.peek()
        if token.kind == "punct" and token.text == "(":
            self.take()
            node = self.disjunction(depth + 1)
            closing = self.peek()
            if closing.kind != "punct" or closing.text != ")":
                raise self.error(f"expected ) to close the ( at column {token.column}", closing)
            self.take()
            return node
        if token.kind in ("string", "number") or token.text in ("true", "false", "null"):
            return self.tag_test()
        if token.kind == "word" and not _is_keyword(token):
            return self.comparison()
        raise self.error("expected a condition, e.g. config.lr < 0.01", token)

    def negated_in(self) -> bool | None:
        """``in`` (False) or ``not in`` (True) next, taken; None when neither."""
        if _keyword(self.peek(), "in"):
            self.take()
            return False
        if _keyword(self.peek(), "not") and _keyword(self.tokens[self.i + 1], "in"):
            self.i += 2
            return True
        return None

    def tag_test(self) -> Node:
        token = self.peek()
        value = self.literal()
        negated = self.negated_in()
        if negated is None:
            raise self.error(
                'a value comes after the field; tags are tested as "x" in tags', self.peek()
            )
        tags = self.take()
        if tags.kind != "word" or tags.text != "tags":
            raise self.error('only tags can follow a value: "x" in tags', tags)
        if not isinstance(value, str):
            raise self.error("tags are strings: quote the tag", token)
        self.count(token)
        node: Node = HasTag(value)
        return Not(node) if negated else node

    def comparison(self) -> Node:
        start = self.peek()
        field = self.field()
        negated = self.negated_in()
        if negated is not None:
            return self.membership(field, negated)
        op_token = self.take()
        if op_token.kind != "op":
            raise self.error("expected an operator: == != < <= > >= ~ in or not in", op_token)
        value_token = self.peek()
        value = self.literal()
        self.count(start)
        if op_token.text == "~":
            return self.match(field, value, value_token)
        if op_token.text == "!=":
            return Not(self.compare(field, "==", value, value_token))
        return self.compare(field, _OPS[op_token.text], value, value_token)

    def membership(self, field: Field, negated: bool) -> Node:
        opening = self.take()
        if opening.kind != "punct" or opening.text not in "([":
            raise self.error('expected a list after in, e.g. ("a", "b")', opening)
        closer = ")" if opening.text == "(" else "]"
        items: list[Node] = []
        while True:
            token = self.peek()
            self.count(token)
            items.append(self.compare(field, "==", self.literal(), token))
            separator = self.take()
            if separator.kind == "punct" and separator.text == closer:
                break
            if separator.kind != "punct" or separator.text != ",":
                raise self.error(f"expected , or {closer}", separator)
        node: Node = items[0] if len(items) == 1 else Or(tuple(items))
        return Not(node) if negated else node

    def field(self) -> Field:
        token = self.take()
        name = token.text
        if name in COLUMNS:
            return COLUMNS[name]
        if name == "tags":
            raise self.error('tags are tested as "x" in tags or "x" not in tags', token)
        if name not in ("config", "summary"):
            raise self.error(f"unknown field {name!r}: use {_FIELDS}", token)
        keys: list[str] = []
        while (nxt := self.peek()).kind == "punct" and nxt.text in ".[":
            self.take()
            key = self.take()
            if nxt.text == "." and key.kind != "word":
                raise self.error(f'expected a key after {name}. (quote others: {name}["a/b"])', key)
            if nxt.text == "[":
                if key.kind != "string":
                    raise self.error('expected a quoted key, e.g. ["train/loss"]', key)
                self.expect_punct("]", "] after the key")
            keys.append(self.key(str(key.value), key))
            if len(keys) > MAX_KEYS:
                raise self.error(f"more than {MAX_KEYS} keys in a path", key)
        if not keys:
            raise self.error(f'{name} needs a key: {name}.lr or {name}["train/loss"]', self.peek())
        if name == "config":
            return JsonPath("config", tuple(keys))
        # A summary value is a number: a second key names one of its aggregates.
        if len(keys) == 2 and keys[1] in ("min", "max"):
            return JsonPath("extremes", tuple(keys))
        if len(keys) == 2 and keys[1] == "last":
            return JsonPath("summary", tuple(keys[:1]))
        return JsonPath("summary", tuple(keys))

    def key(self, key: str, token: Token) -> str:
        # Both databases take the path as a parameter, but SQLite's path syntax has no escapes:
        # a key with a double quote or backslash could not be named to it.
        if any(c in '"\\' or ord(c) < 0x20 for c in key):
            raise self.error(
                "a key cannot hold a double quote, backslash or control character", token
            )
        if len(key) > MAX_KEY_LENGTH:
            raise self.error(f"key longer than {MAX_KEY_LENGTH} characters", token)
        return key

    def literal(self) -> Value:
        token = self.take()
        if token.kind == "string":
            return str(token.value)
        if token.kind == "number":
            return float(token.value)
        if token.kind == "word" and token.text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token.text]
        raise self.error('expected a value: a number, a "string", true, false or null', token)

    def compare(self, field: Field, op: Op, value: Value, token: Token) -> Node:
        if op in _ORDER and (value is None or isinstance(value, bool)):
            raise self.error(f"{op} needs a number or a string", token)
        if isinstance(field, JsonPath):
            return Compare(field, op, value)
        if value is None:
            if not field.type.endswith("?"):
                raise self.error(f"{field.key} is never null", token)
            if op != "==":
                raise self.error("null is compared with == or !=", token)
            return Compare(field, op, None)
        if field.type.startswith("time"):
            return Compare(field, op, self.moment(field, value, token))
        if field.type == "count":
            if not isinstance(value, float):
                raise self.error(f"{field.key} is a count: compare it with a number", token)
            return Compare(field, op, value)
        if not isinstance(value, str):
            raise self.error(f"{field.key} is text: compare it with a quoted string", token)
        return Compare(field, op, value)

    def moment(self, field: Column, value: Value, token: Token) -> float:
        if isinstance(value, str):
            seconds = _epoch(value)
            if seconds is None:
                raise self.error('expected an ISO date or time, e.g. "2026-12-01T12:00Z"', token)
            return seconds
        if isinstance(value, float):
            return value
        raise self.error(f"{field.key} is a time: compare it with a date or epoch seconds", token)

    def match(self, field: Field, value: Value, token: Token) -> Node:
        if isinstance(field, Column) and field.numeric:
            raise self.error("~ matches text, not numbers or times", token)
        if not isinstance(value, str):
            raise self.error('~ needs a quoted pattern, e.g. name ~ "trial-4.*"', token)
        try:
            pattern = regex.parse_pattern(value)
        except regex.RegexError as e:
            # The column inside the pattern is exact when the string had no escapes before it.
            plain = "\\" not in token.text
            column = token.column + 1 + e.offset if plain else token.column
            raise QueryError(f"bad pattern: {e.message}", column, self.query_text) from None
        return Match(field, pattern)
