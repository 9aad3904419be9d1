"""Incremental evaluation of one rule's condition on one run.

Each (rule, run) pair keeps a small :class:`WatchState` (an open episode, a streak, the best
value and when it was reached, the last data time), updated from each committed batch of points
and by a timer; a series is never rescanned. A condition fires when it *becomes* true (an
episode starts) and not again until it has been false. Fast paths keep the common batch (nothing
crossed, nothing improved) at a few C-level passes over its values, whatever its length.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from runwatch.protocol import encode_value
from runwatch.rules.spec import Condition, NonFinite, Plateau, Stalled, StatusIs, Threshold


@dataclass(slots=True)
class Trigger:
    """A condition that just became true: what to say, and the facts behind it."""

    message: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class WatchState:
    """What one rule remembers about one run between batches."""

    active: bool = False  # the condition holds: an episode is under way (it fired already)
    streak: int = 0  # consecutive points past a threshold
    best: float | None = None
    best_step: int = 0
    best_at: float = 0.0  # clock time of the last improvement (plateau by minutes)
    last_data: float = 0.0  # clock time of the run's last points (stalled)


class Column:
    """One series' points of one batch (steps ascending, values as floats), with the few
    aggregates the fast paths need computed once and shared by every rule on the key."""

    def __init__(self, steps: list[int], values: list[float], total: float | None = None) -> None:
        self.steps = steps
        self.values = values
        self._total = total

    @cached_property
    def all_finite(self) -> bool:
        # NaN and inf propagate through a sum (inf - inf is NaN): one C-level pass.
        total = sum(self.values) if self._total is None else self._total
        return math.isfinite(total)

    # max()/min() return NaN only when the first value is NaN; otherwise they are the true
    # extremes of the non-NaN values (NaN compares false, so it never replaces a number).
    @cached_property
    def high(self) -> float:
        return max(self.values)

    @cached_property
    def low(self) -> float:
        return min(self.values)


def on_points(cond: Condition, state: WatchState, column: Column, now: float) -> Trigger | None:
    """Fold one batch of a series into the state."""
    if isinstance(cond, NonFinite):
        return _nonfinite(cond, state, column)
    if isinstance(cond, Threshold):
        return _threshold(cond, state, column)
    if isinstance(cond, Plateau):
        return _plateau(cond, state, column, now)
    if isinstance(cond, Stalled):
        state.last_data = now
        state.active = False
    return None


def on_status(cond: Condition, state: WatchState, status: str) -> Trigger | None:
    """The run's status changed to ``status``."""
    if not isinstance(cond, StatusIs):
        return None
    if status not in cond.states:
        state.active = False  # e.g. crashed, then running again: a later crash is a new episode
        return None
    if state.active:
        return None
    state.active = True
    return Trigger(f"run became {status}", {"condition": "status", "status": status})


def on_tick(cond: Condition, state: WatchState, now: float) -> Trigger | None:
    """Time passed (the run is running): a stall, or a plateau measured in minutes."""
    if state.active:
        return None
    if isinstance(cond, Stalled) and now - state.last_data >= cond.minutes * 60:
        state.active = True
        silent = (now - state.last_data) / 60
        detail = {"condition": "stalled", "minutes": round(silent, 2)}
        return Trigger(f"no new data for {silent:.1f} min", detail)
    if (
        isinstance(cond, Plateau)
        and cond.minutes is not None
        and state.best is not None
        and now - state.best_at >= cond.minutes * 60
    ):
        state.active = True
        waited = (now - state.best_at) / 60
        return _plateau_trigger(cond, state, f"{waited:.1f} min", {"minutes": round(waited, 2)})
    return None


def _nonfinite(cond: NonFinite, state: WatchState, column: Column) -> Trigger | None:
    if column.all_finite:
        state.active = False
        return None
    trigger = None
    for step, value in zip(column.steps, column.values, strict=True):
        if math.isfinite(value):
            state.active = False
        elif not state.active:
            state.active = True
            shown = encode_value(value)
            detail = {"condition": "nonfinite", "key": cond.key, "step": step, "value": shown}
            trigger = trigger or Trigger(f"{cond.key} is {shown} at step {step}", detail)
    return trigger


def _threshold(cond: Threshold, state: WatchState, column: Column) -> Trigger | None:
    above = cond.op == "above"
    # A NaN extreme compares false: the slow path decides.
    extreme = column.high if above else column.low
    if (extreme <= cond.value) if above else (extreme >= cond.value):
        state.streak = 0
        state.active = False
        return None
    trigger = None
    for step, value in zip(column.steps, column.values, strict=True):
        if not (value > cond.value if above else value < cond.value):
            state.streak = 0
            state.active = False
            continue
        state.streak += 1
        if state.streak >= cond.points and not state.active:
            state.active = True
            detail = {
                "condition": "threshold", "key": cond.key, "step": step,
                "value": encode_value(value), "op": cond.op, "threshold": cond.value,
            }  # fmt: skip
            message = f"{cond.key} = {value:g} {cond.op} {cond.value:g} at step {step}"
            if cond.points > 1:
                message += f" ({cond.points} points in a row)"
            trigger = trigger or Trigger(message, detail)
    return trigger


def _plateau(cond: Plateau, state: WatchState, column: Column, now: float) -> Trigger | None:
    steps, values = column.steps, column.values
    lower = cond.mode == "min"
    extreme = column.low if lower else column.high
    best = state.best
    improved = best is None or (
        extreme < best - cond.min_delta if lower else extreme > best + cond.min_delta
    )
    if not math.isfinite(extreme) or (improved and cond.min_delta > 0):
        _improve_sequentially(cond, state, steps, values, now)
    elif improved:
        # With no min_delta the last improvement of the batch is its extreme's first occurrence.
        _set_best(state, extreme, steps[values.index(extreme)], now)
    if cond.steps is None or state.active or state.best is None:
        return None
    due = state.best_step + cond.steps
    if steps[-1] < due:
        return None
    state.active = True
    at = steps[min(bisect.bisect_left(steps, due), len(steps) - 1)]
    return _plateau_trigger(cond, state, f"{at - state.best_step} steps", {"step": at})


def _improve_sequentially(
    cond: Plateau, state: WatchState, steps: list[int], values: list[float], now: float
) -> None:
    lower = cond.mode == "min"
    for step, value in zip(steps, values, strict=True):
        if not math.isfinite(value):
            continue
        best = state.best
        if best is None or (
            value < best - cond.min_delta if lower else value > best + cond.min_delta
        ):
            _set_best(state, value, step, now)


def _set_best(state: WatchState, value: float, step: int, now: float) -> None:
    state.best, state.best_step, state.best_at = value, step, now
    state.active = False  # an improvement ends a plateau episode


def _plateau_trigger(
    cond: Plateau, state: WatchState, waited: str, extra: dict[str, Any]
) -> Trigger:
    assert state.best is not None
    detail = {
        "condition": "plateau", "key": cond.key, "mode": cond.mode, "best": state.best,
        "best_step": state.best_step, **extra,
    }  # fmt: skip
    message = (
        f"{cond.key} has not improved for {waited} (best {state.best:g} at step {state.best_step})"
    )
    return Trigger(message, detail)
