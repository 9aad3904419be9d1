"""``runwatch demo``: the server plus synthetic runs that exercise every widget of the dashboard."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import sys
import threading
import time
from pathlib import Path

import numpy as np

from runwatch.sdk.run import Run, init
from runwatch.server.serve import bind, serve_socket
from runwatch.server.settings import Settings
from runwatch.tokens import auth_configured

ENTITY_EVENTS = ("birth", "merge", "split", "deprecate", "reject")
MAX_PICTURED_ENTITY = 3

# Watch rules for the Alerts page: the seeded "lr-too-high" run diverges, and the live run's
# throughput dips every ~12 s (at most one alert a minute).
DEMO_RULES = """\
[[rules]]
project = "demo"
name = "loss diverged"
condition = { type = "nonfinite", key = "train/loss" }
actions = [{ type = "event", level = "error" }]

[[rules]]
project = "demo"
name = "slow steps"
condition = { type = "threshold", key = "perf/throughput", op = "below", value = 1680, points = 3 }
cooldown = 60
"""

# A run template for the New-run form: this module as a worker (see ``main``).
DEMO_TEMPLATES = """\
[templates.synthetic]
description = "A synthetic training run like the demo's live one"
project = "demo"
command = [{python}, "-m", "runwatch.demo", "--steps", "{{steps}}", "--seed", "{{seed}}"]

[templates.synthetic.params.steps]
type = "int"
min = 10
max = 100000
default = 600
help = "steps to log, 20 a second"

[templates.synthetic.params.seed]
type = "int"
min = 0
max = 1000
default = 1
"""


def synthetic_step(step: int, rng: random.Random, total: int = 20_000) -> dict[str, float]:
    """One step of a plausible training run: falling noisy loss with rare spikes, and friends."""
    progress = step / total
    loss = 2.5 * math.exp(-5 * progress) + 0.05 + rng.gauss(0, 0.03)
    if rng.random() < 0.004:
        loss *= rng.uniform(2, 4)  # a spike: charts must keep it visible
    warmup = min(1.0, step / 500)
    return {
        "train/loss": loss,
        "train/acc": min(0.99, 0.1 + 0.9 * (1 - math.exp(-6 * progress)) + rng.gauss(0, 0.01)),
        "train/lr": 3e-4 * warmup * 0.5 * (1 + math.cos(math.pi * progress)),
        "perf/throughput": 1800 + 150 * math.sin(step / 40) + rng.gauss(0, 40),
    }


class SyntheticSearch:
    """A population of entities (births, merges, deprecations), a leaderboard, an embedding
    and a footprint snapshot: everything the run page shows, driven by one random stream."""

    def __init__(self, run: Run, seed: int) -> None:
        self.run = run
        self.rng = random.Random(seed)
        self.next_entity = 1
        self.alive: dict[int, float] = {}
        run.on_command("deprecate", self.deprecate)

    def deprecate(self, payload: dict[str, object]) -> None:
        """The dashboard's Deprecate action: drop the entity and say so in the feed."""
        entity = payload.get("entity")
        if not isinstance(entity, int | str):
            raise ValueError("deprecate needs an entity id")
        if isinstance(entity, int):
            self.alive.pop(entity, None)
        self.run.event("deprecate", entity=entity, level="warning", reason="deprecated from the UI")

    def structural(self) -> None:
        rng = self.rng
        kind = "birth" if len(self.alive) < 4 else rng.choice(ENTITY_EVENTS)
        if kind == "birth":
            self.alive[self.next_entity] = rng.random()
            self.run.event("birth", entity=self.next_entity, size=rng.randint(4, 64))
            self.next_entity += 1
            return
        entity = rng.choice(list(self.alive))
        if kind in ("deprecate", "reject", "merge"):
            del self.alive[entity]
        level = "warning" if kind == "reject" else "info"
        self.run.event(kind, entity=entity, level=level, reason=f"score {rng.random():.3f}")

    def panels(self, step: int) -> None:
        rng = self.rng
        for entity in self.alive:
            self.alive[entity] = min(1.0, self.alive[entity] + rng.uniform(-0.02, 0.05))
        board = [
            {"entity": e, "score": round(score, 4), "age": step, "lr": 3e-4 * rng.random()}
            for e, score in sorted(self.alive.items(), key=lambda kv: -kv[1])
        ]
        self.run.table("leaderboard", board)
        centers = [(math.cos(c * 1.3) * 4, math.sin(c * 1.3) * 4) for c in range(5)]
        points = [
            {
                "x": cx + rng.gauss(0, 0.8),
                "y": cy + rng.gauss(0, 0.8),
                "cluster": c,
                "label": f"s{i}",
            }
            for i in range(600)
            for c, (cx, cy) in [(i % 5, centers[i % 5])]
        ]
        self.run.points("embedding", points, replace=True)
        width = 1 + step / 2000
        self.run.snapshot(
            "footprint", [round(math.exp(-(((k - 16) / (4 * width)) ** 2)), 4) for k in range(32)]
        )
        self.media(step)

    def media(self, step: int) -> None:
        """Images, a heatmap, a label map of the living entities (a click on one targets it)
        and two distributions, each a little further along at every call: the Media tab's
        sliders have steps to scrub."""
        rng = np.random.default_rng(self.rng.randrange(2**32))
        progress = min(1.0, step / 6000)
        y, x = np.mgrid[0:64, 0:64] / 63.0
        # A sample that sharpens as the run trains: stripes under noise that fades.
        clean = np.stack([x, 0.5 + 0.5 * np.sin(12 * y + step / 200), 1 - x], axis=-1)
        noisy = clean + rng.normal(0, 0.5 * (1 - progress) + 0.02, clean.shape)
        self.run.image("samples/generated", np.clip(noisy, 0, 1), step=step, caption=f"step {step}")
        # Attention: a blob drifting across the grid.
        cx, cy = 0.5 + 0.35 * math.cos(step / 400), 0.5 + 0.35 * math.sin(step / 400)
        self.run.image("attention/map", np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 0.02), step=step)
        entities = list(self.alive)
        if entities:
            # Each living entity owns a vertical band; 0 is the background.
            bands = (x * len(entities)).astype(int).clip(0, len(entities) - 1)
            labels = np.where(y > 0.2, np.asarray(entities)[bands], 0).astype(np.int32)
            self.run.image("segmentation/entities", labels, step=step, labels=True)
            # The first few entities have pictures of their own (a key each, which their
            # drawers list); not every entity, or a long demo would grow keys without end.
            for entity in (e for e in entities if e <= MAX_PICTURED_ENTITY):
                tint = np.array([self.alive[entity], 0.4, 1 - self.alive[entity]])
                noise = rng.normal(0, 0.05, (32, 32, 3))
                crop = np.clip(clean[16:48, 16:48] * tint + noise, 0, 1)
                self.run.image(f"entities/{entity}", crop, step=step, entity=entity)
        self.run.histogram("weights/layer1", rng.normal(0, 1 - 0.7 * progress, 4096), step=step)
        self.run.histogram(
            "grads/layer1", rng.standard_t(3, 4096) * (1 - 0.5 * progress), step=step
        )


