"""A ``stalled`` rule watches the run's own data: the SDK's ``sys/*`` vitals, which its sender
thread samples while the training loop may be hung, do not reset its clock. A real server, and a
real SDK run that samples vitals every 0.1 s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runwatch.sdk.run import Run
from runwatch.sdk.sender import SenderConfig
from tests.reliability.test_burst import stored
from tests.servers import ServerProcess, wait_until

STALL_MINUTES = 0.02  # 1.2 s
VITALS_EVERY = 0.1  # seconds: a dozen samples inside one stall window


def alerts(server: ServerProcess) -> list[dict[str, Any]]:
    with server.client() as c:
        reply = c.get("/api/v1/projects/hung/alerts")
    assert reply.status_code == 200, reply.text
    found: list[dict[str, Any]] = reply.json()["alerts"]
    return found


def test_a_hung_loop_fires_its_stall_rule_once_while_vitals_go_on(
    server: ServerProcess, tmp_path: Path
) -> None:
    with server.client() as c:
        rule = {"type": "stalled", "minutes": STALL_MINUTES}
        reply = c.post(
            "/api/v1/projects/hung/rules", json={"name": "hung", "condition": rule, "cooldown": 0}
        )
        assert reply.status_code in (200, 201), reply.text
    spec = {"id": "hungloop", "project": "hung", "name": "h", "tags": [], "config": {}}
    run = Run(spec, [server.url], None, tmp_path, SenderConfig(vitals_interval=VITALS_EVERY))
    try:
        run.log({"loss": 1.0}, step=0)
        wait_until(lambda: stored(server, run.id) == 1, what="the user's one point")
        # The loop is hung from here on; the sender goes on sampling vitals.
        fired = wait_until(lambda: alerts(server), 15, what="the stall rule to fire")
        assert len(fired) == 1 and fired[0]["rule_name"] == "hung", fired
        # Two more stall windows of vitals alone: still one episode, so no second alert
        # (cooldown 0), where each sample used to end the episode and start a new one.
        samples = stored(server, run.id, "sys/cpu_percent")
        wait_until(
            lambda: stored(server, run.id, "sys/cpu_percent") >= samples + 24,
            15,
            what="vitals through two more stall windows",
        )
        assert len(alerts(server)) == 1
        # The run's own data ends the episode: the next silence is a new one.
        run.log({"loss": 0.5}, step=1)
        wait_until(lambda: len(alerts(server)) == 2, 15, what="a second stall after new data")
    finally:
        run.finish(timeout=30)
