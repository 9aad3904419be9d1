"""The offline W&B reader against run files written by the real ``wandb`` (offline mode).

The run mixes what a training script writes: history rows (nested dicts, merged partial logs,
an explicit step, non-numbers, inf), config updates, summary values (short and long), console
output and metric definitions. The reader must give back exactly the logged points.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from wandb.proto import wandb_internal_pb2 as pb

import runwatch
from runwatch.launcher.artifacts import ArtifactScanner
from runwatch.launcher.wandb_offline import BLOCK, FILE_HEADER, Row, WandbRunTail
from tests.servers import ServerProcess

SCRIPT = textwrap.dedent("""
    import sys
    import wandb

    run = wandb.init(
        project="bulk", dir=sys.argv[1], config={"lr": 0.1, "arch": {"depth": 4}},
        settings=wandb.Settings(x_disable_stats=True),
    )
    wandb.config.update({"batch": 64})
    wandb.define_metric("val/*", step_metric="epoch")
    for step in range(300):
        row = {"loss": 1.0 / (step + 1), "train/acc": step / 300}
        if step % 50 == 0:
            row["epoch"] = step // 50
            row["val/loss"] = 2.0 / (step + 1)
        if step % 7 == 0:
            row["note"] = "x" * 200
            row["flag"] = True
            row["nested"] = {"a": step, "b": 0.5}
        if step == 100:
            row["spike"] = float("inf")
        if step % 10 == 3:
            wandb.log({"partial": step * 1.5}, commit=False)
        wandb.log(row)
        if step % 100 == 0:
            print("progress", step)
    run.summary["best"] = 0.99
    run.summary["long"] = "y" * 300
    wandb.log({"late": 1.0}, step=400)
    wandb.finish()
""")


def logged_points() -> dict[str, list[tuple[int, float | str]]]:
    """(step, value) per key, as SCRIPT logged them: strings are texts, booleans not values."""
    points: dict[str, list[tuple[int, float | str]]] = {}
    for step in range(300):
        row = {"loss": 1.0 / (step + 1), "train/acc": step / 300}
        if step % 50 == 0:
            row |= {"epoch": step // 50, "val/loss": 2.0 / (step + 1)}
        if step % 7 == 0:
            row |= {"nested/a": step, "nested/b": 0.5}
        if step == 100:
            row["spike"] = float("inf")
        if step % 10 == 3:
            row["partial"] = step * 1.5
        for key, value in row.items():
            points.setdefault(key, []).append((step, float(value)))
        if step % 7 == 0:
            points.setdefault("note", []).append((step, "x" * 200))
    points["late"] = [(400, 1.0)]
    return points


def points_of(rows: list[Row]) -> dict[str, list[tuple[int, float | str]]]:
    points: dict[str, list[tuple[int, float | str]]] = {}
    for step, _, values in rows:
        assert step is not None
        for key, value in values.items():
            points.setdefault(key, []).append((step, value))
    return points


@pytest.fixture(scope="module")
def run_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wandb-run")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWATCH_", "WANDB_"))}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(work)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**env, "WANDB_MODE": "offline", "WANDB_SILENT": "true"},
    )
    assert done.returncode == 0, done.stderr
    (path,) = work.glob("wandb/offline-run-*/run-*.wandb")
    return path


def test_a_real_offline_run_reads_back_as_the_logged_points(run_file: Path) -> None:
    tail = WandbRunTail(run_file)
    rows = tail.read_new()
    assert points_of(rows) == logged_points()
    walls = [wall for _, wall, _ in rows]
    assert all(wall is not None for wall in walls) and walls == sorted(walls)  # type: ignore[type-var]
    assert tail.read_new() == []  # nothing new: nothing read twice
    assert tail.project == "bulk" and tail.run_id == run_file.stem.removeprefix("run-")
    assert {k: tail.config[k] for k in ("lr", "arch", "batch")} == {
        "lr": 0.1,
        "arch": {"depth": 4},
        "batch": 64,
    }
    summary = tail.summary
    assert summary["best"] == 0.99 and summary["long"] == "y" * 300
    assert summary["note"] == "x" * 200 and summary["flag"] is True
    assert summary["loss"] == 1.0 / 300 and summary["late"] == 1 and summary["_step"] == 400
    assert summary["spike"] == "inf"  # non-finite summary values in their wire form
    assert summary["nested/a"] == 294 and summary["partial"] == 439.5


def test_a_growing_run_file_reads_the_same_in_pieces(run_file: Path, tmp_path: Path) -> None:
    data = run_file.read_bytes()
    whole = WandbRunTail(run_file)
    expected = whole.read_new()
    growing = tmp_path / run_file.name
    tail = WandbRunTail(growing)
    rows: list[Row] = []
    for cut in [*range(0, len(data), 997), len(data)]:  # cuts land inside records and blocks
        growing.write_bytes(data[:cut])
        rows += tail.read_new()
    assert rows == expected
    assert tail.summary == whole.summary and tail.config == whole.config


def records_of(path: Path) -> list[bytes]:
    tail = WandbRunTail(path)
    tail.offset = FILE_HEADER
    return list(tail._records(path.read_bytes()))


def write_run_file(path: Path, header: bytes, records: list[bytes]) -> None:
    """W&B's log framing (CRCs left zero: the reader does not check them)."""
    out = bytearray(header)
    for record in records:
        first = True
        while True:
            left = BLOCK - len(out) % BLOCK
            if left < 7:
                out += bytes(left)
                continue
            chunk, record = record[: left - 7], record[left - 7 :]
            kind = (1 if not record else 2) if first else (4 if not record else 3)
            out += struct.pack("<IHB", 0, len(chunk), kind) + chunk
            first = False
            if not record:
                break
    path.write_bytes(bytes(out))


