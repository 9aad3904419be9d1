"""Images and histograms of TensorBoard event files written by the real ``torch`` and
``tensorboardX`` writers, imported under ``runwatch launch`` and read back through the API:
the image bytes and the bin counts equal what TensorBoard's own reader finds in the files."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.util import tensor_util

import runwatch
from runwatch.launcher.artifacts import ArtifactScanner
from runwatch.launcher.tensorboard import EventFileTail
from tests.launcher.test_artifacts import launch
from tests.servers import ServerProcess

VALUES = [0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.0, 4.0]  # np.histogram(VALUES, 4): [1, 2, 2, 3]

WORKER = textwrap.dedent("""
    import os
    import numpy as np
    import torch
    from tensorboard.plugins.histogram.summary_v2 import histogram_pb
    from {module} import SummaryWriter

    writer = SummaryWriter(os.path.join(os.environ["RUNWATCH_RUN_DIR"], "tb"))
    rgb = torch.arange(2 * 3 * 4, dtype=torch.uint8).reshape(3, 2, 4) * 10  # CxHxW
    for step in range(3):
        writer.add_scalar("loss", 1.0 / (step + 1), step)
        writer.add_image("sample", rgb + step, step)
        writer.add_histogram("fixed", np.array({values}) + step, step, bins=4)
        writer.add_histogram("weights", torch.linspace(-1, 1, 101) * (step + 1), step)
    writer.add_images("batch", torch.rand(4, 3, 5, 6), 3)
    tf2 = histogram_pb("tf2", np.array({values}), buckets=4)  # TF2's tensor form
    if "{module}" == "tensorboardX":  # its own copy of the protobuf classes
        from tensorboardX.proto.summary_pb2 import Summary
        tf2 = Summary.FromString(tf2.SerializeToString())
    writer.file_writer.add_summary(tf2, 4)
    writer.close()
""")


def reference(run_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per tag and step, the encoded images and the (edges, counts) as TensorBoard's own
    reader finds them, unconverted (the first, empty, bucket of a HistogramProto only carries
    its left edge)."""
    images: dict[str, Any] = {}
    hists: dict[str, Any] = {}
    for path in sorted(run_dir.rglob("events.out.tfevents.*")):
        for raw in RawEventFileLoader(str(path)).Load():
            event = Event.FromString(raw)
            for v in event.summary.value:
                if v.HasField("image"):
                    images.setdefault(v.tag, {})[event.step] = v.image.encoded_image_string
                elif v.HasField("histo"):
                    assert v.histo.bucket[0] == 0
                    edges, counts = list(v.histo.bucket_limit), list(v.histo.bucket[1:])
                    hists.setdefault(v.tag, {})[event.step] = (edges, [int(c) for c in counts])
                elif v.metadata.plugin_data.plugin_name == "histograms":
                    rows = tensor_util.make_ndarray(v.tensor)
                    edges = [rows[0][0], *rows[:, 1]]
                    hists.setdefault(v.tag, {})[event.step] = (edges, rows[:, 2].astype(int))
    return images, hists


@pytest.mark.parametrize("module", ["torch.utils.tensorboard", "tensorboardX"])
def test_images_and_histograms_of_event_files_are_imported(
    server: ServerProcess, tmp_path: Path, module: str
) -> None:
    run_dir = tmp_path / "run"
    script = WORKER.format(module=module, values=VALUES)
    assert launch(server, run_dir, tmp_path, script=script) == 0
    want_images, want_hists = reference(run_dir)
    assert set(want_images) == {"sample", "batch"}
    assert set(want_hists) == {"fixed", "weights", "tf2"}
    with server.client() as c:
        run_id = c.get("/api/v1/runs", params={"project": "art"}).json()["runs"][0]["id"]
        keys = c.get(f"/api/v1/runs/{run_id}/media").json()["keys"]
        assert {k["key"]: k["count"] for k in keys} == {"sample": 3, "batch": 1}
        for tag, by_step in want_images.items():
            items = c.get(f"/api/v1/runs/{run_id}/media/{tag}").json()["items"]
            assert [i["step"] for i in items] == sorted(by_step)
            for item in items:
                blob = c.get(f"/api/v1/runs/{run_id}/blobs/{item['sha256']}")
                assert item["mime"] == "image/png" and blob.content == by_step[item["step"]]
        sample = c.get(f"/api/v1/runs/{run_id}/media/sample", params={"step": 2}).json()
        assert sample["item"]["step"] == 2
        blob = c.get(sample["item"]["url"]).content
        pixels = np.arange(24, dtype=np.uint8).reshape(3, 2, 4).transpose(1, 2, 0) * 10 + 2
        assert np.array_equal(np.array(Image.open(io.BytesIO(blob))), pixels)
        assert c.get(f"/api/v1/runs/{run_id}/histograms").json()["keys"] == {
            "fixed": 3, "weights": 3, "tf2": 1,
        }  # fmt: skip
        got = {
            tag: {
                s["step"]: (s["edges"], s["counts"])
                for s in c.get(f"/api/v1/runs/{run_id}/histograms/{tag}").json()["steps"]
            }
            for tag in want_hists
        }
    for tag, by_step in want_hists.items():
        assert set(got[tag]) == set(by_step), tag
        for step, (edges, counts) in by_step.items():
            assert got[tag][step][0] == pytest.approx(list(edges), abs=0, rel=1e-15), tag
            assert got[tag][step][1] == list(counts), (tag, step)
    for step in range(3):  # exact bins, independently of TensorBoard's reader
        counts, edges = np.histogram(np.array(VALUES) + step, bins=4)
        assert got["fixed"][step] == (edges.tolist(), counts.tolist())
    assert got["tf2"][4] == (np.linspace(0, 4, 5).tolist(), [1, 2, 2, 3])


