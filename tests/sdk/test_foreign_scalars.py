"""Numbers and strings of other types than Python's (numpy's scalars, enums) are sent as
Python's, wherever the SDK takes them: a ``numpy.float64`` (a ``float`` subclass the JSON
encoder refuses) once stopped the sender's thread, losing everything logged after it."""

from __future__ import annotations

import enum
from pathlib import Path

import numpy as np

import runwatch
from tests.servers import ServerProcess


class Opt(enum.Enum):
    ADAM = "adam"


def test_numpy_scalars_reach_the_server_as_numbers_and_lose_nothing(
    server: ServerProcess, tmp_path: Path
) -> None:
    run = runwatch.init(
        project="np",
        url=server.url,
        run_dir=tmp_path,
        config={"lr": np.float64(0.1), "layers": np.int64(4), "opt": Opt.ADAM, "tag": np.str_("a")},
    )
    run.log({"a": 1.0}, step=0)
    run.event("scored", score=np.float64(0.5), label=np.str_("x"), ok=np.bool_(True))
    run.snapshot("weights", [np.float64(0.5), np.float32(0.25), np.array(1.5)])
    run.table("board", [{"entity": np.int64(7), "score": np.float64(0.75)}])
    run.points("embedding", [{"x": np.float64(0.5), "y": 1}])
    run.update_config({"best": np.float64(0.5)})
    run.log({"a": 2.0}, step=1)
    assert run.finish(timeout=30) is True
    with server.client() as c:
        base = f"/api/v1/runs/{run.id}"
        info = c.get(base).json()
        assert info["status"] == "succeeded"
        assert info["config"] == {
            "lr": 0.1, "layers": 4, "opt": "adam", "tag": "a", "best": 0.5,
        }  # fmt: skip
        events = c.get(f"{base}/events", params={"kind": "scored"}).json()["events"]
        assert [e["payload"] for e in events] == [{"score": 0.5, "label": "x", "ok": True}]
        snapshot = c.get(f"{base}/snapshots/weights").json()["current"]["value"]
        assert snapshot == [0.5, 0.25, 1.5]
        rows = c.get(f"{base}/tables/board").json()["rows"]
        assert rows == [{"entity": 7, "score": 0.75}]
        points = c.get(f"{base}/points/embedding").json()["points"]
        assert points == [{"x": 0.5, "y": 1}]
        series = c.get(f"{base}/metrics", params={"key": "a"}).json()["series"]["a"]
        assert series["x"] == [0, 1] and series["value"] == [1.0, 2.0]
