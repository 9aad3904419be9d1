"""``wandb.Image`` and ``wandb.Histogram`` through the shim: a W&B script's images and
histograms land as runwatch media at the row's step, read back through the HTTP API."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from runwatch.launcher.wandb_offline import WandbRunTail
from tests.compat.test_wandb_shim import _env, run_with_shim
from tests.servers import ServerProcess, wait_until

SCRIPT = """
import numpy as np
import torch
from PIL import Image
import wandb

run = wandb.init(project="shim-media")
rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
for step in range(3):
    wandb.log({{"loss": 1.0 / (step + 1), "pic": wandb.Image(rgb + step, caption=f"s{{step}}")}})
wandb.log({{"grey": wandb.Image(np.array([[0.0, 127.9], [255.0, 300.0]]))}}, commit=False)
wandb.log({{"weights": wandb.Histogram([0, 1, 1, 2, 2, 2, 3], num_bins=3)}})
wandb.log({{"given": wandb.Histogram(np_histogram=([4, 0, 6], [0.0, 1.0, 2.0, 3.0]))}}, step=7)  # pending
wandb.log({{"file": wandb.Image({path!r}), "chw": wandb.Image(torch.zeros(3, 2, 2) + 9.5)}})
wandb.log({{"batch": [wandb.Image(Image.new("RGB", (4, 1), (9, 8, 7))), wandb.Image(rgb)]}})
wandb.log({{"bad": wandb.Image("no-such.png"), "odd": wandb.Image(np.zeros((2, 2, 7))), "x": 1.0}})
wandb.finish()
print("RUN", run.id)
"""


def test_images_and_histograms_logged_through_the_shim_are_runwatch_media(
    server: ServerProcess, tmp_path: Path
) -> None:
    png = io.BytesIO()
    Image.new("RGB", (5, 3), (200, 100, 50)).save(png, format="PNG")
    path = tmp_path / "sample.png"
    path.write_bytes(png.getvalue())
    script = tmp_path / "media.py"
    script.write_text(SCRIPT.format(path=str(path)))
    done = run_with_shim(server, script, tmp_path)
    run_id = done.stdout.split("RUN ", 1)[1].strip()
    assert "wandb.Image could not take its input (FileNotFoundError" in done.stderr
    assert "run.image('odd') was skipped" in done.stderr
    with server.client() as c:
        wait_until(
            lambda: c.get(f"/api/v1/runs/{run_id}").json()["status"] == "succeeded",
            what="the run to finish",
        )
        keys = c.get(f"/api/v1/runs/{run_id}/media").json()["keys"]
        assert {k["key"]: k["count"] for k in keys} == {
            "pic": 3, "grey": 1, "file": 1, "chw": 1, "batch/0": 1, "batch/1": 1,
        }  # fmt: skip

        def items(key: str) -> list[dict[str, object]]:
            r = c.get(f"/api/v1/runs/{run_id}/media/{key}")
            assert r.status_code == 200, r.text
            return list(r.json()["items"])

        def pixels(item: dict[str, object]) -> np.ndarray:  # type: ignore[type-arg]
            r = c.get(f"/api/v1/runs/{run_id}/blobs/{item['sha256']}")
            assert r.status_code == 200 and r.headers["content-type"] == item["mime"]
            return np.array(Image.open(io.BytesIO(r.content)))

        pics = items("pic")
        assert [(i["step"], i["caption"]) for i in pics] == [(0, "s0"), (1, "s1"), (2, "s2")]
        rgb = np.arange(18, dtype=np.uint8).reshape(2, 3, 3)
        for i in pics:
            assert np.array_equal(pixels(i), rgb + i["step"])  # type: ignore[operator]
        (grey,) = items("grey")
        # as W&B: values taken as 0..255 and cast (clipped past it); one greyscale PNG
        assert grey["step"] == 3 and grey["kind"] == "image"
        assert pixels(grey).tolist() == [[0, 127], [255, 255]]
        (file,) = items("file")
        r = c.get(f"/api/v1/runs/{run_id}/blobs/{file['sha256']}")
        assert file["step"] == 7 and r.content == png.getvalue()  # the file's own bytes
        (chw,) = items("chw")
        assert (chw["width"], chw["height"]) == (2, 2)
        assert pixels(chw).tolist() == [[[9] * 3] * 2] * 2
        (pil,) = items("batch/0")
        assert pil["step"] == 8 and pixels(pil).tolist() == [[[9, 8, 7]] * 4]
        assert np.array_equal(pixels(items("batch/1")[0]), rgb)

        hist_keys = c.get(f"/api/v1/runs/{run_id}/histograms").json()["keys"]
        assert hist_keys == {"weights": 1, "given": 1}
        (w,) = c.get(f"/api/v1/runs/{run_id}/histograms/weights").json()["steps"]
        counts, edges = np.histogram([0, 1, 1, 2, 2, 2, 3], bins=3)
        assert (w["step"], w["counts"], w["edges"]) == (3, counts.tolist(), edges.tolist())
        (g,) = c.get(f"/api/v1/runs/{run_id}/histograms/given").json()["steps"]
        assert (g["step"], g["counts"], g["edges"]) == (7, [4, 0, 6], [0.0, 1.0, 2.0, 3.0])
        x = c.get(f"/api/v1/runs/{run_id}/metrics").json()["series"]["x"]
        assert x["x"] == [9.0]  # the row with a refused image still logs its numbers


PARITY = """
import os
import numpy as np
import torch
from PIL import Image
import wandb

