"""The command line of a sweep's trial, built as W&B's agent builds it; ``runwatch agent`` and
the W&B shim's ``wandb.agent`` both run it.

The command is the sweep's ``command`` (W&B's default ``${env} ${interpreter} ${program}
${args}`` when it has none), or the agent's own (``runwatch agent ID -- …``). A part that is
exactly one macro becomes zero or more arguments:

- ``${env}``: ``/usr/bin/env`` (nothing on Windows); ``${interpreter}``: the Python running the
  agent (W&B's is ``python`` on the PATH); ``${program}``: the sweep's ``program``;
- ``${args}``: ``--key=value`` per parameter; ``${args_no_equals}``: ``--key value``;
  ``${args_no_hyphens}``: ``key=value``; ``${args_no_boolean_flags}``: ``--key`` for true,
  nothing for false, ``--key=value`` otherwise; ``${args_append_hydra}``: ``+key=value``;
  ``${args_override_hydra}``: ``++key=value``; ``${args_json}``: the configuration as one JSON
  argument; ``${args_json_file}``: the path of a file holding that JSON (removed once the
  trial ended).

A value is written as Python writes it (``True``, ``None``), as W&B's agent does; nested
parameters are one argument per top-level key, its value the nested dict as Python writes it
(``--opt={'lr': 0.1}``). ``${envvar:NAME}`` anywhere in a part is the agent's environment
variable ``NAME`` (``NAME`` itself when unset). Any other part is passed as it is.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runwatch.sweeps.spec import COMMAND_MACROS

DEFAULT_COMMAND = ("${env}", "${interpreter}", "${program}", "${args}")
ENVVAR = re.compile(r"\$\{envvar:([A-Z0-9_]*)\}")
PROGRAM = "${program}"


def template(doc: Mapping[str, Any], own: Sequence[str] | None) -> list[str]:
    """The command to expand for each trial of the sweep ``doc`` (its W&B configuration):
    ``own`` (the agent's) when given, else the sweep's ``command``, else W&B's default. A
    ``ValueError`` says why in one line when it needs the sweep's ``program`` and there is none
    (so a sweep with neither ``program`` nor ``command`` has nothing to run)."""
    given = doc.get("command")
    parts = list(own) if own else [str(part) for part in given or DEFAULT_COMMAND]
    if PROGRAM in parts and not doc.get("program"):
        if own:
            raise ValueError("the agent's command uses ${program}, but the sweep has no program")
        if given:
            raise ValueError("the sweep's command uses ${program}, but the sweep has no program")
        raise ValueError(
            "nothing to run: the sweep has neither a program nor a command; add `program:"
            " train.py` to the sweep file, or give the agent the trial's command"
            " (runwatch agent SWEEP_ID -- python train.py)"
        )
    return parts


def uses_arguments(parts: Sequence[str]) -> bool:
    """Whether the command passes the configuration as arguments (an ``${args…}`` macro)."""
    return any(part.startswith("${args") and part[2:-1] in COMMAND_MACROS for part in parts)


def arguments(params: Mapping[str, Any]) -> dict[str, list[str]]:
    """What each ``${args…}`` macro becomes for one trial's configuration."""
    pairs = [f"{key}={value}" for key, value in params.items()]
    return {
        "args": ["--" + pair for pair in pairs],
        "args_no_equals": [text for k, v in params.items() for text in (f"--{k}", str(v))],
        "args_no_hyphens": pairs,
        "args_no_boolean_flags": [
            f"--{k}" if v is True else f"--{k}={v}" for k, v in params.items() if v is not False
        ],
        "args_json": [json.dumps(dict(params))],
        "args_append_hydra": ["+" + pair for pair in pairs],
        "args_override_hydra": ["++" + pair for pair in pairs],
    }


def _expand(parts: Sequence[str], values: Mapping[str, list[str]]) -> list[str]:
    argv: list[str] = []
    for part in parts:
        name = part[2:-1] if part.startswith("${") and part.endswith("}") else None
        if name is not None and name in values:
            argv.extend(values[name])
        else:
            argv.append(ENVVAR.sub(lambda m: os.environ.get(m[1], m[1]), part))
    return argv


@contextmanager
def trial_argv(
    parts: Sequence[str], params: Mapping[str, Any], program: str | None
) -> Iterator[list[str]]:
    """The command line of one trial with configuration ``params``; the file of
    ``${args_json_file}``, when used, exists until the block ends."""
    values = arguments(params)
    values["env"] = [] if os.name == "nt" else ["/usr/bin/env"]
    values["interpreter"] = [sys.executable]
    values["program"] = [program] if program else []
    if "${args_json_file}" not in parts:
        yield _expand(parts, values)
        return
    with tempfile.TemporaryDirectory(prefix="runwatch-trial-") as scratch:
        path = Path(scratch) / "args.json"
        path.write_text(values["args_json"][0], encoding="utf-8")
        values["args_json_file"] = [str(path)]
        yield _expand(parts, values)
