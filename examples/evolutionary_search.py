"""An evolutionary search (a (mu, lambda) strategy on the Rastrigin function): population
fitness per generation and the best-so-far trajectory, with an event at each improvement.

    python examples/evolutionary_search.py --generations 200
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time

import runwatch


def rastrigin(x: list[float]) -> float:
    return 10 * len(x) + sum(v * v - 10 * math.cos(2 * math.pi * v) for v in x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generations", type=int, default=200)
    parser.add_argument("--population", type=int, default=40)
    parser.add_argument("--dims", type=int, default=5)
    parser.add_argument("--delay", type=float, default=0.02)
    args = parser.parse_args()
    rng = random.Random(3)
    parents = [[rng.uniform(-5, 5) for _ in range(args.dims)] for _ in range(args.population // 4)]
    sigma = 1.0
    best, best_x = math.inf, parents[0]
    with runwatch.init(project="evolution", name="es-rastrigin", config=vars(args)) as run:
        for gen in range(args.generations):
            children = [[v + rng.gauss(0, sigma) for v in rng.choice(parents)]
                        for _ in range(args.population)]  # fmt: skip
            scored = sorted((rastrigin(c), c) for c in children)
            parents = [c for _, c in scored[: len(parents)]]
            fitness = [f for f, _ in scored]
            if fitness[0] < best:
                best, best_x = fitness[0], scored[0][1]
                run.event("new_best", generation=gen, fitness=round(best, 5))
            sigma = max(0.02, sigma * 0.985)
            run.log({"best_so_far": best, "gen/best": fitness[0],
                     "gen/median": statistics.median(fitness), "sigma": sigma},
                    step=gen, vital=gen == 0)  # fmt: skip
            run.points(
                "population", [{"x": c[0], "y": c[1], "label": f"{f:.2f}"} for f, c in scored]
            )
            if run.should_stop:
                break
            if args.delay:
                time.sleep(args.delay)  # pace the demo
        run.event("result", x=[round(v, 4) for v in best_x], fitness=best)


if __name__ == "__main__":
    main()