run = wandb.init(project="parity", dir=os.environ["SCRIPT_DIR"])
rng = np.random.default_rng(0)
torch.manual_seed(0)
wandb.log({
    "rgb": wandb.Image(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)),
    "unit": wandb.Image(rng.random((3, 4, 3))),
    "grey": wandb.Image(np.array([[0.0, 0.5], [1.0, 0.25]])),
    "mode": wandb.Image(rng.integers(0, 256, (3, 2), dtype=np.uint8), mode="RGB"),
    "wide": wandb.Image(rng.random((2, 3, 3)) * 200.0),
    "chw": wandb.Image(torch.rand(3, 4, 2) * 255),
    "pil": wandb.Image(Image.new("RGB", (4, 1), (9, 8, 7))),
})
wandb.log({
    "normal": wandb.Histogram(rng.normal(size=500)),
    "coarse": wandb.Histogram(list(range(10)), num_bins=4),
    "ints": wandb.Histogram(np.array([3, 3, 3])),
    "given": wandb.Histogram(np_histogram=np.histogram(rng.random(50), bins=5)),
})
run.finish()
print("RUN", run.id)
"""


def test_the_shim_records_the_pixels_and_bins_real_wandb_records(
    server: ServerProcess, tmp_path: Path
) -> None:
    """The same script under the real ``wandb`` (offline): its image files' pixels and its
    histograms' bins equal what the shim sent to runwatch."""
    script = tmp_path / "parity.py"
    script.write_text(PARITY)
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    env = _env(WANDB_MODE="offline", WANDB_SILENT="true", SCRIPT_DIR=str(real_dir))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr
    (run_file,) = real_dir.glob("wandb/offline-run-*/run-*.wandb")
    tail = WandbRunTail(run_file)
    tail.read_new()
    real = {key: value for _, _, key, value in tail.take_media()}
    (tmp_path / "shim-run").mkdir()
    shim = run_with_shim(server, script, tmp_path)
    run_id = shim.stdout.split("RUN ", 1)[1].strip()
    with server.client() as c:
        wait_until(
            lambda: c.get(f"/api/v1/runs/{run_id}").json()["status"] == "succeeded",
            what="the run to finish",
        )
        images = {"rgb", "unit", "grey", "mode", "wide", "chw", "pil"}
        assert {k for k, v in real.items() if v["_type"] == "image-file"} == images
        for key in sorted(images):
            (item,) = c.get(f"/api/v1/runs/{run_id}/media/{key}").json()["items"]
            ours = np.array(Image.open(io.BytesIO(c.get(item["url"]).content)))
            theirs = np.array(Image.open(run_file.parent / "files" / real[key]["path"]))
            assert ours.shape == theirs.shape and np.array_equal(ours, theirs), key
        for key in ("normal", "coarse", "ints", "given"):
            (got,) = c.get(f"/api/v1/runs/{run_id}/histograms/{key}").json()["steps"]
            assert got["step"] == 1, key
            assert got["counts"] == real[key]["values"], key
            assert got["edges"] == pytest.approx(real[key]["bins"], rel=1e-12), key


WATCH = """
import os
import torch
import wandb

run = wandb.init(project="watch", dir=os.environ["SCRIPT_DIR"])
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
head = torch.nn.Linear(1, 1)
wandb.watch(model, log="all", log_freq=2)
wandb.watch(head, log="gradients", log_freq=3)
wandb.watch(model)  # already watched: nothing more
opt = torch.optim.SGD([*model.parameters(), *head.parameters()], lr=0.1)
x, y = torch.randn(8, 3), torch.randn(8, 1)
for step in range(7):
    opt.zero_grad()
    loss = ((head(model(x)) - y) ** 2).mean()
    loss.backward()
    opt.step()
    wandb.log({"loss": loss.item()})
    if step == 4:
        wandb.unwatch(head)
run.finish()
print("RUN", run.id)
"""


def test_watch_logs_the_gradients_and_parameters_real_wandb_logs(
    server: ServerProcess, tmp_path: Path
) -> None:
    """``wandb.watch`` under the shim: the same keys at the same steps as under the real
    ``wandb`` (offline), and each histogram counts every element of its tensor."""
    script = tmp_path / "watch.py"
    script.write_text(WATCH)
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    env = _env(WANDB_MODE="offline", WANDB_SILENT="true", SCRIPT_DIR=str(real_dir))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr
    (run_file,) = real_dir.glob("wandb/offline-run-*/run-*.wandb")
    tail = WandbRunTail(run_file)
    tail.read_new()
    real: dict[str, list[int]] = {}
    for step, _, key, _value in tail.take_media():
        real.setdefault(key, []).append(step)
    (tmp_path / "shim-run").mkdir()
    shim = run_with_shim(server, script, tmp_path)
    run_id = shim.stdout.split("RUN ", 1)[1].strip()
    sizes = {"0.weight": 12, "0.bias": 4, "2.weight": 4, "2.bias": 1}
    expected = {
        f"{kind}/{name}": [1, 3, 5] for kind in ("gradients", "parameters") for name in sizes
    }
    expected |= {"gradients/graph_1weight": [2], "gradients/graph_1bias": [2]}  # unwatched at 4
    assert {k: sorted(v) for k, v in real.items()} == expected
    with server.client() as c:
        wait_until(
            lambda: c.get(f"/api/v1/runs/{run_id}").json()["status"] == "succeeded",
            what="the run to finish",
        )
        keys = c.get(f"/api/v1/runs/{run_id}/histograms").json()["keys"]
        assert keys == {key: len(steps) for key, steps in expected.items()}
        for key, steps in expected.items():
            got = c.get(f"/api/v1/runs/{run_id}/histograms/{key}").json()["steps"]
            assert [h["step"] for h in got] == steps, key
            name = key.split("/", 1)[1]
            size = sizes.get(name, 1)
            assert all(sum(h["counts"]) == size for h in got), key
