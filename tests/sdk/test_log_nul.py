"""A NUL in a log line costs nothing else: the SDK keeps the line, its NUL shown as U+FFFD, and
the batch it travels in (lines and events) is stored on SQLite and PostgreSQL alike; a producer
that sends a NUL itself is answered 400 naming the field, on both."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runwatch.sdk.run import Run
from runwatch.sdk.sender import SenderConfig
from tests.pg import fresh_database
from tests.servers import ServerProcess


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A real server on a fresh SQLite file or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        server = ServerProcess(tmp_path / "data").start()
        try:
            yield server
        finally:
            server.stop()
        return
    with fresh_database() as url:
        server = ServerProcess(tmp_path / "data", extra_args=["--store", url]).start()
        try:
            yield server
        finally:
            server.stop()


def test_a_nul_in_a_log_line_loses_nothing(backend_server: ServerProcess, tmp_path: Path) -> None:
    spec = {"id": "nullog01", "project": "nul", "name": "n", "tags": [], "config": {}}
    run = Run(spec, [backend_server.url], None, tmp_path / "run", SenderConfig(vitals_interval=0))
    run.event("checkpoint", path="ckpt/1.pt")
    for i in range(20):
        run.write_log("stdout", f"epoch {i} ok")
    run.write_log("stdout", "tqdm \x00 garbage")
    run.event("checkpoint", path="ckpt/2.pt")
    assert run.finish(timeout=60)
    with backend_server.client() as c:
        lines = c.get(f"/api/v1/runs/{run.id}/logs").json()["lines"]
        params = {"kind": "checkpoint"}
        events = c.get(f"/api/v1/runs/{run.id}/events", params=params).json()["events"]
    assert [line["text"] for line in lines] == [f"epoch {i} ok" for i in range(20)] + [
        "tqdm \ufffd garbage"
    ]
    assert [e["payload"]["path"] for e in events] == ["ckpt/1.pt", "ckpt/2.pt"]


def test_a_nul_sent_in_a_log_line_is_a_400_naming_it(backend_server: ServerProcess) -> None:
    with backend_server.client() as c:
        run = c.post("/api/v1/runs", json={"project": "nul", "name": "raw"}).json()
        line = {"stream": "stdout", "ts": 1.0, "text": "a\x00b"}
        batch = {"producer": "raw", "batch_seq": 0, "logs": [line]}
        reply = c.post(f"/api/v1/runs/{run['id']}/batches", json=batch)
        assert reply.status_code == 400, reply.text
        assert "logs[0].text" in reply.text
        assert c.get(f"/api/v1/runs/{run['id']}/logs").json()["lines"] == []


def test_a_nul_in_a_name_or_an_error_loses_nothing_else(
    backend_server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An event kind or entity with a NUL is left out (one warning), as a name too long is;
    a NUL in the final error shows as U+FFFD. The server refuses both (400), with the batch."""
    spec = {"id": "nulname1", "project": "nul", "name": "n", "tags": [], "config": {}}
    run = Run(spec, [backend_server.url], None, tmp_path / "run", SenderConfig(vitals_interval=0))
    run.event("checkpoint", path="ckpt/1.pt")
    run.event("bad\x00kind", path="lost")
    assert "holds a NUL character" in capsys.readouterr().err
    run.event("checkpoint", entity="e\x00", path="lost too")
    run.event("checkpoint", path="ckpt/2.pt")
    assert run.finish("failed", error="Traceback \x00 end", timeout=60)
    with backend_server.client() as c:
        got = c.get(f"/api/v1/runs/{run.id}").json()
        params = {"kind": "checkpoint"}
        events = c.get(f"/api/v1/runs/{run.id}/events", params=params).json()["events"]
    assert [e["payload"]["path"] for e in events] == ["ckpt/1.pt", "ckpt/2.pt"]
    assert (got["status"], got["error"]) == ("failed", "Traceback \ufffd end")


def test_a_metric_key_with_a_nul_leaves_out_its_row_alone(
    backend_server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server refuses a NUL in a metric key with the whole batch; the SDK leaves out the
    row that holds one (one warning, as for a key too long) and the rows around it arrive."""
    spec = {"id": "nulkey01", "project": "nul", "name": "n", "tags": [], "config": {}}
    run = Run(spec, [backend_server.url], None, tmp_path / "run", SenderConfig(vitals_interval=0))
    run.log({"loss": 1.0}, step=0)
    run.log({"loss": 2.0, "tb\x00tag": 5.0}, step=1)
    run.log({"loss": 3.0, "nested": {"a\x00": 1.0}}, step=2)
    assert "holds a NUL character" in capsys.readouterr().err
    run.log({"loss": 4.0}, step=3)
    assert run.finish(timeout=60)
    with backend_server.client() as c:
        series = c.get(f"/api/v1/runs/{run.id}/metrics").json()["series"]
    assert list(series) == ["loss"]
    assert series["loss"]["x"] == [0, 3] and series["loss"]["value"] == [1.0, 4.0]
