"""Early termination of sweep trials in the store: each trial's value at each rung, recorded
once, and the verdict taken under the sweep's row lock, so the replicas that ingest a sweep's
trials judge them one at a time against the same values.

A stopped trial is marked (``sweep_trials.stopped_early``: why), its run gets an
``early_stop`` event in its feed and a cooperative cancel (the SDK's ``should_stop``; the
launcher ends the run ``cancelled`` with the reason as its error), as a rule's cancel action.
"""

from __future__ import annotations

from typing import Any

import msgspec

from runwatch.store.base import Judge, Record, RungReached, WatchedTrial
from runwatch.store.sql import control, records
from runwatch.store.sql.tx import Tx

LIVE = ("queued", "running", "crashed")  # statuses a run can still be cancelled in


def watched_trial(tx: Tx, run_id: str) -> WatchedTrial | None:
    """The trial the run reports as, with its sweep's configuration."""
    row = tx.execute(
        "SELECT t.sweep_id, t.idx, s.spec, t.stopped_early FROM sweep_trials t"
        " JOIN sweeps s ON s.id = t.sweep_id WHERE t.run_id = ?",
        (run_id,),
    ).fetchone()
    if row is None:
        return None
    sweep_id, index, spec, stopped = row
    return WatchedTrial(sweep_id, int(index), msgspec.json.decode(spec), stopped is not None)


def reach_rung(
    tx: Tx, reached: RungReached, judge: Judge
) -> tuple[dict[str, Any] | None, list[Record]]:
    """Record the trial's value at the rung and judge it (see the module's docstring)."""
    sweep_id, index = reached.sweep_id, reached.index
    tx.execute(f"SELECT id FROM sweeps WHERE id = ?{tx.dialect.for_update}", (sweep_id,))
    row = tx.execute(
        "SELECT stopped_early FROM sweep_trials WHERE sweep_id = ? AND idx = ?", (sweep_id, index)
    ).fetchone()
    if row is None or row[0] is not None:
        return None, []
    added = tx.execute(
        "INSERT INTO sweep_rungs (sweep_id, rung, idx, value) VALUES (?,?,?,?)"
        " ON CONFLICT (sweep_id, rung, idx) DO NOTHING RETURNING idx",
        (sweep_id, reached.rung, index, reached.value),
    ).fetchone()
    if added is None:
        return None, []  # judged at this rung before (another commit, or another replica)
    values = [
        float(v)
        for (v,) in tx.execute(
            "SELECT value FROM sweep_rungs WHERE sweep_id = ? AND rung = ?",
            (sweep_id, reached.rung),
        ).fetchall()
    ]
    verdict = judge(reached, values)
    if verdict is None:
        return None, []
    tx.execute(
        "UPDATE sweep_trials SET stopped_early = ? WHERE sweep_id = ? AND idx = ?",
        (verdict["message"], sweep_id, index),
    )
    status = records.lock_run(tx, reached.run_id)
    out = [records.server_event(tx, reached.run_id, "early_stop", "warning", verdict)]
    if status in LIVE:
        _, _, sent = control.add_command(
            tx, reached.run_id, "cancel", {"reason": verdict["message"]}
        )
        out += sent
    return verdict, out
