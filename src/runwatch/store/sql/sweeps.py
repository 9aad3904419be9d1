"""Sweeps and their trials: the controller's state, in the store so every replica shares it.

A claim locks the sweep's row (``FOR UPDATE`` on PostgreSQL; SQLite has one writer), reads the
next trial index, checks the sweep's state and limit, and writes the trial and the next index
in one transaction. Two agents, on one replica or several, can therefore never get the same
index, and the primary key ``(sweep_id, idx)`` holds that even against a bug here. A trial's
status is its run's (``claimed`` until the agent creates the run).

A claim is a lease: a trial claimed longer ago than the lease (``CLAIM_LEASE`` s by default)
whose run was never created (its agent died between the claim and the run) reads ``crashed``,
computed when read from ``expired`` (the time before which a claim has expired: the caller's
clock less the lease), so nothing needs to mark it and replicas agree up to their clocks' skew.

A crashed trial (its agent died: its run went silent and the heartbeat sweep marked it, or its
claim expired) is run again once: a claim hands out its configuration as a new trial
(``retry_of`` its index) before any new point, while the sweep is running or finished. A retry
that crashes is not retried. So the trial index and the point of the search space differ by
the retries handed out before. An agent whose claim expired and that creates the run late gets
it unless the retry was handed out meanwhile: then its creation is refused (``ClaimExpired``),
so the configuration runs once.
"""

from __future__ import annotations

import functools
import secrets
import time
from typing import Any

import msgspec

from runwatch.protocol import FINAL_STATUSES
from runwatch.store.base import (
    Past,
    Propose,
    SweepCreate,
    SweepInfo,
    Trial,
    TrialClaim,
    TrialOutcome,
)
from runwatch.store.errors import ClaimExpired, Conflict, SweepNotFound, SweepStopped
from runwatch.store.sql.records import json_text
from runwatch.store.sql.tx import Tx

# A trial's status: its run's, ``claimed`` before the run exists (``cancelled`` once its
# sweep is stopped: the run is then refused, see ``refuse_unstarted``; ``crashed`` once its
# claim expired, before the one ``?``), ``stopped_early`` once a run that early termination
# stopped has ended cancelled, and ``deleted`` once its (finished) run was deleted: the trial is
# kept, ended, never retried. ``s`` is the trial's sweep.
_STATUS = (
    "CASE WHEN t.run_deleted THEN 'deleted'"
    " WHEN t.stopped_early IS NOT NULL AND r.status = 'cancelled' THEN 'stopped_early'"
    " WHEN r.status IS NULL AND s.state = 'stopped' THEN 'cancelled'"
    " WHEN r.status IS NULL AND t.claimed_at < ? THEN 'crashed'"
    " ELSE coalesce(r.status, 'claimed') END"
)
# The rows _STATUS reads: each trial ``t`` with its run ``r`` (if created) and its sweep ``s``.
_TRIALS = "sweep_trials t JOIN sweeps s ON s.id = t.sweep_id LEFT JOIN runs r ON r.id = t.run_id"
# Methods whose proposal reads the trials before it, which is slow (bayes: Optuna, 10-300 ms):
# proposed in a read transaction first (draft), so the sweep's lock and, on SQLite, the single
# writer every run's ingest waits on are not held meanwhile. A draft that loses its index to
# another claim is made again, DRAFTS times at most; then the proposal is made under the lock.
DRAFTED = frozenset({"bayes"})
DRAFTS = 3
# What a sweep's state may go to, per action. A finished sweep (every point handed out) still
# has work while a trial is claimed but not started, is running, or awaits its retry: stopping
# it cancels the first and hands out no retry (see set_state).
_ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "pause": (("running",), "paused"),
    "resume": (("paused",), "running"),
    "stop": (("running", "paused", "finished"), "stopped"),
}
_COLUMNS = (
    "id, project, name, method, spec, seed, state, trial_limit, limit_reason, next_index,"
    " created_at, updated_at"
)


def create(tx: Tx, sweep: SweepCreate, expired: float) -> SweepInfo:
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
    info = fetch(tx, sweep.id, expired)
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


