"""Sweeps and their trials: the controller's state, in the store so every replica shares it.

A claim locks the sweep's row (``FOR UPDATE`` on PostgreSQL; SQLite has one writer), reads the
next trial index, checks the sweep's state and limit, and writes the trial and the next index
in one transaction. Two agents, on one replica or several, can therefore never get the same
index, and the primary key ``(sweep_id, idx)`` holds that even against a bug here. A trial's
status is its run's (``claimed`` until the agent creates the run).
"""

from __future__ import annotations

import functools
import secrets
import time
from typing import Any

import msgspec

from runwatch.store.base import (
    Propose,
    SweepCreate,
    SweepInfo,
    Trial,
    TrialClaim,
    TrialOutcome,
)
from runwatch.store.errors import Conflict, SweepNotFound
from runwatch.store.sql.records import json_text
from runwatch.store.sql.tx import Tx

# What a sweep's state may go to, per action.
_ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "pause": (("running",), "paused"),
    "resume": (("paused",), "running"),
    "stop": (("running", "paused"), "stopped"),
}
# Methods whose proposal reads the trials before it, which is slow (bayes: Optuna, 10-300 ms):
# proposed in a read transaction first (draft), so the sweep's lock and, on SQLite, the single
# writer every run's ingest waits on are not held meanwhile. A draft that loses its index to
# another claim is made again, DRAFTS times at most; then the proposal is made under the lock.
DRAFTED = frozenset({"bayes"})
DRAFTS = 3
_COLUMNS = (
    "id, project, name, method, spec, seed, state, trial_limit, limit_reason, next_index,"
    " created_at, updated_at"
)


def create(tx: Tx, sweep: SweepCreate) -> SweepInfo:
    """Store a new sweep in state ``running``."""
    now = time.time()
    created = tx.execute(
        f"INSERT INTO sweeps ({_COLUMNS}) VALUES (?,?,?,?,?,?,'running',?,?,0,?,?)"
        " ON CONFLICT (id) DO NOTHING RETURNING id",
        (sweep.id, sweep.project, sweep.name, sweep.method, json_text(sweep.spec), sweep.seed,
         sweep.trial_limit, sweep.limit_reason, now, now),
    ).fetchone()  # fmt: skip
    if created is None:
        raise Conflict(f"sweep {sweep.id!r} exists", "$.id", "sweep_exists")
    info = fetch(tx, sweep.id)
    assert info is not None
    return info


def _info(row: tuple[Any, ...], counts: dict[str, int]) -> SweepInfo:
    (sweep_id, project, name, method, spec, seed, state, limit, reason, handed, created,
     updated) = row  # fmt: skip
    return SweepInfo(
        id=sweep_id, project=project, name=name, method=method,
        spec=msgspec.json.decode(spec), seed=int(seed), state=state, trial_limit=int(limit),
        limit_reason=reason, handed_out=int(handed), created_at=created, updated_at=updated,
        trials=counts,
    )  # fmt: skip


def fetch(tx: Tx, sweep_id: str, lock: bool = False) -> SweepInfo | None:
    """The sweep with its trials counted by status; ``lock``: hold its row until commit."""
    row = tx.execute(
        f"SELECT {_COLUMNS} FROM sweeps WHERE id = ?{tx.dialect.for_update if lock else ''}",
        (sweep_id,),
    ).fetchone()
    if row is None:
        return None
    counts = tx.execute(
        "SELECT coalesce(r.status, 'claimed'), count(*) FROM sweep_trials t"
        " LEFT JOIN runs r ON r.id = t.run_id WHERE t.sweep_id = ?"
        " GROUP BY coalesce(r.status, 'claimed')",
        (sweep_id,),
    ).fetchall()
    return _info(tuple(row), {str(status): int(n) for status, n in counts})


def _locked(tx: Tx, sweep_id: str) -> SweepInfo:
    info = fetch(tx, sweep_id, lock=True)
    if info is None:
        raise SweepNotFound(f"no sweep with id {sweep_id!r}", "sweep")
    return info


def draft(tx: Tx, sweep_id: str, propose: Propose) -> tuple[int, dict[str, Any]] | None:
    """The next trial's ``(index, configuration)`` proposed in a read transaction, without the
    sweep's lock, for a method whose proposal reads the trials before it (DRAFTED); None when
    the sweep takes no draft (another method, not running, at its limit, or no such sweep)."""
    info = fetch(tx, sweep_id)
    if info is None or info.method not in DRAFTED or info.state != "running":
        return None
    index = info.handed_out
    if index >= info.trial_limit:
        return None
    return index, propose(info, index, functools.partial(outcomes, tx, sweep_id))


