"""Sweep configurations: W&B's schema accepted, a bad one refused naming the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runwatch.sweeps import SweepError, parse_sweep
from runwatch.sweeps.files import load_sweep_file
from runwatch.sweeps.space import grid_size, point, random_point

WANDB_EXAMPLE = """
program: train.py
method: random
name: sweep
metric:
  goal: minimize
  name: val_loss
run_cap: 20
early_terminate:
  type: hyperband
  min_iter: 3
  eta: 2
parameters:
  batch_size:
    values: [16, 32, 64]
  lr:
    distribution: log_uniform_values
    min: 0.0001
    max: 0.1
  epochs:
    value: 5
  dropout:
    distribution: q_uniform
    min: 0.0
    max: 0.5
    q: 0.1
  layers:
    min: 1
    max: 4
  noise:
    distribution: normal
    mu: 0
    sigma: 2
  optimizer:
    parameters:
      name:
        values: [adam, sgd]
        probabilities: [0.25, 0.75]
      momentum:
        min: 0.5
        max: 0.9
"""


def test_the_wandb_yaml_example_parses_with_every_key(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(WANDB_EXAMPLE)
    spec = load_sweep_file(path)
    assert spec.method == "random" and spec.run_cap == 20
    assert (spec.metric.name, spec.metric.goal) == ("val_loss", "minimize")  # type: ignore[union-attr]
    assert spec.early_terminate == {"type": "hyperband", "min_iter": 3, "eta": 2}
    kinds = {p.name: p.kind for p in spec.params}
    assert kinds == {
        "batch_size": "categorical", "lr": "log_uniform_values", "epochs": "constant",
        "dropout": "q_uniform", "layers": "int_uniform", "noise": "normal",
        "optimizer.name": "categorical", "optimizer.momentum": "uniform",
    }  # fmt: skip
    configs = [random_point(spec, 7, i) for i in range(200)]
    assert configs == [random_point(spec, 7, i) for i in range(200)]  # a pure function of i
    for c in configs:
        assert c["batch_size"] in (16, 32, 64) and c["epochs"] == 5
        assert 1e-4 <= c["lr"] <= 0.1 and c["layers"] in (1, 2, 3, 4)
        assert c["dropout"] in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
        assert 0.5 <= c["optimizer"]["momentum"] <= 0.9
    names = [c["optimizer"]["name"] for c in configs]
    assert 100 < names.count("sgd") < 190  # probabilities 0.25 / 0.75 over 200 draws


def test_json_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({"method": "grid", "parameters": {"x": {"values": [1, 2]}}}))
    assert grid_size(load_sweep_file(path)) == 2


def test_a_grid_walks_every_point_once_in_order() -> None:
    spec = parse_sweep({
        "method": "grid",
        "parameters": {
            "x": {"values": [1, 2, 3]},
            "n": {"distribution": "int_uniform", "min": 0, "max": 1},
            "q": {"distribution": "q_uniform", "min": 0.0, "max": 0.2, "q": 0.1},
            "nested": {"parameters": {"opt": {"value": "adam"}}},
        },
    })  # fmt: skip
    assert grid_size(spec) == 18
    points = [point(spec, 0, i) for i in range(18)]
    assert len({json.dumps(p, sort_keys=True) for p in points}) == 18
    assert points[0] == {"x": 1, "n": 0, "q": 0.0, "nested": {"opt": "adam"}}
    assert points[1]["q"] == 0.1 and points[17] == {
        "x": 3,
        "n": 1,
        "q": 0.2,
        "nested": {"opt": "adam"},
    }


def rand(param: dict[str, Any]) -> dict[str, Any]:
    return {"method": "random", "parameters": {"x": param}}


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ([], ""),
        ({"parameters": {"x": {"value": 1}}}, "method"),
        ({"method": "anneal", "parameters": {"x": {"value": 1}}}, "method"),
        ({"method": "grid"}, "parameters"),
        ({"method": "grid", "parameters": {}}, "parameters"),
        ({"method": "grid", "metod": 1, "parameters": {"x": {"value": 1}}}, "metod"),
        ({"method": "grid", "parameters": {"x": 3}}, "parameters.x"),
        ({"method": "grid", "parameters": {"x": {}}}, "parameters.x"),
        ({"method": "grid", "parameters": {"x": {"valeus": [1]}}}, "parameters.x.valeus"),
        ({"method": "grid", "parameters": {"x": {"values": []}}}, "parameters.x.values"),
        (rand({"distribution": "zipf"}), "parameters.x.distribution"),
        (rand({"distribution": "uniform", "min": 0}), "parameters.x.max"),
        (rand({"min": 2, "max": 1}), "parameters.x.max"),
        (rand({"min": "a", "max": 1}), "parameters.x.min"),
        (rand({"distribution": "int_uniform", "min": 0.5, "max": 3}),
         "parameters.x.min"),
        (rand({"distribution": "log_uniform_values", "min": 0, "max": 1}),
         "parameters.x.min"),
        (rand({"distribution": "normal", "sigma": -1}), "parameters.x.sigma"),
        (rand({"values": [1, 2], "probabilities": [0.5]}),
         "parameters.x.probabilities"),
        ({"method": "random", "parameters": {"o": {"parameters": {"lr": {"mn": 1}}}}},
         "parameters.o.parameters.lr.mn"),
        ({"method": "random", "run_cap": 0, "parameters": {"x": {"value": 1}}}, "run_cap"),
        ({"method": "random", "metric": {"goal": "minimize"}, "parameters": {"x": {"value": 1}}},
         "metric.name"),
        ({"method": "random", "metric": {"name": "l", "goal": "lowest"}, "parameters": {"x": {"value": 1}}},
         "metric.goal"),
        ({"method": "random", "metric": {"name": "l"}, "early_terminate": {"type": "median"},
          "parameters": {"x": {"value": 1}}}, "early_terminate.type"),
        ({"method": "random", "metric": {"name": "l"}, "early_terminate": {"type": "hyperband"},
          "parameters": {"x": {"value": 1}}}, "early_terminate.min_iter"),
        ({"method": "random", "early_terminate": {"type": "hyperband", "min_iter": 3},
          "parameters": {"x": {"value": 1}}}, "metric"),
        ({"method": "bayes", "parameters": {"x": {"value": 1}}}, "metric"),
        ({"method": "grid", "command": "python train.py", "parameters": {"x": {"value": 1}}},
         "command"),
        ({"method": "grid", "command": ["${env}", "${arg}"], "parameters": {"x": {"value": 1}}},
         "command[1]"),
        ({"method": "grid", "command": ["python", {"a": 1}], "parameters": {"x": {"value": 1}}},
         "command[1]"),
    ],
)  # fmt: skip
def test_a_bad_configuration_is_refused_naming_the_key(doc: Any, key: str) -> None:
    with pytest.raises(SweepError) as caught:
        parse_sweep(doc)
    assert caught.value.key == key
    assert "\n" not in str(caught.value)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("param", "key"),
    [
        ({"min": NAN, "max": 1}, "parameters.x.min"),
        ({"min": 0, "max": INF}, "parameters.x.max"),
        ({"values": [1, -INF]}, "parameters.x.values[1]"),
        ({"value": NAN}, "parameters.x.value"),
        ({"values": [{"a": [NAN]}]}, "parameters.x.values[0].a[0]"),
        ({"parameters": {"lr": {"min": 0, "max": INF}}}, "parameters.x.parameters.lr.max"),
        ({"parameters": {"lr": {"value": NAN}}}, "parameters.x.parameters.lr.value"),
    ],
)
def test_a_non_finite_number_anywhere_is_refused_naming_its_key(
    param: dict[str, Any], key: str
) -> None:
    with pytest.raises(SweepError) as caught:
        parse_sweep({"method": "random", "parameters": {"ok": {"value": 1}, "x": param}})
    assert caught.value.key == key and "must be a finite number" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_grid_over_a_continuous_parameter_names_it() -> None:
    spec = parse_sweep({"method": "grid", "parameters": {"lr": {"min": 0.1, "max": 1.0}}})
    with pytest.raises(SweepError) as caught:
        grid_size(spec)
    assert caught.value.key == "parameters.lr" and "grid search needs" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("bad.yaml", "method: grid\nparameters: [unclosed\n", "line 3"),
        ("bad.json", "{", "not valid JSON"),
        ("typo.yaml", "method: grid\nparameters:\n  x:\n    vals: [1]\n", "parameters.x.vals"),
        # Checked before the server is asked, as it would be there.
        (
            "grid.yaml",
            "method: grid\nparameters:\n  lr:\n    min: 0.1\n    max: 1\n",
            "parameters.lr: grid search needs",
        ),
        (
            "fine.yaml",
            "method: grid\nparameters:\n  lr:\n    distribution: q_uniform\n"
            "    min: 0\n    max: 1\n    q: 1.0e-300\n",
            "parameters.lr: a grid from 0 to 1",
        ),
    ],
)
def test_a_bad_file_is_one_line_naming_the_file(
    tmp_path: Path, name: str, text: str, says: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SweepError) as caught:
        load_sweep_file(path)
    message = str(caught.value)
    assert str(path) in message and says in message and "\n" not in message