def fetch(tx: Tx, sweep_id: str, expired: float, lock: bool = False) -> SweepInfo | None:
    """The sweep with its trials counted by status (a claim before ``expired`` has expired);
    ``lock``: hold its row until commit."""
    row = tx.execute(
        f"SELECT {_COLUMNS} FROM sweeps WHERE id = ?{tx.dialect.for_update if lock else ''}",
        (sweep_id,),
    ).fetchone()
    if row is None:
        return None
    counts = tx.execute(
        # By position: PostgreSQL takes the select's and a repeated expression's ``?`` for two
        # parameters, so the grouped expression would not be the selected one.
        f"SELECT {_STATUS}, count(*) FROM {_TRIALS} WHERE t.sweep_id = ? GROUP BY 1",
        (expired, sweep_id),
    ).fetchall()
    return _info(tuple(row), {str(status): int(n) for status, n in counts})


def _locked(tx: Tx, sweep_id: str, expired: float) -> SweepInfo:
    info = fetch(tx, sweep_id, expired, lock=True)
    if info is None:
        raise SweepNotFound(f"no sweep with id {sweep_id!r}", "sweep")
    return info


def _to_retry(tx: Tx, sweep_id: str, expired: float) -> tuple[int, dict[str, Any]] | None:
    """The first crashed trial (its run crashed, or its claim expired without a run) not yet
    retried (and not itself a retry): index, configuration."""
    row = tx.execute(
        "SELECT t.idx, t.config FROM sweep_trials t LEFT JOIN runs r ON r.id = t.run_id"
        " WHERE t.sweep_id = ? AND t.retry_of IS NULL AND NOT t.run_deleted"
        " AND (r.status = 'crashed' OR (r.id IS NULL AND t.claimed_at < ?))"
        " AND NOT EXISTS (SELECT 1 FROM sweep_trials u"
        " WHERE u.sweep_id = t.sweep_id AND u.retry_of = t.idx) ORDER BY t.idx LIMIT 1",
        (sweep_id, expired),
    ).fetchone()
    return None if row is None else (int(row[0]), msgspec.json.decode(row[1]))


def _hand_out(
    tx: Tx, info: SweepInfo, agent: str | None, config: dict[str, Any], retry_of: int | None,
    state: str, now: float, expired: float,
) -> TrialClaim:  # fmt: skip
    index, run_id = info.handed_out, secrets.token_hex(6)
    tx.execute(
        "INSERT INTO sweep_trials (sweep_id, idx, run_id, config, agent, claimed_at, retry_of)"
        " VALUES (?,?,?,?,?,?,?)",
        (info.id, index, run_id, json_text(config), agent, now, retry_of),
    )
    tx.execute(
        "UPDATE sweeps SET next_index = ?, state = ?, updated_at = ? WHERE id = ?",
        (index + 1, state, now, info.id),
    )
    after = fetch(tx, info.id, expired)
    assert after is not None
    trial = Trial(info.id, index, run_id, config, agent, now, retry_of=retry_of)
    return TrialClaim(trial, None, after)


def _retries(tx: Tx, sweep_id: str) -> int:
    (retries,) = tx.execute(
        "SELECT count(*) FROM sweep_trials WHERE sweep_id = ? AND retry_of IS NOT NULL",
        (sweep_id,),
    ).fetchone()
    return int(retries)


def _next(
    tx: Tx, sweep_id: str, agent: str | None, now: float, expired: float
) -> tuple[SweepInfo, int, TrialClaim | None]:
    """The sweep (locked), the search space's next point, and the answer to give instead of a
    new point, if any: a crashed trial's retry (handed out here), or why there is no trial."""
    info = _locked(tx, sweep_id, expired)
    if info.state in ("running", "finished") and info.trials.get("crashed"):
        retry = _to_retry(tx, sweep_id, expired)
        if retry is not None:
            claimed = _hand_out(tx, info, agent, retry[1], retry[0], info.state, now, expired)
            return info, 0, claimed
    if info.state != "running":
        return info, 0, TrialClaim(None, info.state, info)
    point = info.handed_out - _retries(tx, sweep_id)
    if point >= info.trial_limit:
        finished = _set_state(tx, info, "finished", expired)
        return info, point, TrialClaim(None, "finished", finished)
    return info, point, None


def _state_after(info: SweepInfo, point: int) -> str:
    return "finished" if point + 1 >= info.trial_limit else "running"


