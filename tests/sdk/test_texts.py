"""Text values of log() and <run_dir>/progress.jsonl, against a real server."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

import runwatch
from runwatch.sdk.run import Run
from runwatch.sdk.sender import SenderConfig
from runwatch.sdk.spool import read_batches
from tests.pg import fresh_database
from tests.servers import ServerProcess


def get_run(server: ServerProcess, run_id: str) -> dict[str, Any]:
    with server.client() as c:
        answer = c.get(f"/api/v1/runs/{run_id}")
        assert answer.status_code == 200
        return dict(answer.json())


def live_messages(server: ServerProcess, run_id: str) -> list[dict[str, Any]]:
    """Every live message of a finished run, replayed from the start."""
    url = server.url.replace("http://", "ws://") + f"/api/v1/runs/{run_id}/live?since=0"
    out: list[dict[str, Any]] = []
    with connect(url) as ws:
        while not out or out[-1]["type"] != "run.closed":
            data = json.loads(ws.recv(timeout=10))
            out += data if isinstance(data, list) else [data]
    return out


def progress_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_text_values_reach_the_summary_the_query_and_the_live_feed(
    server: ServerProcess, tmp_path: Path
) -> None:
    with runwatch.init(project="texts", url=server.url, run_dir=tmp_path / "run") as run:
        run.log({"loss": 0.5, "model": "gpt-4o-mini"}, step=4)
        run.log({"loss": 0.3, "model": "gpt-4o", "program_id": "p-17"}, step=5)
        run.log({"note": "nan", "gap": math.nan}, step=6)
    other = runwatch.init(project="texts", url=server.url, run_dir=tmp_path / "other")
    with other:
        other.log({"loss": 0.9, "model": "llama"}, step=0)

    summary = get_run(server, run.id)["summary"]
    assert summary["loss"] == 0.3
    assert summary["model"] == "gpt-4o" and summary["program_id"] == "p-17"
    assert summary["note"] == "nan" and summary["gap"] == "nan"
    with server.client() as c:
        found = c.get("/api/v1/runs", params={"q": 'summary.model == "gpt-4o"', "project": "texts"})
        assert found.status_code == 200, found.text
        assert [r["id"] for r in found.json()["runs"]] == [run.id]

    texts = [m["texts"] for m in live_messages(server, run.id) if m["type"] == "texts"]
    latest: dict[str, Any] = {}
    for message in texts:
        latest.update(message)
    assert latest["model"]["value"] == "gpt-4o" and latest["model"]["step"] == 5
    assert latest["program_id"] == {"step": 5, "ts": latest["program_id"]["ts"], "value": "p-17"}
    assert latest["note"]["value"] == "nan" and "gap" not in latest

    # On the wire the text "nan" and the NaN metric stay apart.
    batches = list(read_batches(run.spool_path))
    wire_texts = [row for b in batches for row in b.get("texts", [])]
    assert [6, {"note": "nan"}] in [[r[0], r[2]] for r in wire_texts]
    points = [row for b in batches for row in b["points"]]
    assert [6, {"gap": "nan"}] in [[r[0], r[2]] for r in points]


def test_progress_jsonl_has_one_line_per_logged_step(server: ServerProcess, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with runwatch.init(project="texts", url=server.url, run_dir=run_dir) as run:
        for step in range(3):
            run.log({"loss": 1.0 / (step + 1)}, step=step)
        run.log({"loss": math.inf, "model": "gpt-4o", "nested": {"id": "p-1", "x": 2}}, step=3)
        run.event("not a step")
    lines = progress_lines(run_dir / "progress.jsonl")
    assert [(line["step"], line["values"]) for line in lines[:3]] == [
        (0, {"loss": 1.0}),
        (1, {"loss": 0.5}),
        (2, {"loss": 1.0 / 3}),
    ]
    assert all("texts" not in line and line["ts"] > 1e9 for line in lines[:3])
    last = lines[3]
    assert last["step"] == 3
    assert last["values"] == {"loss": "inf", "nested/x": 2.0}
    assert last["texts"] == {"model": "gpt-4o", "nested/id": "p-1"}
    assert len(lines) == 4
    assert get_run(server, run.id)["summary"]["nested/id"] == "p-1"


def test_progress_jsonl_rotates_past_its_cap(server: ServerProcess, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    spec = {"id": "rotate-1", "project": "texts", "config": {}}
    config = SenderConfig(progress_max_bytes=2_000)
    with Run(spec, [server.url], None, run_dir, config=config) as run:
        for step in range(200):
            run.log({"loss": float(step), "model": f"m-{step}"}, step=step)
    current = progress_lines(run_dir / "progress.jsonl")
    rotated = progress_lines(run_dir / "progress.1.jsonl")
    assert (run_dir / "progress.jsonl").stat().st_size <= 2_000
    assert (run_dir / "progress.1.jsonl").stat().st_size <= 2_000
    steps = [line["step"] for line in rotated + current]
    assert steps == list(range(steps[0], 200))  # the newest, in order, no gap
    assert all(line["texts"] == {"model": f"m-{line['step']}"} for line in rotated + current)
    assert get_run(server, run.id)["summary"]["model"] == "m-199"


def test_an_oversized_text_is_refused_with_one_warning_and_nothing_else_lost(
    server: ServerProcess, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    huge = "x" * 100_000
    with runwatch.init(project="texts", url=server.url, run_dir=tmp_path / "run") as run:
        run.log({"loss": 0.1, "blob": huge, "model": "gpt-4o"}, step=0)
        run.log({"loss": 0.2, "blob": huge}, step=1)
    err = capfd.readouterr().err
    assert err.count("max_text_length") == 1, err
    assert "'blob'" in err
    run_json = get_run(server, run.id)
    assert run_json["summary"] == {"loss": 0.2, "model": "gpt-4o"}
    lines = progress_lines(run.dir / "progress.jsonl")
    assert [line["values"] for line in lines] == [{"loss": 0.1}, {"loss": 0.2}]
    assert lines[0]["texts"] == {"model": "gpt-4o"} and "texts" not in lines[1]


def test_the_server_refuses_bad_texts_naming_the_field(server: ServerProcess) -> None:
    with server.client() as c:
        spec = c.get("/openapi.json").json()["components"]["schemas"]
        texts = spec["TextRow"]["prefixItems"][2]
        assert texts["additionalProperties"]["maxLength"] == 4_096
        assert texts["propertyNames"]["maxLength"] == 256
        run_id = c.post("/api/v1/runs", json={"project": "texts"}).json()["id"]
        seq = iter(range(1, 100))

        def send(texts: list[Any]) -> Any:
            body = {"producer": "t", "batch_seq": next(seq), "texts": texts}
            return c.post(f"/api/v1/runs/{run_id}/batches", json=body)

        assert send([[0, 1.0, {"k": "x" * 4_096}]]).status_code == 200
        over = send([[0, 1.0, {"k": "x" * 4_097}]])
        assert over.status_code == 422, over.text
        assert "max_text_length=4096" in over.json()["error"]["message"]
        assert over.json()["error"]["field"] == "$.texts[0].values.k"
        nul = send([[0, 1.0, {"k": "a\x00b"}]])
        assert nul.status_code == 400 and "$.texts[0]" in nul.text, nul.text
        assert send([[0, 1.0, {"": "x"}]]).status_code == 400
        assert send([[0, -1.0, {"k": "x"}]]).status_code == 400
        assert send([[0, 1.0, {"k": 3}]]).status_code == 400
        assert get_run(server, run_id)["summary"] == {"k": "x" * 4_096}


def test_plain_numbers_get_their_progress_lines_too(server: ServerProcess, tmp_path: Path) -> None:
    with runwatch.init(project="texts", url=server.url, run_dir=tmp_path / "run") as run:
        for step in range(5_000):
            run.log({"a": float(step), "b": 0.5}, step=step)
    lines = progress_lines(run.dir / "progress.jsonl")
    assert lines == [
        {"step": s, "ts": line["ts"], "values": {"a": float(s), "b": 0.5}}
        for s, line in zip(range(5_000), lines, strict=True)
    ]


def test_an_unwritable_progress_file_is_one_warning_and_the_run_goes_on(
    server: ServerProcess, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "progress.jsonl").mkdir(parents=True)  # a directory where the file would be
    with runwatch.init(project="texts", url=server.url, run_dir=run_dir) as run:
        for step in range(3):
            run.log({"loss": float(step), "model": "m"}, step=step)
            run.log({"other": float(step)}, step=step)
    err = capfd.readouterr().err
    assert err.count("progress.jsonl") == 1 and "no longer written" in err, err
    run_json = get_run(server, run.id)
    assert run_json["status"] == "succeeded"
    assert run_json["summary"] == {"loss": 2.0, "model": "m", "other": 2.0}


def test_text_values_on_a_postgres_backed_server(tmp_path: Path) -> None:
    with fresh_database() as pg_url:
        server = ServerProcess(tmp_path / "data", extra_args=["--store", pg_url]).start()
        try:
            with runwatch.init(project="texts", url=server.url, run_dir=tmp_path / "a") as run:
                run.log({"loss": 0.3, "model": "gpt-4o", "program_id": "p-17"}, step=5)
            with runwatch.init(project="texts", url=server.url, run_dir=tmp_path / "b") as other:
                other.log({"loss": 0.2, "model": "llama"}, step=5)
            summary = get_run(server, run.id)["summary"]
            with server.client() as c:
                params = {"q": 'summary.model == "gpt-4o"', "project": "texts"}
                found = c.get("/api/v1/runs", params=params).json()["runs"]
        finally:
            server.stop()
    assert summary == {"loss": 0.3, "model": "gpt-4o", "program_id": "p-17"}
    assert [r["id"] for r in found] == [run.id]
