"""Packaging: the SDK needs none of the server's stack, and the locks follow pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.servers import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
SERVER_ONLY = (
    "fastapi", "starlette", "uvicorn", "uplot", "psycopg", "psycopg_pool", "redis", "optuna",
)  # fmt: skip

# Runs a snippet in a Python where the server extra's packages cannot be imported, as in a
# training job's environment that installed plain `runwatch`.
_WITHOUT_SERVER = textwrap.dedent(
    f"""
    import importlib.abc, sys
    BLOCKED = {SERVER_ONLY!r}

    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    """
)


def _python_without_server(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _WITHOUT_SERVER + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_the_sdk_logs_without_the_server_extra(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data").start()
    try:
        done = _python_without_server(
            """
            import runwatch
            run = runwatch.init(project="slim", name="no-server", url=sys.argv[1],
                                run_dir=sys.argv[2])
            for step in range(100):
                run.log({"loss": 1.0 / (step + 1)}, step=step)
            run.finish()
            loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
            print(run.id, loaded)
            """,
            srv.url,
            str(tmp_path / "run"),
        )
        assert done.returncode == 0, done.stderr
        run_id, loaded = done.stdout.split(" ", 1)
        assert loaded.strip() == "[]"
        with srv.client() as c:
            info = c.get(f"/api/v1/runs/{run_id}").json()
            series = c.get(f"/api/v1/runs/{run_id}/metrics", params={"keys": "loss"}).json()
        assert info["status"] == "succeeded"
        assert series["series"]["loss"]["x"] == list(range(100))
        assert series["series"]["loss"]["value"] == [1.0 / (s + 1) for s in range(100)]
    finally:
        srv.stop()


def test_serve_without_the_server_extra_says_what_to_install(tmp_path: Path) -> None:
    done = _python_without_server(
        """
        from runwatch.cli import main
        sys.argv = ["runwatch", "serve", "--port", "0", "--data", sys.argv[1]]
        main()
        """,
        str(tmp_path / "data"),
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("runwatch: error: this command needs the server extra")
    assert lines[0].endswith("pip install 'runwatch[server]'")


def _repo_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "lock.py", copy / "scripts" / "lock.py")
    for path in [ROOT / "pyproject.toml", *ROOT.glob("requirements-*")]:
        shutil.copy(path, copy / path.name)
    return copy


def _check(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(repo / "scripts" / "lock.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_locks_match_pyproject_and_a_dependency_edit_without_a_refresh_fails(
    tmp_path: Path,
) -> None:
    repo = _repo_copy(tmp_path)
    assert _check(repo).returncode == 0
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"redis>=5,<9"', '"redis>=5,<10"'))
    done = _check(repo)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "requirements-bench.lock is out of date with pyproject.toml's dependencies: "
        "run `make lock` and commit the locks with the change"
    ]


def test_every_lock_pins_every_package_exactly() -> None:
    for lock in ROOT.glob("requirements-*.lock"):
        requirements = [
            line
            for line in lock.read_text().splitlines()
            if line and not line.startswith((" ", "#"))
        ]
        assert requirements, lock.name
        loose = [line for line in requirements if "==" not in line or " @ " in line]
        assert loose == [], f"{lock.name}: {loose}"
