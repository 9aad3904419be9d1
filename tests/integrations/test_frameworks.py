"""Framework hooks with the real frameworks on CPU: the HF Trainer callback, and the PyTorch example.

Models are tiny and built from configs in code (nothing is downloaded).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import missing
from tests.servers import ServerProcess, wait_until


@pytest.fixture(autouse=True)
def frameworks() -> None:
    """The `test` extra installs torch (CPU) and transformers; in CI their absence fails."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        missing("torch and transformers (pip install -e '.[test]')")


EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"

TRAINER_SCRIPT = """
import json, os, sys
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
from runwatch.integrations.transformers import RunwatchCallback

FAIL_AT = int(sys.argv[2])


class Tiny(BertForSequenceClassification):
    calls = 0

    def forward(self, *args, **kwargs):
        Tiny.calls += 1
        if FAIL_AT and Tiny.calls > FAIL_AT:
            raise RuntimeError("the GPU caught fire (on purpose)")
        return super().forward(*args, **kwargs)


class Data(torch.utils.data.Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return {"input_ids": torch.randint(0, 50, (8,), generator=g), "labels": torch.tensor(i % 2)}


torch.manual_seed(0)
config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                    intermediate_size=32, max_position_embeddings=16, num_labels=2)
args = TrainingArguments(output_dir=sys.argv[1], max_steps=10, num_train_epochs=1, logging_steps=2,
                         per_device_train_batch_size=8,
                         report_to="none", save_strategy="no", use_cpu=True, run_name="tiny-bert",
                         disable_tqdm=True, remove_unused_columns=False)
trainer = Trainer(model=Tiny(config), args=args, train_dataset=Data(),
                  callbacks=[RunwatchCallback(project="hf")])
trainer.train()
with open(os.path.join(sys.argv[1], "log_history.json"), "w") as f:
    json.dump(trainer.state.log_history, f)  # what the Trainer logged, for the test to compare
"""


def run_trainer(
    server: ServerProcess, tmp_path: Path, fail_at: int
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(TRAINER_SCRIPT))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWATCH_", "WANDB_"))}
    env.update(RUNWATCH_URL=server.url, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path / "out"), str(fail_at)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def the_run(c: httpx.Client, project: str, status: str) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        runs = c.get("/api/v1/runs", params={"project": project}).json()["runs"]
        return runs[0] if runs and runs[0]["status"] == status else None

    run: dict[str, Any] = wait_until(ended, 60, what=f"a {status} run")
    return run


def test_the_trainer_callback_logs_the_trainers_metrics(
    server: ServerProcess, tmp_path: Path
) -> None:
    done = run_trainer(server, tmp_path, fail_at=0)
    assert done.returncode == 0, done.stderr[-3000:]
    # Every entry the Trainer logged, at its step: what the callback must have sent.
    logged: dict[str, tuple[list[int], list[float]]] = {}
    for entry in json.loads((tmp_path / "out" / "log_history.json").read_text()):
        for key, value in entry.items():
            if key != "step":
                steps, values = logged.setdefault(key, ([], []))
                steps.append(entry["step"])
                values.append(value)
    assert logged["loss"][0] == [2, 4, 6, 8, 10] and logged["learning_rate"][0] == [2, 4, 6, 8, 10]
    with server.client() as c:
        run = the_run(c, "hf", "succeeded")
        series = c.get(
            f"/api/v1/runs/{run['id']}/metrics", params={"keys": ",".join(logged)}
        ).json()["series"]
        events = c.get(f"/api/v1/runs/{run['id']}/events").json()["events"]
    # A chart keeps one point a step, the one logged last (the Trainer logs epoch twice at 10).
    charted = {
        key: dict(zip(steps, values, strict=True)) for key, (steps, values) in logged.items()
    }
    assert {key: dict(zip(s["x"], s["value"], strict=True)) for key, s in series.items()} == charted
    assert all(s["x"] == sorted(set(s["x"])) for s in series.values())
    assert run["name"] == "tiny-bert"
    assert run["config"]["training_args"]["max_steps"] == 10
    assert run["config"]["model"]["hidden_size"] == 16
    assert [(e["kind"], e["payload"]) for e in events if e["kind"].startswith("train.")] == [
        ("train.begin", {"max_steps": 10, "epochs": 1.0}),
        ("train.end", {"global_step": 10}),
    ]


def test_an_exception_in_training_marks_the_run_failed(
    server: ServerProcess, tmp_path: Path
) -> None:
    done = run_trainer(server, tmp_path, fail_at=5)
    assert done.returncode == 1 and "the GPU caught fire" in done.stderr
    with server.client() as c:
        run = the_run(c, "hf", "failed")
        loss = c.get(f"/api/v1/runs/{run['id']}/metrics", params={"keys": "loss"}).json()["series"][
            "loss"
        ]
    assert "RuntimeError: the GPU caught fire (on purpose)" in run["error"]
    assert loss["x"] == [2, 4]  # what was logged before the failure is kept


def test_the_pytorch_example_trains_on_cpu(server: ServerProcess, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    env["RUNWATCH_URL"] = server.url
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "pytorch_train.py"), "--epochs", "4"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    with server.client() as c:
        run = the_run(c, "pytorch", "succeeded")
        series = c.get(
            f"/api/v1/runs/{run['id']}/metrics",
            params={"keys": "train/loss,val/acc,epoch", "max_points": 1000},
        ).json()["series"]
        params = {"kind": "epoch.end"}
        epoch_ends = c.get(f"/api/v1/runs/{run['id']}/events", params=params).json()["events"]
    assert series["train/loss"]["x"] == list(range(4 * 32))  # 2048 / 64 steps per epoch
    losses = series["train/loss"]["value"]
    assert sum(losses[-32:]) < sum(losses[:32])  # the last epoch's loss is below the first's
    assert series["val/acc"]["x"] == series["epoch"]["x"] == [31, 63, 95, 127]  # each epoch's end
    assert series["epoch"]["value"] == [0, 1, 2, 3]
    val_acc = series["val/acc"]["value"]
    assert all(0 <= v <= 1 for v in val_acc)
    # Each epoch's event carries the accuracy its metric has (rounded to 4 places).
    assert [(e["entity"], e["payload"]["val_acc"]) for e in epoch_ends] == [
        (epoch, round(v, 4)) for epoch, v in enumerate(val_acc)
    ]
