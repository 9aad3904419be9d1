"""The dashboard's pure functions, unit-tested under node (tests/js/*.test.mjs import the ES
modules from src/runwatch/web/js directly), so pytest and CI report them with the rest."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.conftest import missing

ROOT = Path(__file__).resolve().parent.parent


def test_the_web_modules_pure_functions_pass_under_node() -> None:
    node = shutil.which("node") or ("/usr/bin/node" if Path("/usr/bin/node").exists() else None)
    if node is None:
        missing("node (Debian's nodejs)")
    # The locale Chromium runs the page in, for anything that compares or formats by locale.
    env = {**os.environ, "LC_ALL": "en_US.UTF-8", "NO_COLOR": "1"}
    done = subprocess.run(
        [node, "--test", "--test-reporter=tap", "tests/js/"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    report = done.stdout + done.stderr
    passed = re.search(r"^# pass (\d+)$", report, re.M)
    failed = re.search(r"^# fail (\d+)$", report, re.M)
    # The failing tests' own lines first: the tail alone is mostly passing ones.
    lines = report.splitlines()
    failing = [i for i, line in enumerate(lines) if line.lstrip().startswith("not ok")]
    shown = "\n".join("\n".join(lines[i : i + 30]) for i in failing[:5]) + "\n" + report[-2000:]
    assert done.returncode == 0, shown
    assert passed and int(passed.group(1)) > 0, shown
    assert failed and int(failed.group(1)) == 0, shown
