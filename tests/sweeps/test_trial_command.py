"""A trial's command line as W&B's agent builds it: the macros, checked against W&B's own
implementation (the installed ``wandb``), the default command, and what is refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

from runwatch.sweeps.trial_command import arguments, template, trial_argv

CONFIG: dict[str, Any] = {
    "lr": 0.001,
    "layers": 2,
    "amp": True,
    "ema": False,
    "act": "relu",
    "decay": None,
    "sizes": [16, 32],
    "opt": {"name": "adam", "beta": 0.9, "nesterov": True},
}


def test_every_args_macro_is_what_wandbs_agent_makes_of_the_configuration() -> None:
    """W&B's agent gets a trial's configuration as ``{key: {"value": v}}``, nested parameters
    as one dict per top-level key (its controller re-nests them): the same arguments here."""
    theirs = create_sweep_command_args({"args": {k: {"value": v} for k, v in CONFIG.items()}})
    ours = arguments(CONFIG)
    assert ours == {name: theirs[name] for name in ours}
    assert ours["args"][-1] == "--opt={'name': 'adam', 'beta': 0.9, 'nesterov': True}"
    assert ours["args_no_boolean_flags"][:3] == ["--lr=0.001", "--layers=2", "--amp"]


def test_the_default_command_runs_the_program_with_this_python_and_args() -> None:
    doc = {"program": "train.py", "command": None}
    parts = template(doc, None)
    assert parts == ["${env}", "${interpreter}", "${program}", "${args}"]
    with trial_argv(parts, {"lr": 0.1, "layers": 3}, "train.py") as argv:
        assert argv == ["/usr/bin/env", sys.executable, "train.py", "--lr=0.1", "--layers=3"]


def test_a_custom_command_expands_its_macros_and_keeps_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RW_OUT", "/data")
    monkeypatch.delenv("RW_UNSET", raising=False)
    doc = {
        "program": "train.py",
        "command": ["${env}", "python3", "${program}", "-b", 8, "${args_no_hyphens}",
                    "--out=${envvar:RW_OUT}/${envvar:RW_UNSET}", "${args_json}"],
    }  # fmt: skip
    with trial_argv(template(doc, None), {"x": 1, "y": "a b"}, "train.py") as argv:
        assert argv == [
            "/usr/bin/env", "python3", "train.py", "-b", "8", "x=1", "y=a b",
            "--out=/data/RW_UNSET", '{"x": 1, "y": "a b"}',
        ]  # fmt: skip


def test_the_args_json_file_holds_the_configuration_until_the_trial_ends() -> None:
    parts = ["cat", "${args_json_file}"]
    with trial_argv(parts, CONFIG, None) as argv:
        path = Path(argv[1])
        assert argv[0] == "cat" and json.loads(path.read_text()) == CONFIG
    assert not path.exists() and not path.parent.exists()


def test_the_agents_own_command_wins_and_expands_only_known_macros() -> None:
    doc = {"program": "train.py", "command": ["${env}", "${interpreter}", "${program}"]}
    own = ["python", "other.py", "${args}", "${unknown}", "$HOME"]
    with trial_argv(template(doc, own), {"x": 1}, "train.py") as argv:
        assert argv == ["python", "other.py", "--x=1", "${unknown}", "$HOME"]


@pytest.mark.parametrize(
    ("doc", "own", "message"),
    [
        ({}, None, "nothing to run: the sweep has neither a program nor a command"),
        ({"command": []}, None, "nothing to run: the sweep has neither a program nor a command"),
        ({"command": ["python", "${program}"]}, None,
         "the sweep's command uses ${program}, but the sweep has no program"),
        ({"command": ["python", "t.py"]}, ["python", "${program}"],
         "the agent's command uses ${program}, but the sweep has no program"),
    ],
)  # fmt: skip
def test_a_command_that_needs_a_program_the_sweep_lacks_is_refused(
    doc: dict[str, Any], own: list[str] | None, message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        template(doc, own)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
