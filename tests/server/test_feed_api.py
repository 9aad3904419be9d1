"""What a run page's feed asks of the API: the newest 500 events in /state with a flag for older
ones (no count exists), and one kind's newest events, newest first."""

from __future__ import annotations

import time

from runwatch.server.settings import Settings
from tests.asgi import InProcessServer


def test_state_holds_the_newest_events_and_says_whether_older_ones_exist(
    app_server: InProcessServer,
) -> None:
    limit = Settings().state_events
    with app_server.client() as c:
        run_id = c.post("/api/v1/runs", json={"project": "feed", "name": "f"}).json()["id"]
        now = time.time()

        def send(batch_seq: int, kinds: list[str]) -> None:
            events = [{"kind": k, "ts": now, "payload": {"i": i}} for i, k in enumerate(kinds)]
            body = {"producer": "t", "batch_seq": batch_seq, "events": events}
            assert c.post(f"/api/v1/runs/{run_id}/batches", json=body).status_code == 200

        # The creation's "running" status is an event too: limit - 1 more fill the page exactly.
        send(1, ["tick"] * (limit - 1))
        state = c.get(f"/api/v1/runs/{run_id}/state").json()
        assert len(state["events"]) == limit and state["events_more"] is False
        send(2, ["checkpoint"] + ["tick"] * 2)
        state = c.get(f"/api/v1/runs/{run_id}/state").json()
        seqs = [e["seq"] for e in state["events"]]
        assert len(seqs) == limit and state["events_more"] is True
        assert seqs == sorted(seqs, reverse=True) and seqs[0] == state["seq"]

        params = {"kind": "tick", "newest_first": "true", "limit": 3}
        answer = c.get(f"/api/v1/runs/{run_id}/events", params=params).json()
        assert [e["seq"] for e in answer["events"]] == [*seqs[:2], seqs[0] - 3]
        assert answer["next_after"] == seqs[0]
        oldest = c.get(f"/api/v1/runs/{run_id}/events", params={"kind": "status"}).json()
        assert [e["kind"] for e in oldest["events"]] == ["status"]
