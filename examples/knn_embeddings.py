"""A KNN embedding producer: it refines 2-D embeddings of clustered items and republishes the
whole point set each round (``replace=True``), with each point's nearest-neighbour purity.

    python examples/knn_embeddings.py --rounds 50

The run page's scatter redraws each round; colours are clusters, labels are item names.
"""

from __future__ import annotations

import argparse
import math
import random
import time

import runwatch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--clusters", type=int, default=5)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--delay", type=float, default=0.1)
    args = parser.parse_args()
    rng = random.Random(5)
    centres = [(math.cos(2 * math.pi * c / args.clusters) * 4, math.sin(2 * math.pi * c / args.clusters) * 4)
               for c in range(args.clusters)]  # fmt: skip
    items = [(i, i % args.clusters) for i in range(args.items)]
    pos = {i: [rng.uniform(-6, 6), rng.uniform(-6, 6)] for i, _ in items}
    with runwatch.init(project="embeddings", name="knn", config=vars(args)) as run:
        for rnd in range(args.rounds):
            for i, cluster in items:  # move each item a little towards its cluster's centre
                cx, cy = centres[cluster]
                pos[i][0] += 0.15 * (cx - pos[i][0]) + rng.gauss(0, 0.2)
                pos[i][1] += 0.15 * (cy - pos[i][1]) + rng.gauss(0, 0.2)
            purity = _knn_purity(items, pos, args.k)
            run.points("embedding", [
                {"x": pos[i][0], "y": pos[i][1], "cluster": c, "label": f"item-{i}"} for i, c in items
            ], replace=True)  # fmt: skip
            run.log({"knn_purity": purity}, step=rnd, vital=rnd == 0)
            if run.should_stop:
                break
            if args.delay:
                time.sleep(args.delay)  # pace the demo


def _knn_purity(items: list[tuple[int, int]], pos: dict[int, list[float]], k: int) -> float:
    """The share of each item's k nearest neighbours that are in its own cluster."""
    same = 0
    for i, cluster in items:
        nearest = sorted(items, key=lambda it: math.dist(pos[i], pos[it[0]]))[1 : k + 1]
        same += sum(1 for _, c in nearest if c == cluster)
    return same / (len(items) * k)


if __name__ == "__main__":
    main()
