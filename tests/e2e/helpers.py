"""Small helpers for browser tests: create runs and post batches over the real HTTP API."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Sequence
from typing import Any

import httpx
import msgspec

from runwatch.sdk.vitals import SystemVitals

Point = list[Any]  # [step, unix_ts, {key: value}], as the batches endpoint takes it


def create_run(client: httpx.Client, project: str, name: str, **fields: Any) -> dict[str, Any]:
    """POST /api/v1/runs; returns the new RunInfo."""
    response = client.post("/api/v1/runs", json={"project": project, "name": name, **fields})
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


def rows(steps: Iterable[int], **series: Sequence[Any]) -> list[Point]:
    """Point rows for ``steps``; each keyword is a metric whose values line up with the steps."""
    now = time.time()
    out: list[Point] = []
    for i, step in enumerate(steps):
        out.append([step, now, {key: values[i] for key, values in series.items()}])
    return out


def sdk_vitals() -> dict[str, float]:
    """One sample of the SDK's own ``sys/*`` vitals (sdk/vitals.py), as a live SDK run logs them."""
    return SystemVitals().sample(taken=100, queued=0)


def event(
    kind: str, level: str = "info", entity: int | str | None = None, **payload: Any
) -> dict[str, Any]:
    return {"kind": kind, "ts": time.time(), "level": level, "entity": entity, "payload": payload}


def handles(client: httpx.Client, run_id: str, *kinds: str) -> None:
    """Say the run's producer handles these command kinds, as ``run.on_command`` does: the
    run page offers them on each entity."""
    body = {"producer": "kinds", "batch_seq": 1, "command_kinds": list(kinds)}
    response = client.post(f"/api/v1/runs/{run_id}/batches", json=body)
    assert response.status_code == 200, response.text


class Producer:
    """Posts batches for one run and numbers them (``batch_seq``) the way the SDK does."""

    def __init__(self, client: httpx.Client, run_id: str, name: str = "e2e") -> None:
        self.client = client
        self.run_id = run_id
        self.name = name
        self._seq = itertools.count(1)

    def send(
        self,
        points: Sequence[Point] = (),
        events: Sequence[dict[str, Any]] = (),
        status: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"producer": self.name, "batch_seq": next(self._seq)}
        if points:
            body["points"] = list(points)
        if events:
            body["events"] = list(events)
        if status is not None:
            body["status"] = {"ts": time.time(), "error": None, "exit_code": None, **status}
        response = self.client.post(f"/api/v1/runs/{self.run_id}/batches", json=body)
        assert response.status_code == 200, response.text
        ack: dict[str, Any] = response.json()
        return ack

    def send_series(self, key: str, steps: Sequence[int], values: Sequence[float]) -> None:
        """Post one metric's points fast: batches of 50,000 rows, encoded by msgspec."""
        now = time.time()
        for at in range(0, len(steps), 50_000):
            points = [
                [steps[i], now + steps[i] * 1e-3, {key: values[i]}]
                for i in range(at, min(at + 50_000, len(steps)))
            ]
            body = {"producer": self.name, "batch_seq": next(self._seq), "points": points}
            response = self.client.post(
                f"/api/v1/runs/{self.run_id}/batches",
                content=msgspec.json.encode(body),
                headers={"Content-Type": "application/json"},
                timeout=120,
            )
            assert response.status_code == 200, response.text

    def finish(self, state: str = "succeeded", **fields: Any) -> dict[str, Any]:
        return self.send(status={"state": state, **fields})
