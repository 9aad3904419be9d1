"""Each directory of event files is its own TensorBoard run: writers in subfolders of the logdir
(``tb/train``, ``tb/val``, ``add_scalars``' ``tb/grp_a``) get keys prefixed with that folder, as
TensorBoard names their runs, instead of being merged into one series per tag."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import runwatch
from runwatch.launcher.artifacts import ArtifactScanner
from tests.launcher.test_artifacts import launch
from tests.servers import ServerProcess

WORKER = textwrap.dedent("""
    import os
    import numpy as np
    from {module} import SummaryWriter

    tb = os.path.join(os.environ["RUNWATCH_RUN_DIR"], "tb")
    main = SummaryWriter(tb)
    tr = SummaryWriter(os.path.join(tb, "train"))
    va = SummaryWriter(os.path.join(tb, "val"))
    for s in range(3):
        main.add_scalar("lr", 0.5 * s, s)
        tr.add_scalar("loss", 1 + s, s)
        va.add_scalar("loss", 10 + s, s)
        main.add_scalars("grp", {{"a": 1 + s, "b": 2 + s}}, s)
        va.add_histogram("w", np.array([0.0, 1.0, 1.0, 2.0]) + s, s, bins=2)
        va.add_image("sample", np.full((3, 2, 2), 40 * s, dtype=np.uint8), s)
    for w in (main, tr, va):
        w.close()
""")


@pytest.mark.parametrize("module", ["torch.utils.tensorboard", "tensorboardX"])
def test_writers_in_subfolders_are_separate_series(
    server: ServerProcess, tmp_path: Path, module: str
) -> None:
    run_dir = tmp_path / "run"
    assert launch(server, run_dir, tmp_path, script=WORKER.format(module=module)) == 0
    # add_scalars' run per value: torch writes tb/grp_a/, tensorboardX tb/grp/a/
    group = "grp_{}/grp" if module.startswith("torch") else "grp/{}/grp"
    a, b = group.format("a"), group.format("b")
    with server.client() as c:
        run_id = c.get("/api/v1/runs", params={"project": "art"}).json()["runs"][0]["id"]
        keys = set(c.get(f"/api/v1/runs/{run_id}/state").json()["metrics"])
        series = c.get(
            f"/api/v1/runs/{run_id}/metrics",
            params={"keys": f"lr,train/loss,val/loss,{a},{b}"},
        ).json()["series"]
        hists = c.get(f"/api/v1/runs/{run_id}/histograms").json()["keys"]
        media = {k["key"]: k["count"] for k in c.get(f"/api/v1/runs/{run_id}/media").json()["keys"]}
    assert {"lr", "train/loss", "val/loss", a, b} <= keys
    assert not keys & {"loss", "grp"}
    want = {
        "lr": [0.0, 0.5, 1.0],
        "train/loss": [1.0, 2.0, 3.0],
        "val/loss": [10.0, 11.0, 12.0],
        a: [1.0, 2.0, 3.0],
        b: [2.0, 3.0, 4.0],
    }
    for key, values in want.items():
        assert series[key]["x"] == [0, 1, 2], key
        assert series[key]["value"] == values, key
    assert hists == {"val/w": 3}
    assert media == {"val/sample": 3}


def test_run_names_are_kept_when_other_directories_appear_later(tmp_path: Path) -> None:
    """A plain key stays plain when subfolders and other writers come later; a directory whose
    run name is taken gets its path from the run dir (``.`` for the run dir itself), numbered
    when that is taken too."""
    from torch.utils.tensorboard import SummaryWriter

    server = ServerProcess(tmp_path / "data").start()
    try:
        run_dir = tmp_path / "run"
        run = runwatch.init(project="runs", url=server.url, run_dir=run_dir)
        scanner = ArtifactScanner(run)
        writers = [SummaryWriter(str(run_dir / d)) for d in ("tb", "logs/other")]
        for step, writer in enumerate(writers):
            writer.add_scalar("loss", 1.0 + step, 0)
            writer.flush()
        scanner.import_scalars()
        later = [SummaryWriter(str(run_dir / d)) for d in ("", "other", "tb/eval")]
        for step, writer in enumerate(writers + later):
            writer.add_scalar("loss", 10.0 * step + 5, 1)
            writer.close()
        scanner.import_scalars()
        run.finish()
        with server.client() as c:
            series = c.get(
                f"/api/v1/runs/{run.id}/metrics",
                params={"keys": "loss,other/loss,./loss,other~2/loss,eval/loss"},
            ).json()["series"]
            keys = set(c.get(f"/api/v1/runs/{run.id}/state").json()["metrics"])
    finally:
        server.stop()
    assert {"loss", "other/loss", "./loss", "other~2/loss", "eval/loss"} <= keys
    got = {k: list(zip(s["x"], s["value"], strict=True)) for k, s in series.items()}
    assert got == {
        "loss": [(0, 1.0), (1, 5.0)],
        "other/loss": [(0, 2.0), (1, 15.0)],
        "./loss": [(1, 25.0)],
        "other~2/loss": [(1, 35.0)],
        "eval/loss": [(1, 45.0)],
    }