def test_a_growing_event_file_imports_each_image_and_histogram_once(tmp_path: Path) -> None:
    """The scanner runs while the writer writes: each flush brings in only what is new."""
    from torch.utils.tensorboard import SummaryWriter

    server = ServerProcess(tmp_path / "data").start()
    try:
        run = runwatch.init(project="grow", url=server.url, run_dir=tmp_path / "run")
        scanner = ArtifactScanner(run)
        writer = SummaryWriter(str(tmp_path / "run" / "tb"))
        imported = []
        for step in range(4):
            writer.add_image("img", np.full((3, 2, 2), step * 40, dtype=np.uint8), step)
            writer.add_histogram("h", np.array(VALUES) * (step + 1), step, bins=4)
            writer.flush()
            imported.append(scanner.import_scalars())
        writer.close()
        imported.append(scanner.import_scalars())
        run.finish()
        with server.client() as c:
            items = c.get(f"/api/v1/runs/{run.id}/media/img").json()["items"]
            steps = c.get(f"/api/v1/runs/{run.id}/histograms/h").json()["steps"]
    finally:
        server.stop()
    assert imported == [2, 2, 2, 2, 0]
    assert [i["step"] for i in items] == [0, 1, 2, 3]
    assert [s["counts"] for s in steps] == [[1, 2, 2, 3]] * 4
    (path,) = (tmp_path / "run" / "tb").glob("events.out.tfevents.*")
    tail = EventFileTail(path)
    assert len(tail.read_records().images) == 4 and tail.read_records().images == []


def test_raw_histograms_and_image_tensors_are_read_as_tensorboard_means_them(
    tmp_path: Path,
) -> None:
    """TensorFlow's unbounded outer buckets (±DBL_MAX) end at the data's min and max; more than
    1,024 buckets are merged down to the server's cap; TF2's image tensor (width, height, then
    each image) gives one key per image."""
    from tensorboardX import SummaryWriter
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboardX.proto.tensor_pb2 import TensorProto

    dbl_max = float(np.finfo(np.float64).max)
    pngs = []
    for colour in (10, 200):
        out = io.BytesIO()
        Image.new("L", (2, 1), colour).save(out, format="PNG")
        pngs.append(out.getvalue())
    writer = SummaryWriter(str(tmp_path / "tb"))
    writer.add_histogram_raw(
        "tf", min=-1.5, max=2.5, num=7, sum=3.0, sum_squares=9.0,
        bucket_limits=[-1.0, 0.0, 1.0, dbl_max], bucket_counts=[1, 2, 3, 1], global_step=1,
    )  # fmt: skip
    writer.add_histogram_raw(
        "fine", min=0.0, max=2048.0, num=2048, sum=0.0, sum_squares=0.0,
        bucket_limits=list(range(2049)), bucket_counts=[0] + [1] * 2048, global_step=2,
    )  # fmt: skip
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="images"))
    tensor = TensorProto(dtype=7, string_val=[b"2", b"1", *pngs])  # DT_STRING
    writer.file_writer.add_summary(
        Summary(value=[Summary.Value(tag="tf2img", tensor=tensor, metadata=metadata)]), 3
    )
    writer.close()
    (path,) = (tmp_path / "tb").glob("events.out.tfevents.*")
    records = EventFileTail(path).read_records()
    assert records.scalars == []
    assert [(s, t, i) for s, _, t, i in records.images] == [
        (3, "tf2img/0", pngs[0]), (3, "tf2img/1", pngs[1]),
    ]  # fmt: skip
    hists = {tag: (step, edges, counts) for step, _, tag, edges, counts in records.histograms}
    assert hists["tf"] == (1, [-1.5, -1.0, 0.0, 1.0, 2.5], [1, 2, 3, 1])
    step, edges, counts = hists["fine"]
    assert (step, counts) == (2, [2] * 1024)
    assert edges == [float(e) for e in range(0, 2049, 2)]
