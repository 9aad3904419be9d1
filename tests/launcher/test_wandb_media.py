"""Images and histograms of an offline W&B run written by the real ``wandb``, imported under
``runwatch launch``: the image files' bytes and the exact bins read back through the API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from wandb.proto import wandb_internal_pb2 as pb

import runwatch
from runwatch.launcher.artifacts import ArtifactScanner
from runwatch.launcher.wandb_offline import FILE_HEADER
from tests.launcher.test_artifacts import launch
from tests.launcher.test_wandb_offline import records_of, write_run_file
from tests.servers import ServerProcess

SEQUENCE = [0, 1, 1, 2, 2, 2, 3]
WORKER = textwrap.dedent(f"""
    import os
    import numpy as np
    import wandb

    run = wandb.init(
        project="media", dir=os.environ["RUNWATCH_RUN_DIR"],
        settings=wandb.Settings(x_disable_stats=True),
    )
    rgb = np.arange(18, dtype=np.uint8).reshape(2, 3, 3)
    for step in range(3):
        wandb.log({{"loss": 1.0 / (step + 1), "pic": wandb.Image(rgb + step, caption=f"s{{step}}")}})
    wandb.log({{
        "h": wandb.Histogram({SEQUENCE}, num_bins=3),
        "g": wandb.Histogram(np_histogram=([4, 0, 6], [0.0, 1.0, 2.0, 3.0])),
        "big": wandb.Histogram(np.random.default_rng(0).normal(size=1000), num_bins=64),
    }})
    wandb.log({{"batch": [wandb.Image(rgb), wandb.Image(rgb + 1)], "x": 2.0}})
    run.finish()
""")


def test_images_and_histograms_of_an_offline_wandb_run_are_imported(
    server: ServerProcess, tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    assert launch(server, run_dir, tmp_path, script=WORKER) == 0
    (files,) = run_dir.glob("wandb/offline-run-*/files")
    with server.client() as c:
        run_id = c.get("/api/v1/runs", params={"project": "art"}).json()["runs"][0]["id"]
        keys = c.get(f"/api/v1/runs/{run_id}/media").json()["keys"]
        assert {k["key"]: k["count"] for k in keys} == {
            "wandb/pic": 3, "wandb/batch/0": 1, "wandb/batch/1": 1,
        }  # fmt: skip
        pics = c.get(f"/api/v1/runs/{run_id}/media/wandb/pic").json()["items"]
        assert [(i["step"], i["caption"]) for i in pics] == [(0, "s0"), (1, "s1"), (2, "s2")]
        for item in pics:  # the bytes of the file W&B wrote for that step
            (written,) = files.glob(f"media/images/pic_{item['step']}_*.png")
            assert c.get(item["url"]).content == written.read_bytes()
        batch = [
            c.get(f"/api/v1/runs/{run_id}/media/wandb/batch/{i}").json()["items"][0]
            for i in range(2)
        ]
        written_batch = {p.read_bytes() for p in files.glob("media/images/batch_4_*.png")}
        assert [b["step"] for b in batch] == [4, 4]
        assert {c.get(b["url"]).content for b in batch} == written_batch
        hist = {
            key: c.get(f"/api/v1/runs/{run_id}/histograms/{key}").json()["steps"]
            for key in c.get(f"/api/v1/runs/{run_id}/histograms").json()["keys"]
        }
        series = c.get(f"/api/v1/runs/{run_id}/metrics").json()["series"]
    assert set(hist) == {"wandb/h", "wandb/g", "wandb/big"}
    counts, edges = np.histogram(SEQUENCE, bins=3)
    ((h,),) = [hist["wandb/h"]]
    assert (h["step"], h["counts"], h["edges"]) == (3, counts.tolist(), edges.tolist())
    ((g,),) = [hist["wandb/g"]]
    assert (g["counts"], g["edges"]) == ([4, 0, 6], [0.0, 1.0, 2.0, 3.0])
    counts, edges = np.histogram(np.random.default_rng(0).normal(size=1000), bins=64)
    ((big,),) = [hist["wandb/big"]]
    assert big["counts"] == counts.tolist() and big["edges"] == edges.tolist()
    # W&B's fields of an image (pic/width, batch/count, …) are not metrics
    assert set(series) == {"wandb/loss", "wandb/x"}


ESCAPE = textwrap.dedent("""
    import sys
    import numpy as np
    import wandb

    run = wandb.init(project="media", dir=sys.argv[1], settings=wandb.Settings(x_disable_stats=True))
    for step in range(2):
        wandb.log({"pic": wandb.Image(np.full((2, 2, 3), step, dtype=np.uint8))})
    wandb.log({"h": wandb.Histogram([1, 2, 2, 3], num_bins=2)})
    run.finish()
""")


def _key(item: pb.HistoryItem) -> str:
    return "/".join(item.nested_key) or item.key


def test_an_image_path_out_of_the_run_is_refused_and_a_whole_object_histogram_is_read(
    server: ServerProcess, tmp_path: Path
) -> None:
    """A history row naming an image outside the run directory is reported, never read; a
    histogram written as one JSON object (older W&B) reads as the flattened one does."""
    work = tmp_path / "wandb-work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWATCH_", "WANDB_"))}
    done = subprocess.run(
        [sys.executable, "-c", ESCAPE, str(work)], capture_output=True, text=True, timeout=300,
        env={**env, "WANDB_MODE": "offline", "WANDB_SILENT": "true"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (run_file,) = work.glob("wandb/offline-run-*/run-*.wandb")
    recoded, changed = [], []
    for payload in records_of(run_file):
        record = pb.Record()
        record.ParseFromString(payload)
        if record.WhichOneof("record_type") == "history":
            items = record.history.item
            step = next(json.loads(i.value_json) for i in items if _key(i) == "_step")
            for item in items:
                if list(item.nested_key) == ["pic", "path"] and step == 1:
                    item.value_json = json.dumps("../../../../../../../../etc/hostname")
                    changed.append("path")
            parts = {
                i.nested_key[1]: json.loads(i.value_json) for i in items if len(i.nested_key) == 2
            }
            if parts.get("_type") == "histogram":
                del items[:]
                items.add(key="h", value_json=json.dumps(parts))
                items.add(key="_step", value_json=str(step))
                changed.append("histogram")
        recoded.append(record.SerializeToString())
    assert changed == ["path", "histogram"]
    run_dir = tmp_path / "run"
    target = run_dir / "wandb" / run_file.parent.name
    shutil.copytree(run_file.parent, target)
    write_run_file(target / run_file.name, run_file.read_bytes()[:FILE_HEADER], recoded)
    run = runwatch.init(project="escape", url=server.url, run_dir=run_dir)
    ArtifactScanner(run).import_scalars()
    run.finish()
    with server.client() as c:
        items = c.get(f"/api/v1/runs/{run.id}/media/wandb/pic").json()["items"]
        (h,) = c.get(f"/api/v1/runs/{run.id}/histograms/wandb/h").json()["steps"]
        events = c.get(f"/api/v1/runs/{run.id}/events", params={"kind": "artifact.invalid"})
    assert [i["step"] for i in items] == [0]
    (event,) = events.json()["events"]
    assert "etc/hostname" in event["payload"]["problem"]
    assert (h["step"], h["counts"], h["edges"]) == (2, [1, 3], [1.0, 2.0, 3.0])
