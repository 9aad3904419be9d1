"""The one error a bad query raises: a message, and the 1-based column it points at."""

from __future__ import annotations

# Characters of the query shown either side of the column in the caret picture.
_WINDOW = 40


class QueryError(ValueError):
    """A query that cannot be parsed or run: ``message`` says what, ``column`` (1-based) where.

    ``str(error)`` is the message, the column, and the part of the query around it with a caret
    under the column, ready to show in a 400 answer.
    """

    def __init__(self, message: str, column: int, query: str = "") -> None:
        self.message = message
        self.column = column
        self.query = query
        super().__init__(self.render())

    def render(self) -> str:
        """The message with the column, and the query around it with a caret under the column."""
        head = f"{self.message} (column {self.column})"
        if not self.query:
            return head
        at = self.column - 1
        start = max(0, at - _WINDOW)
        end = min(len(self.query), at + _WINDOW)
        before = "…" if start > 0 else ""
        after = "…" if end < len(self.query) else ""
        # Control characters would break the picture: shown as spaces, the caret stays aligned.
        shown = "".join(c if c.isprintable() else " " for c in self.query[start:end])
        caret = " " * (len(before) + at - start) + "^"
        return f"{head}\n{before}{shown}{after}\n{caret}"
