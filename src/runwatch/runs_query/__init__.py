"""Queries over runs, as typed in the runs page's search box and sent as ``?q=`` (docs/runs-query.md).

``parse`` turns the text into a small tree (QueryError with the column when it cannot);
``matches`` evaluates the tree over one run in Python; ``compile_where`` turns it into a
parameterised SQL condition for a store's Dialect. The two agree on every run (the property
tests check it on SQLite and PostgreSQL). Their shared semantics:

- Every comparison is true or false, never unknown: one on a missing key, or on a value of
  another type than the literal, is false. ``a != b`` is ``not (a == b)``, so it is true for a
  run without the key; ``not`` is the plain complement.
- ``== null`` is true for JSON null and for a missing key (and a NULL column: group, started,
  ended, updated); ``!= null`` for a key that is there and not null.
- Numbers compare with numbers only (as 64-bit floats: ``1 == 1.0``), strings with strings (by
  code point), booleans with booleans (``true`` is not ``1``); ``<`` and the like take a
  number or a string. Arrays and objects equal nothing.
- ``~`` is true for a string value that the pattern (:mod:`runwatch.runs_query.regex`)
  matches somewhere.
- ``created``/``started``/``ended``/``updated`` take epoch seconds or an ISO date or date-time
  (UTC unless it names an offset).

SQLite's ``REGEXP`` is :func:`runwatch.runs_query.regex.sqlite_regexp`, registered on every
connection the SQLite store opens. ``parse_sort`` and ``sort_key`` do for a sort field what
``parse`` and ``compile_where`` do for a condition.
"""

from runwatch.runs_query.errors import QueryError
from runwatch.runs_query.evaluate import matches
from runwatch.runs_query.nodes import Node, field_name
from runwatch.runs_query.parser import parse, parse_sort
from runwatch.runs_query.regex import sqlite_regexp
from runwatch.runs_query.sql import SortKey, Where, compile_where, number_value, sort_key

__all__ = [
    "Node",
    "QueryError",
    "SortKey",
    "Where",
    "compile_where",
    "field_name",
    "matches",
    "number_value",
    "parse",
    "parse_sort",
    "sort_key",
    "sqlite_regexp",
]
