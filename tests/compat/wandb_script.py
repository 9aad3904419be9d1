"""A training script written against W&B's public API (wandb.ai/ref/python), nothing else.

The tests run it twice, unchanged: with the real ``wandb`` (offline) and with
``runwatch.compat.wandb`` standing in for ``wandb``; both must record the same values.
"""

import math
import os

import wandb

run = wandb.init(
    project="shim",
    name="wandb-style",
    config={"lr": 0.01, "layers": 2},
    tags=["baseline", "shim"],
    group="sweep-1",
    notes="written for W&B",
    dir=os.environ.get("SCRIPT_DIR"),
)
wandb.config.update({"batch_size": 32, "level": "expert"})
wandb.config.optimizer = "adam"
assert wandb.config["lr"] == 0.01 and wandb.config.layers == 2
assert wandb.config.batch_size == 32

wandb.define_metric("epoch")
wandb.define_metric("val/*", step_metric="epoch")
wandb.define_metric("acc", summary="max")

for step in range(20):
    loss = 1.0 / (step + 1)
    wandb.log({"loss": loss, "acc": math.sin(step / 3.0)})
    if step % 5 == 4:
        epoch = step // 5
        wandb.log({"epoch": epoch, "val/loss": loss * 2, "val/acc": 0.5 + epoch / 10})

wandb.log({"train": {"grad_norm": 3.5}}, commit=False)
wandb.log({"lr_now": 0.005})

table = wandb.Table(columns=["trial", "score"], data=[[1, 0.5], [2, 0.75]])
table.add_data(3, 0.9)
wandb.log({"leaderboard": table})

wandb.alert(title="loss plateau", text="loss stopped falling", level=wandb.AlertLevel.WARN)
run.summary["best_trial"] = 3
print("RUN", run.id, run.name, run.url or "", flush=True)
wandb.finish()