def draft(
    tx: Tx, sweep_id: str, propose: Propose, expired: float
) -> tuple[int, dict[str, Any]] | None:
    """The next trial's ``(index, configuration)`` proposed in a read transaction, without the
    sweep's lock, for a method whose proposal reads the trials before it (DRAFTED); None when
    the sweep takes no draft (another method, not running, at its limit, or no such sweep)."""
    info = fetch(tx, sweep_id, expired)
    if info is None or info.method not in DRAFTED or info.state != "running":
        return None
    point = info.handed_out - _retries(tx, sweep_id)
    if point >= info.trial_limit:
        return None
    return info.handed_out, propose(info, point, _past(tx, sweep_id, expired))


def _past(tx: Tx, sweep_id: str, expired: float) -> Past:
    return functools.partial(outcomes, tx, sweep_id, expired=expired)


def claim(
    tx: Tx, sweep_id: str, agent: str | None, propose: Propose, now: float, expired: float
) -> TrialClaim:
    """Hand out the sweep's next trial (a crashed trial's retry first), claimed at ``now``, or
    say why there is none."""
    info, point, answer = _next(tx, sweep_id, agent, now, expired)
    if answer is not None:
        return answer
    config = propose(info, point, _past(tx, sweep_id, expired))
    return _hand_out(tx, info, agent, config, None, _state_after(info, point), now, expired)


def claim_drafted(
    tx: Tx,
    sweep_id: str,
    agent: str | None,
    drafted: tuple[int, dict[str, Any]],
    now: float,
    expired: float,
) -> TrialClaim | None:
    """Hand out a :func:`draft`'s configuration if its index is still the sweep's next one;
    None when another claim took that index meanwhile (draft again). A crashed trial's retry
    still comes first."""
    info, point, answer = _next(tx, sweep_id, agent, now, expired)
    if answer is not None:
        return answer
    index, config = drafted
    if index != info.handed_out:
        return None
    return _hand_out(tx, info, agent, config, None, _state_after(info, point), now, expired)


def _set_state(tx: Tx, info: SweepInfo, state: str, expired: float) -> SweepInfo:
    tx.execute(
        "UPDATE sweeps SET state = ?, updated_at = ? WHERE id = ?", (state, time.time(), info.id)
    )
    after = fetch(tx, info.id, expired)
    assert after is not None
    return after


def set_state(tx: Tx, sweep_id: str, action: str, expired: float) -> SweepInfo:
    """Pause, resume or stop the sweep."""
    before, after = _ACTIONS[action]
    info = _locked(tx, sweep_id, expired)
    if info.state == after:
        return info  # asked twice: already so
    if info.state not in before or (info.state == "finished" and not _has_work(tx, info, expired)):
        raise Conflict(
            f"sweep {sweep_id!r} is {info.state}: it cannot {action}",
            "sweep",
            "sweep_" + info.state,
        )
    return _set_state(tx, info, after, expired)


def _has_work(tx: Tx, info: SweepInfo, expired: float) -> bool:
    """Whether a trial of the sweep is claimed, running, or crashed and not yet retried."""
    ended = FINAL_STATUSES | {"stopped_early", "deleted"}
    return any(status not in ended for status in info.trials) or (
        _to_retry(tx, info.id, expired) is not None
    )


def refuse_unstarted(tx: Tx, run_id: str) -> None:
    """Refuse to create ``run_id`` when it is a trial not started yet of a stopped sweep (the
    trial reads as ``cancelled``: the agent that claimed it before the stop then does not run
    it), or whose claim expired and whose retry was handed out (the retry runs its
    configuration). A producer retrying the creation of its started run gets it as before.
    The sweep's row is share-locked: a stop or a claim (which lock it for update) waits for a
    run created meanwhile (which then goes on, as running trials do) or the creation sees it,
    while the runs of other trials of the sweep are created side by side. A late run whose
    retry was not handed out is created: the trial is its run's again."""
    trial = tx.execute(
        "SELECT sweep_id, idx, run_deleted FROM sweep_trials WHERE run_id = ?", (run_id,)
    ).fetchone()
    if trial is None or tx.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
        return
    sweep_id, index, deleted = trial
    if deleted:  # its run was deleted: made again on purpose (an import), see store.sql.purge
        return
    (state,) = tx.execute(
        f"SELECT state FROM sweeps WHERE id = ?{tx.dialect.for_share}", (sweep_id,)
    ).fetchone()
    if state == "stopped":
        raise SweepStopped(
            f"sweep {sweep_id!r} is stopped: its trial {index} was not started and is cancelled",
            "$.id",
        )
    retry = tx.execute(
        "SELECT idx FROM sweep_trials WHERE sweep_id = ? AND retry_of = ?", (sweep_id, index)
    ).fetchone()
    if retry is not None:
        raise ClaimExpired(
            f"the claim of trial {index} of sweep {sweep_id!r} expired before its run was"
            f" created, and its configuration was handed out again as trial {retry[0]}",
            "$.id",
        )


