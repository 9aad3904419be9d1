"""An AutoML sweep: trials with sampled hyperparameters, a live leaderboard table, and the
best score so far.

    python examples/automl_sweep.py --trials 30

The run page's leaderboard re-sorts as each trial lands; Cancel stops the sweep between trials.
"""

from __future__ import annotations

import argparse
import math
import random
import time

import runwatch


def score(lr: float, depth: int, dropout: float, rng: random.Random) -> float:
    """A made-up validation score with a known optimum (lr 3e-3, depth 6, dropout 0.2)."""
    return max(0.0, 0.95 - 0.08 * abs(math.log10(lr / 3e-3)) - 0.01 * abs(depth - 6)
               - 0.3 * abs(dropout - 0.2) + rng.gauss(0, 0.01))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--delay", type=float, default=0.02)
    args = parser.parse_args()
    rng = random.Random(1)
    board: list[dict[str, float | int]] = []
    with runwatch.init(project="automl", name="sweep", config=vars(args)) as run:
        best = -math.inf
        step = 0
        for trial in range(args.trials):
            params = {"lr": 10 ** rng.uniform(-4, -1), "depth": rng.randint(2, 10),
                      "dropout": round(rng.uniform(0, 0.5), 3)}  # fmt: skip
            final = score(params["lr"], params["depth"], params["dropout"], rng)
            for epoch in range(args.epochs):  # a learning curve towards the trial's final score
                run.log({"trial/val_score": final * (1 - math.exp(-(epoch + 1) / 3))}, step=step)
                step += 1
                if args.delay:
                    time.sleep(args.delay)  # pace the demo
            best = max(best, final)
            run.log({"best_score": best, "trial_score": final}, step=step - 1, vital=trial == 0)
            board.append({"trial": trial, **params, "score": round(final, 4)})
            board.sort(key=lambda row: -row["score"])
            run.table("leaderboard", board[:20])
            run.event("trial.done", entity=trial, score=round(final, 4), **params)
            if run.should_stop:
                break


if __name__ == "__main__":
    main()
