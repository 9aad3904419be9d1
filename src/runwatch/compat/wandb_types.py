"""The value types of the W&B shim: config, summary, ``Table``, ``AlertLevel``, and the stand-in
for everything else (it warns once and absorbs any call, so a W&B script never crashes on it)."""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar, cast

from runwatch.sdk.sender import print_warning

_warned: set[str] = set()
WARN_CAP = 200  # distinct warnings remembered; past it a repeat may print again, never grow
P = ParamSpec("P")
R = TypeVar("R")


def warn_once(message: str, key: str | None = None) -> None:
    """Print ``message`` to stderr the first time only (W&B scripts call things in loops);
    ``key`` names the warning when the message varies (an exception's text)."""
    key = message if key is None else key
    if key in _warned:
        return
    if len(_warned) < WARN_CAP:
        _warned.add(key)
    print_warning(message)


def _none() -> Any:
    return None


def safe(
    what: str, fallback: Callable[[], Any] = _none, each: bool = False
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A public shim call that never raises into the training loop: any exception (wrong
    arguments included) is reported once per call name, and ``fallback()`` is returned.
    ``each``: once per distinct failure instead, for calls made once each, not in a loop
    (a second ``wandb.agent`` that fails otherwise for another sweep must say so)."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                warn_once(
                    f"{what} failed and was skipped ({type(exc).__name__}: {exc}); "
                    "what it would have recorded is lost, the script goes on",
                    key=None if each else f"safe:{what}",
                )
                return cast(R, fallback())

        return guarded

    return wrap


class AlertLevel(enum.StrEnum):
    """W&B's alert levels (``wandb.AlertLevel.WARN``); they become event levels."""

    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


EVENT_LEVEL = {"INFO": "info", "WARN": "warning", "WARNING": "warning", "ERROR": "error"}


class Unsupported:
    """What an unsupported W&B name (``wandb.Video``, ``run.watch``, …) resolves to.

    Calling it, or anything reached from it, returns another stand-in; a logged stand-in is
    skipped. The first use of each name says so once on stderr.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Unsupported:
        warn_once(
            f"wandb.{self._name} is not supported by runwatch's W&B shim; the call is ignored "
            "and anything logged with its result is not recorded"
        )
        return self

    def __getattr__(self, name: str) -> Unsupported:
        if name.startswith("__"):
            raise AttributeError(name)
        return Unsupported(f"{self._name}.{name}")

    def __repr__(self) -> str:
        return f"<unsupported wandb.{self._name}>"


class Config:
    """``wandb.config``: attribute and item access, ``update``, ``setdefaults``, ``as_dict``.

    ``on_change`` receives each update's new values (the run records them as an event).
    """

    def __init__(
        self,
        items: dict[str, Any] | None = None,
        on_change: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        object.__setattr__(self, "_items", dict(items or {}))
        object.__setattr__(self, "_on_change", on_change)

    def _set(self, changes: dict[str, Any]) -> None:
        self._items.update(changes)
        if changes and self._on_change is not None:
            self._on_change(changes)

    @safe("wandb.config.update")
    def update(self, d: Any = None, allow_val_change: bool = False, **kwargs: Any) -> None:
        """Merge a dict (or an ``argparse.Namespace``, or keyword arguments) into the config."""
        changes = dict(_as_mapping(d))
        changes.update(kwargs)
        self._set(changes)

    @safe("wandb.config.setdefaults")
    def setdefaults(self, d: Any) -> None:
        """Set the keys that are not set yet."""
        self._set({k: v for k, v in _as_mapping(d).items() if k not in self._items})

    def restore(self, stored: dict[str, Any]) -> None:
        """Bring back a resumed run's stored keys (those not set again); not a change to record."""
        self._items.update({k: v for k, v in stored.items() if k not in self._items})

    def as_dict(self) -> dict[str, Any]:
        return dict(self._items)

    def keys(self) -> Any:
        return self._items.keys()

    def items(self) -> Any:
        return self._items.items()

    def values(self) -> Any:
        return self._items.values()

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._set({key: value})

    def __getattr__(self, name: str) -> Any:
        try:
            return self._items[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._set({name: value})

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Config({self._items!r})"


class Summary:
    """``run.summary``: the last value of each logged key (or its ``define_metric`` aggregates),
    overridden by whatever the script sets. Sent as the run's ``summary`` table."""

    def __init__(self) -> None:
        object.__setattr__(self, "_items", {})

    def update(self, d: dict[str, Any]) -> None:
        self._items.update(d)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._items)

    def keys(self) -> Any:
        return self._items.keys()

    def items(self) -> Any:
        return self._items.items()

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._items[key] = value

    def __delitem__(self, key: str) -> None:
        del self._items[key]

    def __getattr__(self, name: str) -> Any:
        try:
            return self._items[name]
        except KeyError:
            raise AttributeError(f"summary has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._items[name] = value

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class Table:
    """``wandb.Table(columns, data)``; logged, it becomes a runwatch table of one dict per row."""

    MAX_ROWS = 10_000  # rows kept in memory; add_data past it is dropped with a warning

    def __init__(
        self,
        columns: list[str] | None = None,
        data: list[list[Any]] | None = None,
        rows: list[list[Any]] | None = None,
        dataframe: Any = None,
        **_: Any,
    ) -> None:
        if dataframe is not None:  # a pandas DataFrame: its columns and rows
            columns = [str(c) for c in dataframe.columns]
            data = dataframe.values.tolist()
        self.data: list[list[Any]] = [list(r) for r in (data if data is not None else rows or [])]
        width = max((len(r) for r in self.data), default=0)
        self.columns: list[str] = list(columns or [f"c{i}" for i in range(width)])

    def add_data(self, *values: Any) -> None:
        """Append one row (one value per column)."""
        if len(values) != len(self.columns):
            raise ValueError(f"this table has {len(self.columns)} columns, not {len(values)}")
        if len(self.data) >= self.MAX_ROWS:
            warn_once(f"wandb.Table keeps at most {self.MAX_ROWS} rows; further rows dropped")
            return
        self.data.append(list(values))

    def add_column(self, name: str, data: list[Any]) -> None:
        self.columns.append(name)
        for row, value in zip(self.data, data, strict=False):
            row.append(value)

    def get_column(self, name: str) -> list[Any]:
        i = self.columns.index(name)
        return [row[i] for row in self.data]

    def row_dicts(self) -> list[dict[str, Any]]:
        """The rows as ``{column: value}`` dicts: runwatch's table shape."""
        return [dict(zip(self.columns, row, strict=False)) for row in self.data]


def _as_mapping(d: Any) -> dict[str, Any]:
    if d is None:
        return {}
    if isinstance(d, Config):
        return d.as_dict()
    if isinstance(d, dict):
        return {str(k): v for k, v in d.items()}
    if hasattr(d, "__dict__"):  # argparse.Namespace, simple objects
        return {k: v for k, v in vars(d).items() if not k.startswith("_")}
    raise TypeError(f"config.update takes a dict or a namespace, not {type(d).__name__}")
