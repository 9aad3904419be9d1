"""No batch the SDK builds passes a server limit: a loop whose batches would be over the body
cap is stored whole, and one record past a limit is left out alone, never with its batch."""

from __future__ import annotations

from pathlib import Path

import pytest

import runwatch
from runwatch.protocol import MAX_TIMESTAMP
from runwatch.sdk import limits
from runwatch.server.settings import Settings
from runwatch.store.prepare import Limits
from tests.reliability.test_burst import status, stored
from tests.servers import ServerProcess

STEPS = 20_000
KEYS = 100


def test_the_sdk_limits_are_within_the_servers_defaults() -> None:
    server = Limits()
    assert Settings().max_body_bytes >= limits.MAX_BODY_BYTES >= limits.MAX_BATCH_BYTES
    assert server.max_keys_per_batch >= limits.MAX_BATCH_KEYS
    assert server.max_points_per_batch >= limits.MAX_BATCH_VALUES >= limits.MAX_BATCH_BYTES // 28
    assert server.max_events_per_batch >= limits.MAX_BATCH_EVENTS
    assert server.max_event_payload_bytes >= limits.MAX_EVENT_PAYLOAD_BYTES
    assert server.max_snapshot_bytes >= limits.MAX_SNAPSHOT_BYTES
    assert server.max_config_bytes >= limits.MAX_CONFIG_BYTES
    assert server.max_table_rows >= limits.MAX_TABLE_ROWS
    assert server.max_point_set >= limits.MAX_POINT_SET
    assert server.max_key_length >= limits.MAX_KEY_LENGTH
    assert server.max_kind_length >= limits.MAX_KIND_LENGTH
    assert limits.MAX_NAME_LENGTH <= 256  # protocol.Name
    assert server.max_text_length >= limits.MAX_TEXT_LENGTH
    assert server.max_texts_per_batch >= limits.MAX_BATCH_TEXTS
    assert limits.MAX_TIMESTAMP <= MAX_TIMESTAMP


@pytest.mark.parametrize(
    ("stem", "steps"),
    [("grad_norm_of_a_long_metric_name", STEPS), ("\U0001f600" * 60, 3_000)],
    ids=["ascii keys", "4-byte keys"],  # the size estimate counts characters, not bytes
)
def test_a_tight_loop_of_many_keys_is_stored_whole(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], stem: str, steps: int
) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        run = runwatch.init(project="p", url=server.url, run_dir=tmp_path / "run")
        names = [f"layer{k:03d}/{stem}" for k in range(KEYS)]
        for i in range(steps):
            run.log({name: i + k / 7 for k, name in enumerate(names)}, step=i)
        assert run.finish()
        assert stored(server, run.id, names[0]) == steps
        assert stored(server, run.id, names[-1]) == steps
        assert status(server, run.id) == "succeeded"
        err = capfd.readouterr().err
        assert "refused" not in err and "413" not in err, err
    finally:
        server.stop()


@pytest.mark.parametrize("record", ["snapshot", "event"])
def test_one_record_past_a_limit_is_left_out_alone(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], record: str
) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        run = runwatch.init(project="p", url=server.url, run_dir=tmp_path / "run")
        for i in range(100):
            run.log({"loss": float(i)}, step=i)
        if record == "snapshot":
            run.snapshot("weights", [0.123456789] * 200_000)  # about 2 MB as JSON
            limit = "max_snapshot_bytes"
        else:
            run.event("huge", blob="x" * 100_000)
            limit = "max_event_payload_bytes"
        run.event("small", note="kept")
        for i in range(100, 200):
            run.log({"loss": float(i)}, step=i)
        assert not run.finish()  # everything but the record left out was delivered
        assert stored(server, run.id) == 200
        assert status(server, run.id) == "succeeded"
        with server.client() as c:
            kinds = [e["kind"] for e in c.get(f"/api/v1/runs/{run.id}/events").json()["events"]]
        assert "small" in kinds and "huge" not in kinds
        lost = [k for k in kinds if k == "sdk.lost"]
        assert len(lost) == 1, kinds
        err = capfd.readouterr().err
        assert limit in err, err
        assert f"1 record of run {run.id} was lost" in err, err
    finally:
        server.stop()


def test_names_past_the_servers_limits_are_refused_at_the_call_not_with_their_batch(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    server = ServerProcess(tmp_path / "data").start()
    try:
        run = runwatch.init(project="p", url=server.url, run_dir=tmp_path / "run")
        for i in range(100):
            run.log({"loss": float(i)}, step=i)
        run.log({"k" * 257: 1.0, "loss": 100.0}, step=100)  # the whole row is refused
        run.log({"nested": {"k" * 250: 1.0}}, step=100)  # "nested/kkk…": 257 characters
        run.log({"": 1.0}, step=100)
        run.log({"loss": 1.0}, step=2**63)
        run.log({"loss": 1.0}, step=100, ts=-1.0)
        run.event("e" * 129)
        run.event("far", entity="n" * 257)
        run.event("far", entity=2**64)
        run.snapshot("s" * 257, [1.0])
        run.table("t" * 257, [{"a": 1}])
        run.points("", [{"x": 1.0, "y": 1.0}])
        run.event("small", entity="n" * 256, note="kept")
        for i in range(100, 200):
            run.log({"loss": float(i), "k" * 256: 1.0}, step=i)
        assert run.finish()
        assert stored(server, run.id) == 200
        assert stored(server, run.id, "k" * 256) == 100
        assert status(server, run.id) == "succeeded"
        with server.client() as c:
            kinds = [e["kind"] for e in c.get(f"/api/v1/runs/{run.id}/events").json()["events"]]
            state = c.get(f"/api/v1/runs/{run.id}/state").json()
        assert [k for k in kinds if k != "status"] == ["small"]
        assert state["snapshots"] == {} and state["tables"] == {} and state["point_sets"] == {}
        err = capfd.readouterr().err
        assert "refused" not in err, err
        for named in ("max_key_length", "max_kind_length", "max_name_length", "step ", "ts must"):
            assert named in err, named
        assert err.count("ValueError") == 11, err
    finally:
        server.stop()
