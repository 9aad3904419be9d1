"""Rules from a TOML file (``runwatch serve --rules rules.toml``): one ``[[rules]]`` per rule,
with the API's fields plus ``project``.

```toml
[[rules]]
project = "mnist"
name = "loss diverged"
condition = { type = "nonfinite", key = "loss" }
actions = [{ type = "event", level = "error" }, { type = "cancel" }]
```
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import msgspec

from runwatch.rules.spec import RuleIn


class RulesFileError(ValueError):
    """A rules file that cannot be used; the message names the file and the bad field."""


def load_rules_file(path: Path) -> list[tuple[str, RuleIn]]:
    """``(project, rule)`` pairs from ``path``; raise :class:`RulesFileError` naming the field."""
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RulesFileError(f"rules file {path}: {exc}") from None
    entries: Any = doc.get("rules", [])
    if not isinstance(entries, list):
        raise RulesFileError(f"rules file {path}: `rules` must be an array of tables ([[rules]])")
    out: list[tuple[str, RuleIn]] = []
    for i, entry in enumerate(entries):
        where = f"rules file {path}: rules[{i}]"
        if not isinstance(entry, dict):
            raise RulesFileError(f"{where}: must be a table")
        fields = dict(entry)
        project = fields.pop("project", None)
        if not isinstance(project, str) or not project.strip():
            raise RulesFileError(f"{where}.project: a project name is required")
        try:
            out.append((project, msgspec.convert(fields, RuleIn)))
        except msgspec.ValidationError as exc:
            raise RulesFileError(f"{where}: {exc}") from None
    return out
