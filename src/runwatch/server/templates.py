"""Run templates: operator-declared command lines with typed parameters (``--templates FILE``).

A template is a name, a description, a command given as a list of argv elements with
placeholders (``"{lr}"``, or inside an element: ``"--lr={lr}"``) and typed parameters. A
submitted value is validated against its type before anything runs, and a placeholder is only
ever replaced inside its own argv element: no shell sees it, so ``; rm -rf /`` or ``$(…)`` stay
inert text, and they are refused anyway by the types:

- ``int`` / ``float``: a JSON number (not a bool, not a string) within ``min``/``max``;
- ``choice``: one of ``choices``; ``requires`` may make a choice depend on a check the server
  runs (``{module = "torchvision"}``: importable by the server's Python; ``{path = "models/x"}``:
  exists, relative to the templates file): a choice whose check fails is listed as
  ``unavailable`` (the form shows it disabled, "(install required)") and refused on submit;
- ``string``: fullmatches ``pattern``, at most ``max_length`` characters, no control
  characters, and never starts with ``-`` unless ``allow_leading_dash = true`` (a value that
  lands in its own argv element could otherwise be read as a flag: ``--config=/etc/passwd``);
- ``file``: a relative path to a regular file inside the parameter's ``dir`` (no absolute
  paths, no ``..``, no symlink out of it); the command gets its absolute path. With
  ``uploads = true`` it also offers the files uploaded to the server (``POST /api/v1/uploads``,
  kept in ``<data dir>/uploads``), as values ``@uploads/NAME``, listed first.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import msgspec

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
TYPES = ("int", "float", "choice", "string", "file")
STRING_MAX = 4096  # ceiling on any string parameter's max_length
FILES_LISTED = 1000  # files of a file parameter's dir offered to the form
MAX_TEMPLATES = 200
INT_MAX = 2**63 - 1  # what the stores keep as an integer
UPLOADED = "@uploads/"  # a file parameter's value naming an uploaded file
MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")  # top level: checking imports nothing


class TemplateError(ValueError):
    """A template file that cannot be used; the message says where and why."""


class ParamError(ValueError):
    """A submitted value that its parameter refuses; ``name`` is the parameter."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