def test_history_and_summary_in_other_encodings_read_the_same(
    run_file: Path, tmp_path: Path
) -> None:
    """Typed history values, ``key`` instead of ``nested_key``, an empty ``value_json`` and
    records not starting with their type are all valid (W&B's classes read them) and give the
    same rows and summary as the file W&B wrote."""
    recoded = []
    for i, payload in enumerate(records_of(run_file)):
        record = pb.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "history" and i % 3 == 0:
            for item in record.history.item:
                value = float(item.value_json) if item.value_json[:1].isdigit() else None
                if value is not None and "." in item.value_json:
                    item.number, item.value_json = value, ""
                if len(item.nested_key) == 1:
                    item.key = item.nested_key.pop()
        elif kind == "summary" and i % 5 == 0:
            record.summary.update.add(key="blank")  # no value_json: a None value
        payload = record.SerializeToString()
        if i % 4 == 0:  # another field first: the record type is not at the start
            payload = pb.Record(uuid="u").SerializeToString() + payload
        recoded.append(payload)
    header = run_file.read_bytes()[:FILE_HEADER]
    other = tmp_path / run_file.name
    write_run_file(other, header, recoded)
    want, got = WandbRunTail(run_file), WandbRunTail(other)
    assert got.read_new() == want.read_new()
    assert got.summary == {**want.summary, "blank": None} and got.config == want.config


@pytest.mark.parametrize(
    ("own", "expected"),
    [
        ({}, {"lr": 0.1, "arch": {"depth": 4}, "batch": 64}),
        ({"seed": 1}, {"wandb/lr": 0.1, "wandb/arch": {"depth": 4}, "wandb/batch": 64}),
    ],
    ids=["run-without-config", "run-with-config"],
)
def test_the_offline_runs_config_is_sent_for_the_run(
    run_file: Path, tmp_path: Path, own: dict[str, object], expected: dict[str, object]
) -> None:
    """The W&B config becomes the run's config, once per change (with a ``config.update``
    event): as it is for a run without config of its own, under ``wandb/`` beside one."""
    server = ServerProcess(tmp_path / "data").start()
    try:
        run = runwatch.init(project="cfg", url=server.url, run_dir=tmp_path / "run", config=own)
        (tmp_path / "run" / "wandb" / run_file.parent.name).mkdir(parents=True)
        shutil.copy(run_file, tmp_path / "run" / "wandb" / run_file.parent.name)
        scanner = ArtifactScanner(run)
        scanner.import_scalars()
        scanner.import_scalars()  # nothing changed: nothing sent again
        run.finish()
        with server.client() as c:
            events = c.get(
                f"/api/v1/runs/{run.id}/events", params={"kind": "config.update"}
            ).json()["events"]
            stored = c.get(f"/api/v1/runs/{run.id}").json()["config"]
    finally:
        server.stop()
    assert len(events) == 1
    payload = events[0]["payload"]
    assert payload["source"] == "wandb" and payload["run_id"] == run_file.stem.removeprefix("run-")
    assert {k: payload["values"][k] for k in expected} == expected
    assert {k: stored[k] for k in expected} == expected and stored.items() >= own.items()
    assert not any(k.removeprefix("wandb/").startswith("_") for k in payload["values"])
