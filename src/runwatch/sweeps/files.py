"""Reading a sweep file: JSON, or YAML when PyYAML is installed (it comes with the server extra)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from runwatch.sweeps.space import space_size
from runwatch.sweeps.spec import SweepError, SweepSpec, parse_sweep

MAX_FILE_BYTES = 1024 * 1024


def _yaml(text: str, path: Path) -> Any:
    try:
        yaml = importlib.import_module("yaml")
    except ModuleNotFoundError:
        raise SweepError(
            "",
            f"{path}: reading YAML needs PyYAML (pip install 'runwatch[server]'); or write it as JSON",
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SweepError("", f"{path}:{where}: not valid YAML: {problem}") from None


def read_sweep_doc(path: Path) -> Any:
    """The document in a sweep file (``.json``: JSON; otherwise YAML, of which JSON is a part)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SweepError("", f"{path}: over {MAX_FILE_BYTES:,} bytes; not a sweep file")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepError("", f"cannot read {path}: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise SweepError("", f"{path}: not valid JSON: {exc}") from None
    return _yaml(text, path)


def load_sweep_file(path: Path) -> SweepSpec:
    """A checked sweep configuration from a file; :class:`SweepError` says what is wrong,
    naming the file and the key."""
    doc = read_sweep_doc(path)
    try:
        spec = parse_sweep(doc)
        space_size(spec)  # a grid's parameters are discrete and countable, as the server checks
        return spec
    except SweepError as exc:
        raise SweepError(exc.key, exc.message, str(path)) from None