class Requirement(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """What a choice needs on the server: an importable module, and/or an existing path."""

    module: str | None = None
    path: str | None = None

    def missing(self) -> str | None:
        """Why the requirement is not met (None when it is): checked on every listing."""
        if self.module is not None and importlib.util.find_spec(self.module) is None:
            return f"module {self.module!r} is not installed"
        if self.path is not None and not os.path.exists(self.path):
            return f"{self.path} does not exist"
        return None


class Param(msgspec.Struct, omit_defaults=True):
    """One typed parameter of a template (as ``GET /api/v1/templates`` shows it)."""

    name: str
    type: str
    label: str = ""
    help: str = ""
    default: Any = None
    min: int | float | None = None
    max: int | float | None = None
    choices: list[Any] = []
    pattern: str | None = None
    max_length: int = 200
    allow_leading_dash: bool = False
    dir: str | None = None
    files: list[str] = []
    requires: dict[str, Requirement] = {}
    unavailable: list[Any] = []  # listed: the choices whose requirement is not met
    uploads: bool = False
    uploaded: list[str] = []  # listed: the uploaded files' values (``@uploads/NAME``)
    uploads_dir: str | None = None  # set by load_templates; never listed

    def missing(self, choice: Any) -> str | None:
        """Why ``choice`` is unavailable on this server, or None."""
        requirement = self.requires.get(str(choice))
        return requirement.missing() if requirement is not None else None

    def validate(self, value: Any) -> Any:
        """The value to store for ``value``, or :class:`ParamError`."""
        if value is None:
            raise ParamError(self.name, "a value is required")
        if self.type in ("int", "float"):
            return self._number(value)
        if self.type == "choice":
            # Same type and value: True is not 1, "1" is not 1.
            if not any(type(value) is type(c) and value == c for c in self.choices):
                shown = ", ".join(str(c) for c in self.choices)
                raise ParamError(self.name, f"must be one of: {shown}")
            return value
        if not isinstance(value, str):
            raise ParamError(self.name, "must be a string")
        if self.type == "file":
            self.resolve_file(value)
            return value
        return self._string(value)

    def _number(self, value: Any) -> int | float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParamError(self.name, f"must be a number ({self.type})")
        if isinstance(value, int) and abs(value) > INT_MAX:  # JSON ints are unbounded
            raise ParamError(self.name, f"must be within ±{INT_MAX}")
        if not math.isfinite(value):
            raise ParamError(self.name, "must be a finite number")
        if self.type == "int" and (isinstance(value, float) and not value.is_integer()):
            raise ParamError(self.name, "must be a whole number")
        number: int | float = int(value) if self.type == "int" else float(value)
        if self.min is not None and number < self.min:
            raise ParamError(self.name, f"must be at least {_num(self.min)}")
        if self.max is not None and number > self.max:
            raise ParamError(self.name, f"must be at most {_num(self.max)}")
        return number

    def _string(self, value: str) -> str:
        if len(value) > self.max_length:
            raise ParamError(self.name, f"must be at most {self.max_length} characters")
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ParamError(self.name, "must not contain control characters")
        if value.startswith("-") and not self.allow_leading_dash:
            raise ParamError(self.name, "must not start with '-' (it could be read as a flag)")
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            raise ParamError(self.name, f"must match the pattern {self.pattern}")
        return value

    def resolve_file(self, value: str) -> Path:
        """The absolute path of a file parameter's value, refusing anything outside its dir."""
        root_dir = self.dir
        if value.startswith(UPLOADED):
            if self.uploads_dir is None:
                raise ParamError(self.name, "takes no uploaded files")
            root_dir, value = self.uploads_dir, value.removeprefix(UPLOADED)
        assert root_dir is not None
        root = Path(root_dir).resolve()
        if not value or value.startswith(("/", "\\")) or Path(value).is_absolute():
            raise ParamError(self.name, "must be a path relative to the data dir")
        if ".." in Path(value).parts or "\x00" in value:
            raise ParamError(self.name, "must not contain '..'")
        path = (root / value).resolve()
        if not path.is_relative_to(root):
            raise ParamError(self.name, "must stay inside the data dir (a symlink leads out)")
        if not path.is_file():
            raise ParamError(self.name, f"no file {value!r} in the data dir")
        return path

    def listed(self) -> Param:
        """A copy for the API: a file parameter lists the files of its dir (sorted, capped)
        and the uploaded ones; a choice says which choices are unavailable (its checks run
        now). Server paths and the checks themselves are not shown."""
        if self.type == "choice" and self.requires:
            unavailable = [c for c in self.choices if self.missing(c) is not None]
            return msgspec.structs.replace(self, requires={}, unavailable=unavailable)
        if self.type != "file" or self.dir is None:
            return self
        uploaded = []
        if self.uploads_dir is not None and os.path.isdir(self.uploads_dir):
            uploaded = [UPLOADED + f for f in list_files(Path(self.uploads_dir))]
        files = list_files(Path(self.dir))
        return msgspec.structs.replace(
            self, files=files, dir=None, uploaded=uploaded, uploads_dir=None
        )


class Template(msgspec.Struct, omit_defaults=True):
    """A run template: how to start one kind of run from the dashboard."""

    name: str
    command: list[str]
    params: list[Param]
    description: str = ""
    project: str = "default"
    cwd: str | None = None

    def param(self, name: str) -> Param | None:
        """The parameter called ``name``, if the template has one."""
        return next((p for p in self.params if p.name == name), None)

    def validate(self, values: dict[str, Any]) -> dict[str, Any]:
        """Every parameter's checked value (defaults filled in); :class:`ParamError` otherwise."""
        for name in values:
            if self.param(name) is None:
                raise ParamError(name, f"template {self.name!r} has no parameter {name!r}")
        out: dict[str, Any] = {}
        for p in self.params:
            out[p.name] = p.validate(values.get(p.name, p.default))
            why = p.missing(out[p.name]) if p.type == "choice" else None
            if why is not None:  # checked now, not at load: a default may need an install too
                raise ParamError(p.name, f"{out[p.name]!r} is unavailable here ({why})")
        return out

    def argv(self, params: dict[str, Any]) -> list[str]:
        """The command with each placeholder replaced inside its own element (never a shell)."""

        def value(match: re.Match[str]) -> str:
            p = self.param(match.group(1))
            assert p is not None
            v = params[p.name]
            if p.type == "file":
                return str(p.resolve_file(v))
            return _num(v) if isinstance(v, int | float) and not isinstance(v, bool) else str(v)

        return [PLACEHOLDER.sub(value, element) for element in self.command]


def _num(v: float) -> str:
    """A number as its argv text: ``3``, ``0.001``, ``1e-05``."""
    return str(v) if isinstance(v, int) else repr(v)


def list_files(root: Path) -> list[str]:
    """Regular files under ``root`` (relative, sorted; symlinks leading out left out)."""
    base = root.resolve()
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or not path.resolve().is_relative_to(base):
                continue
            found.append(str(path.relative_to(base)))
            if len(found) >= FILES_LISTED:
                return found
    return found


def load_templates(path: Path, uploads_dir: Path | None = None) -> dict[str, Template]:
    """Read a TOML templates file; :class:`TemplateError` names what is wrong and where.
    ``uploads_dir`` is where uploaded files are kept (file parameters with ``uploads = true``
    offer them)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TemplateError(f"cannot read templates from {path}: {exc}") from None
    declared = data.get("templates", {})
    if not isinstance(declared, dict) or len(declared) > MAX_TEMPLATES:
        raise TemplateError(f"{path}: [templates.NAME] tables expected (at most {MAX_TEMPLATES})")
    base = path.resolve().parent
    templates = {name: _template(name, spec, base, path) for name, spec in declared.items()}
    for template in templates.values():
        for param in template.params:
            if param.uploads and uploads_dir is not None:
                param.uploads_dir = str(uploads_dir)
    return templates


def _template(name: str, spec: Any, base: Path, path: Path) -> Template:
    where = f"{path}: template {name!r}"
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name) or not isinstance(spec, dict):
        raise TemplateError(f"{where}: names are 1-64 of A-Z a-z 0-9 _ . -, each a table")
    command = spec.get("command")
    if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
        raise TemplateError(f"{where}: command must be a non-empty list of strings (argv)")
    raw_params = spec.get("params", {})
    if not isinstance(raw_params, dict):
        raise TemplateError(f"{where}: params must be a table of [..params.NAME] tables")
    params = [_param(f"{where}, parameter {p!r}", p, s, base) for p, s in raw_params.items()]
    names = {p.name for p in params}
    for element in command:
        for used in PLACEHOLDER.findall(element):
            if used not in names:
                raise TemplateError(f"{where}: placeholder {{{used}}} names no parameter")
    if PLACEHOLDER.search(command[0]):
        raise TemplateError(f"{where}: the program (command[0]) cannot be a placeholder")
    cwd = spec.get("cwd")
    return Template(
        name=name,
        command=command,
        params=params,
        description=str(spec.get("description", "")),
        project=str(spec.get("project", "default")),
        cwd=str((base / cwd).resolve()) if isinstance(cwd, str) else str(base),
    )


def _param(where: str, name: str, spec: Any, base: Path) -> Param:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", name) or not isinstance(spec, dict):
        raise TemplateError(f"{where}: names are identifiers, each a table")
    kind = spec.get("type")
    if kind not in TYPES:
        raise TemplateError(f"{where}: type must be one of {', '.join(TYPES)}")
    known = set(Param.__struct_fields__) - {
        "name",
        "files",
        "unavailable",
        "uploaded",
        "uploads_dir",
    }
    unknown = set(spec) - known
    if unknown:
        raise TemplateError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    try:
        param = msgspec.convert({**spec, "name": name}, Param)
    except msgspec.ValidationError as exc:
        raise TemplateError(f"{where}: {exc}") from None
    if kind in ("int", "float"):
        param.min, param.max = _bound(kind, param.min), _bound(kind, param.max)
    if kind == "choice" and not param.choices:
        raise TemplateError(f"{where}: a choice needs a non-empty choices list")
    _check_requires(where, param, base)
    if param.uploads and kind != "file":
        raise TemplateError(f"{where}: only a file parameter takes uploads")
    if kind == "string" and param.pattern is not None:
        try:
            re.compile(param.pattern)
        except re.error as exc:
            raise TemplateError(f"{where}: bad pattern: {exc}") from None
    if not 1 <= param.max_length <= STRING_MAX:
        raise TemplateError(f"{where}: max_length must be 1..{STRING_MAX}")
    if kind == "file":
        if not isinstance(param.dir, str):
            raise TemplateError(f"{where}: a file parameter needs dir (relative to the file)")
        param.dir = str((base / param.dir).resolve())
    if param.default is not None and kind != "file":
        try:
            param.validate(param.default)
        except ParamError as exc:
            raise TemplateError(f"{where}: default {exc.message}") from None
    return param


def _bound(kind: str, bound: int | float | None) -> int | float | None:
    """A bound in its parameter's type, as the API lists it: an int's ``1`` (not ``1.0``), a
    float's ``1.0``; an int's fractional bound stays as written."""
    if bound is None:
        return None
    if kind == "float":
        return float(bound)
    return int(bound) if isinstance(bound, float) and bound.is_integer() else bound


def _check_requires(where: str, param: Param, base: Path) -> None:
    """``requires`` names choices, each with a top-level module and/or a path (made absolute
    against the templates file's folder)."""
    if param.requires and param.type != "choice":
        raise TemplateError(f"{where}: only a choice parameter has requires")
    for choice, requirement in param.requires.items():
        if choice not in {str(c) for c in param.choices}:
            raise TemplateError(f"{where}: requires names {choice!r}, which is not a choice")
        if requirement.module is None and requirement.path is None:
            raise TemplateError(f"{where}: requires.{choice} needs a module or a path")
        if requirement.module is not None and not MODULE_NAME.fullmatch(requirement.module):
            raise TemplateError(f"{where}: requires.{choice}.module must be a top-level name")
        if requirement.path is not None:
            requirement.path = str(base / requirement.path)