def trials(tx: Tx, sweep_id: str, after: int, limit: int, expired: float) -> list[Trial]:
    """A page of the sweep's trials in index order, each with its run's status."""
    rows = tx.execute(
        f"SELECT t.idx, t.run_id, t.config, t.agent, t.claimed_at, {_STATUS}, t.retry_of,"
        f" t.stopped_early FROM {_TRIALS} WHERE t.sweep_id = ? AND t.idx > ? ORDER BY t.idx"
        " LIMIT ?",
        (expired, sweep_id, after, limit),
    ).fetchall()
    return [
        Trial(sweep_id, int(idx), run_id, msgspec.json.decode(config), agent, claimed_at, status,
              None if retry_of is None else int(retry_of), stopped)
        for idx, run_id, config, agent, claimed_at, status, retry_of, stopped in rows
    ]  # fmt: skip


def outcomes(
    tx: Tx, sweep_id: str, metric: str, limit: int, *, expired: float
) -> list[TrialOutcome]:
    """The sweep's ``limit`` latest trials, with their status, ``metric``'s value in their
    runs' summaries (read in SQL: a summary is never decoded here) and, for those early
    termination stopped, their values at the rungs they reached. ``metric`` is one top-level
    key without a double quote, backslash or control character (the dialects' path syntax;
    the sweep's checks refuse others)."""
    number = tx.dialect.json_number.replace("{doc}", "r.summary")
    path = f'{tx.dialect.json_root}."{metric}"{tx.dialect.json_number_tail}'
    rows = tx.execute(
        f"SELECT t.idx, t.config, {_STATUS}, {number}, t.stopped_early IS NOT NULL"
        f" FROM {_TRIALS} WHERE t.sweep_id = ? ORDER BY t.idx DESC LIMIT ?",
        (expired, *[path] * number.count("?"), sweep_id, limit),
    ).fetchall()
    rungs: dict[int, dict[int, float]] = {int(row[0]): {} for row in rows if row[4]}
    if rungs:
        # The key is (sweep, rung, trial): the sweep's few rungs come from a loose index scan,
        # then each rung's values in the window from one index range (LIMIT keeps the planner
        # on the index), so the read grows with the window, not with the sweep.
        steps = tx.execute(
            "WITH RECURSIVE k (rung) AS ("
            " SELECT min(rung) FROM sweep_rungs WHERE sweep_id = ?"
            " UNION ALL SELECT (SELECT min(g.rung) FROM sweep_rungs g"
            " WHERE g.sweep_id = ? AND g.rung > k.rung) FROM k WHERE k.rung IS NOT NULL)"
            " SELECT rung FROM k WHERE rung IS NOT NULL",
            (sweep_id, sweep_id),
        ).fetchall()
        for (rung,) in steps:
            for idx, value in tx.execute(
                "SELECT idx, value FROM sweep_rungs WHERE sweep_id = ? AND rung = ?"
                " AND idx >= ? ORDER BY idx DESC LIMIT ?",
                (sweep_id, rung, min(rungs), limit),
            ).fetchall():
                if int(idx) in rungs:  # stopped early
                    rungs[int(idx)][int(rung)] = float(value)
    return [
        TrialOutcome(int(idx), msgspec.json.decode(config), status,
                     None if v is None else float(v), rungs.get(int(idx), {}))
        for idx, config, status, v, _ in rows
    ]  # fmt: skip