def produce(run: Run, steps: int, rate: float, seed: int = 0) -> None:
    """Log ``steps`` steps (0: forever) at about ``rate`` steps/s, with an event every few
    seconds and the panels refreshed every two; stop when cancelled from the dashboard."""
    search = SyntheticSearch(run, seed)
    rng = random.Random(seed)
    step = 0
    while (steps == 0 or step < steps) and not run.should_stop:
        values = synthetic_step(step, rng)
        run.log({k: v for k, v in values.items() if k != "perf/throughput"}, step=step)
        run.log({"perf/throughput": values["perf/throughput"]}, step=step, vital=True)
        if step % int(rate * 3) == 0:
            search.structural()
        if step % int(rate * 2) == 0:
            search.panels(step)
        if step and step % int(rate * 20) == 0:
            run.event("checkpoint", path=f"checkpoints/step-{step}.pt")
        step += 1
        time.sleep(1 / rate)  # pacing the synthetic producer, not synchronisation
    run.finish()


def _seed_history(url: str) -> None:
    """Two finished runs, so the runs list shows more than one status (and the compare page
    their images beside the live run's)."""
    for name, failing in (("baseline", False), ("lr-too-high", True)):
        run = init(project="demo", name=name, url=url, config={"lr": 3e-3 if failing else 3e-4})
        rng = random.Random(name)
        search = SyntheticSearch(run, seed=len(name))
        for step in range(400):
            values = synthetic_step(step, rng, total=400)
            if failing and step > 300:
                values["train/loss"] = math.nan if step > 380 else values["train/loss"] * step / 50
            run.log(values, step=step)
            if step % 100 == 0:
                search.media(step)
        run.finish(
            "failed" if failing else "succeeded", error="loss became NaN" if failing else None
        )


def _demo_files(settings: Settings) -> Settings:
    """Watch rules (always the demo's own file) and a run template (unless the data dir has
    templates of its own), so the Alerts page and the New-run form have something to show."""
    data = Path(settings.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    rules = data / "demo-rules.toml"
    rules.write_text(DEMO_RULES)
    templates = data / "runwatch.toml"
    if settings.templates is None and not templates.exists():
        # A JSON string is a valid TOML basic string: the interpreter's path, quoted.
        templates.write_text(DEMO_TEMPLATES.format(python=json.dumps(sys.executable)))
    return dataclasses.replace(settings, rules_file=rules)


def run_demo(settings: Settings, steps: int) -> None:
    """Serve, and stream a synthetic run into the server until interrupted."""
    settings.check_bind(auth_configured(settings.data_dir, settings.token))
    settings = _demo_files(settings)
    sock = bind(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    url = f"http://{host}:{port}"

    def producer() -> None:
        _seed_history(url)
        config = {"lr": 3e-4, "batch_size": 128, "model": {"depth": 12, "width": 768}}
        run = init(project="demo", name="synthetic-live", url=url, config=config, tags=["demo"])
        print(f"runwatch demo: live run at {url}/runs/{run.id}", flush=True)
        produce(run, steps, rate=20.0)

    threading.Thread(target=producer, name="runwatch-demo", daemon=True).start()
    serve_socket(settings, sock)


def main(argv: list[str] | None = None) -> None:
    """``python -m runwatch.demo``: one synthetic run (the demo template's worker; under
    ``runwatch launch`` it attaches to the launched run)."""
    parser = argparse.ArgumentParser(prog="python -m runwatch.demo")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run = init(project="demo", name=f"synthetic-{args.seed}", config=vars(args))
    produce(run, args.steps, rate=20.0, seed=args.seed)


if __name__ == "__main__":
    main()
