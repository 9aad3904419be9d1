"""An RL worker that knows nothing of runwatch: it writes TensorBoard event files and an offline
W&B run, as many existing training scripts do. Run it under the launcher and runwatch imports
both (TensorBoard scalars and W&B history become charts), captures its output, and owns its
lifecycle:

    runwatch launch --project rl --run-dir runs/ppo-1 -- python examples/rl_worker.py --episodes 200

(needs ``tensorboardX`` and ``wandb``; W&B runs offline and is never contacted.)
"""

from __future__ import annotations

import argparse
import math
import os
import random
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.02)
    args = parser.parse_args()
    os.environ.setdefault("WANDB_MODE", "offline")  # never talk to wandb.ai
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb
    from tensorboardX import SummaryWriter

    run_dir = Path(os.environ.get("RUNWATCH_RUN_DIR", "."))
    rng = random.Random(11)
    writer = SummaryWriter(str(run_dir / "tb"))
    wb = wandb.init(project="rl", dir=str(run_dir), config={"env": "CartPole-v1", "gamma": 0.99})
    for episode in range(args.episodes):
        ret = 200 * (1 - math.exp(-episode / 60)) + rng.gauss(0, 10)
        writer.add_scalar("episode/return", ret, episode)
        writer.add_scalar("episode/length", int(ret) + 10, episode)
        wb.log({"reward": ret, "epsilon": max(0.05, 1 - episode / 100)}, step=episode)
        if episode % 50 == 0:
            print(f"episode {episode}: return {ret:.1f}", flush=True)
            writer.flush()
        if args.delay:
            time.sleep(args.delay)  # pace the demo
    writer.close()
    wb.finish()
    print("done", flush=True)


if __name__ == "__main__":
    main()
