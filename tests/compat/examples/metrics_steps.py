"""W&B's "log metrics at different steps" example (docs: Guides > Track > Log > Customize log
axes, and "Log data at different time scales"), with synthetic values.

Train metrics are logged every step, validation metrics every fifth step against their own
x-axis (``define_metric``); a row is built over several ``log(..., commit=False)`` calls and
committed with ``wandb.log()`` alone.
"""

import wandb

wandb.init(project="wandb-example-steps")

# define our custom x axis metric
wandb.define_metric("train/step")
# set all other train/ metrics to use this step
wandb.define_metric("train/*", step_metric="train/step")
wandb.define_metric("val/step")
wandb.define_metric("val/*", step_metric="val/step")

for i in range(20):
    log_dict = {"train/step": i, "train/loss": 1.0 / (i + 1)}
    wandb.log(log_dict, commit=False)
    if i % 5 == 4:
        wandb.log({"val/step": i // 5, "val/loss": 2.0 / (i + 1)}, commit=False)
    # commit the row built above at this step
    wandb.log()

# the same with an empty dict
wandb.log({"last": 1.0}, commit=False)
wandb.log({})
wandb.finish()
