"""W&B's sweeps quickstart (docs: Guides > Sweeps > Tutorial: define, initialize, and run a
sweep), with the objective computed instead of a model trained.
"""

import wandb


# 1: Define objective/training function
def objective(config):
    score = config.x**3 + config.y
    return score


def main():
    wandb.init(project="wandb-example-sweep")
    score = objective(wandb.config)
    wandb.log({"score": score})


# 2: Define the search space
sweep_configuration = {
    "method": "grid",
    "metric": {"goal": "minimize", "name": "score"},
    "parameters": {
        "x": {"values": [1, 2, 3]},
        "y": {"values": [10, 20]},
        "opt": {"value": "adam"},
    },
}

# 3: Start the sweep
sweep_id = wandb.sweep(sweep=sweep_configuration, project="wandb-example-sweep")

wandb.agent(sweep_id, function=main, count=10)