def claim(tx: Tx, sweep_id: str, agent: str | None, propose: Propose) -> TrialClaim:
    """Hand out the sweep's next trial, or say why there is none."""
    info, refusal = _next(tx, sweep_id)
    if refusal is not None:
        return refusal
    index = info.handed_out
    return _hand_out(
        tx, info, agent, propose(info, index, functools.partial(outcomes, tx, sweep_id))
    )


def claim_drafted(
    tx: Tx, sweep_id: str, agent: str | None, drafted: tuple[int, dict[str, Any]]
) -> TrialClaim | None:
    """Hand out a :func:`draft`'s configuration if its index is still the sweep's next one;
    None when another claim took that index meanwhile (draft again)."""
    info, refusal = _next(tx, sweep_id)
    if refusal is not None:
        return refusal
    index, config = drafted
    return _hand_out(tx, info, agent, config) if index == info.handed_out else None


def _next(tx: Tx, sweep_id: str) -> tuple[SweepInfo, TrialClaim | None]:
    """The sweep, locked, and why it hands out no trial now (None: it does)."""
    info = _locked(tx, sweep_id)
    if info.state != "running":
        return info, TrialClaim(None, info.state, info)
    if info.handed_out >= info.trial_limit:
        return info, TrialClaim(None, "finished", _set_state(tx, info, "finished"))
    return info, None


def _hand_out(tx: Tx, info: SweepInfo, agent: str | None, config: dict[str, Any]) -> TrialClaim:
    """Record trial ``info.handed_out`` with ``config`` and move the sweep past it."""
    sweep_id, index = info.id, info.handed_out
    now = time.time()
    run_id = secrets.token_hex(6)
    tx.execute(
        "INSERT INTO sweep_trials (sweep_id, idx, run_id, config, agent, claimed_at)"
        " VALUES (?,?,?,?,?,?)",
        (sweep_id, index, run_id, json_text(config), agent, now),
    )
    state = "finished" if index + 1 >= info.trial_limit else "running"
    tx.execute(
        "UPDATE sweeps SET next_index = ?, state = ?, updated_at = ? WHERE id = ?",
        (index + 1, state, now, sweep_id),
    )
    after = fetch(tx, sweep_id)
    assert after is not None
    return TrialClaim(Trial(sweep_id, index, run_id, config, agent, now), None, after)


def _set_state(tx: Tx, info: SweepInfo, state: str) -> SweepInfo:
    tx.execute(
        "UPDATE sweeps SET state = ?, updated_at = ? WHERE id = ?", (state, time.time(), info.id)
    )
    after = fetch(tx, info.id)
    assert after is not None
    return after


def set_state(tx: Tx, sweep_id: str, action: str) -> SweepInfo:
    """Pause, resume or stop the sweep."""
    before, after = _ACTIONS[action]
    info = _locked(tx, sweep_id)
    if info.state == after:
        return info  # asked twice: already so
    if info.state not in before:
        raise Conflict(
            f"sweep {sweep_id!r} is {info.state}: it cannot {action}",
            "sweep",
            "sweep_" + info.state,
        )
    return _set_state(tx, info, after)


def trials(tx: Tx, sweep_id: str, after: int, limit: int) -> list[Trial]:
    """A page of the sweep's trials in index order, each with its run's status."""
    rows = tx.execute(
        "SELECT t.idx, t.run_id, t.config, t.agent, t.claimed_at, coalesce(r.status, 'claimed')"
        " FROM sweep_trials t LEFT JOIN runs r ON r.id = t.run_id"
        " WHERE t.sweep_id = ? AND t.idx > ? ORDER BY t.idx LIMIT ?",
        (sweep_id, after, limit),
    ).fetchall()
    return [
        Trial(sweep_id, int(idx), run_id, msgspec.json.decode(config), agent, claimed_at, status)
        for idx, run_id, config, agent, claimed_at, status in rows
    ]


def outcomes(tx: Tx, sweep_id: str, metric: str, limit: int) -> list[TrialOutcome]:
    """The sweep's ``limit`` latest trials, with their status and ``metric``'s value in their
    runs' summaries (read in SQL: a summary is never decoded here). ``metric`` is one
    top-level key without a double quote, backslash or control character (the dialects'
    path syntax; the sweep's checks refuse others)."""
    number = tx.dialect.json_number.replace("{doc}", "r.summary")
    path = f'{tx.dialect.json_root}."{metric}"'
    rows = tx.execute(
        f"SELECT t.idx, t.config, coalesce(r.status, 'claimed'), {number}"
        " FROM sweep_trials t LEFT JOIN runs r ON r.id = t.run_id"
        " WHERE t.sweep_id = ? ORDER BY t.idx DESC LIMIT ?",
        (*[path] * number.count("?"), sweep_id, limit),
    ).fetchall()
    return [
        TrialOutcome(int(idx), msgspec.json.decode(config), status, None if v is None else float(v))
        for idx, config, status, v in rows
    ]
