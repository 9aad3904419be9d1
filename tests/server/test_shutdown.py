"""Stopping the server while a producer long-polls for commands: the poll is answered at once
and the server exits quietly (no cancelled task, no traceback)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.servers import ServerProcess, waiting_long_poll


def test_a_waiting_long_poll_ends_at_once_on_shutdown(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        with server.client() as c:
            run_id = c.post("/api/v1/runs", json={"project": "stop"}).json()["id"]
        poller, reply = waiting_long_poll(server, run_id, wait=25)
        began = time.monotonic()
        server.stop()
        took = time.monotonic() - began
        poller.join(10)
    finally:
        server.kill()
    assert not poller.is_alive()
    assert reply == {"commands": [], "status": "running"}
    assert took < 2.0, f"shutdown took {took:.1f} s"
    log = server.log_path.read_text()
    assert "Traceback" not in log and "Cancel" not in log, log[-3000:]
