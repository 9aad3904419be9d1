"""The request snapshot: what it takes to reproduce a run, captured once at ``init``."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Frameworks worth recording when installed (read from package metadata, never imported).
FRAMEWORKS = (
    "torch", "jax", "tensorflow", "numpy", "scipy", "scikit-learn", "transformers",
    "lightning", "pytorch-lightning", "xgboost", "lightgbm", "pandas", "runwatch",
)  # fmt: skip
GIT_TIMEOUT = 2.0


def capture(run_dir: Path) -> dict[str, Any]:
    """argv, Python, host, working and run directories, start time, git state, package versions."""
    snapshot: dict[str, Any] = {
        "argv": list(sys.argv),
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "run_dir": str(run_dir.resolve()),
        "started_at": time.time(),
        "packages": _packages(),
    }
    git = _git()
    if git:
        snapshot["git"] = git
    return snapshot


def _packages() -> dict[str, str]:
    found = {}
    for name in FRAMEWORKS:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def _git() -> dict[str, Any] | None:
    """Commit, branch and dirty flag of the working directory's repository, if it is one."""
    try:
        commit = _run_git("rev-parse", "HEAD")
        if commit is None:
            return None
        status = _run_git("status", "--porcelain", "--untracked-files=no")
        return {
            "commit": commit,
            "branch": _run_git("rev-parse", "--abbrev-ref", "HEAD"),
            "dirty": bool(status),
        }
    except OSError:  # no git on this machine
        return None


def _run_git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return None
    return done.stdout.strip() if done.returncode == 0 else None
