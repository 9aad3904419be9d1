"""The lock files: every package `make demo`, `make test` and `make bench` install, pinned.

    python3 scripts/lock.py            # refresh the locks, keeping every pin pyproject still allows
    python3 scripts/lock.py --upgrade  # move every pin to the newest release pyproject allows
    python3 scripts/lock.py --upgrade-package redis   # move one package (repeatable)
    python3 scripts/lock.py --check    # exit 1 with one line when pyproject and the locks disagree

Each lock starts with the SHA-256 of pyproject.toml's dependency tables, so `--check` (stdlib
only: it runs before any venv exists) sees a dependency edited without a refresh. The locks nest
(bench ⊃ test ⊃ demo) and are compiled widest first, each narrower one constrained by the wider,
so one package has one version in all three.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
TOOLS = ROOT / "requirements-tools.in"
STAMP = "# pyproject-deps-sha256: "
HEADER = "Made by `make lock` (scripts/lock.py) from pyproject.toml: edit that, not this"
# lock file -> (the extras it installs, whether it holds the repo's tools), widest first.
LOCKS = {
    "requirements-bench.lock": (["server", "test", "bench"], True),
    "requirements-test.lock": (["server", "test"], True),
    "requirements-demo.lock": (["server"], False),
}


def deps_digest() -> str:
    """The SHA-256 of everything in pyproject.toml (and the tools list) that decides the locks."""
    project = tomllib.loads(PYPROJECT.read_text())
    tables = {
        "build": project["build-system"]["requires"],
        "python": project["project"]["requires-python"],
        "dependencies": project["project"]["dependencies"],
        "extras": project["project"]["optional-dependencies"],
        "tools": TOOLS.read_text().split(),
    }
    return hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()


def check() -> int:
    """0 when every lock carries the digest of today's pyproject.toml; else one line, 1."""
    digest = deps_digest()
    for name in LOCKS:
        path = ROOT / name
        first = path.read_text().splitlines()[0] if path.exists() else ""
        if first != STAMP + digest:
            print(
                f"{name} is out of date with pyproject.toml's dependencies: run `make lock` "
                "and commit the locks with the change",
                file=sys.stderr,
            )
            return 1
    return 0


def compile_locks(upgrade: bool, packages: list[str]) -> None:
    """Run pip-compile for each lock, widest first, and stamp each with the digest."""
    digest = deps_digest()
    build = tomllib.loads(PYPROJECT.read_text())["build-system"]["requires"]
    wider: Path | None = None
    # Pins for the build backend (the editable install runs without build isolation), pip itself
    # and, in the wider locks, the repo's tools; written beside the locks so annotations read well.
    extra_in = ROOT / "lock-extra.in"
    for name, (extras, tools) in LOCKS.items():
        out = ROOT / name
        lines = [*build, "pip", *(TOOLS.read_text().splitlines() if tools else [])]
        lines += [f"-c {wider.name}"] if wider is not None else []
        extra_in.write_text("\n".join(lines) + "\n")
        cmd = [sys.executable, "-m", "piptools", "compile", "--quiet", "--allow-unsafe"]
        cmd += ["--strip-extras", "--no-emit-find-links", "--no-emit-index-url"]
        cmd += ["--no-header", "--output-file", out.name]
        cmd += [f"--extra={extra}" for extra in extras]
        if upgrade and wider is None:
            cmd.append("--upgrade")
        for package in packages:
            cmd += ["--upgrade-package", package]
        # pip-compile keeps the pins it finds in its output file; our header goes first.
        if out.exists():
            out.write_text("\n".join(out.read_text().splitlines()[2:]) + "\n")
        try:
            subprocess.run([*cmd, PYPROJECT.name, extra_in.name], check=True, cwd=ROOT)
        finally:
            extra_in.unlink()
        header = f"{STAMP}{digest}\n# {HEADER} (extras: {', '.join(extras)}).\n"
        out.write_text(header + out.read_text())
        wider = out


def main() -> int:
    """Parse the flags; check or refresh."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--upgrade", action="store_true")
    parser.add_argument("--upgrade-package", action="append", default=[])
    args = parser.parse_args()
    if args.check:
        return check()
    compile_locks(args.upgrade, args.upgrade_package)
    return check()


if __name__ == "__main__":
    sys.exit(main())
