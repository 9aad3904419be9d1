"""`runwatch --config FILE` (or RUNWATCH_CONFIG): option defaults for every command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg import fresh_database


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUNWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "runwatch", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **env},
    )


def test_one_file_configures_serve_and_the_token_commands(pg_url: str, tmp_path: Path) -> None:
    config = tmp_path / "runwatch.toml"
    config.write_text(f'store = "{pg_url}"\nhost = "0.0.0.0"\nbusy-timeout = 5\n')
    refused = cli("--config", str(config), "serve", "--port", "0")
    assert refused.returncode == 1
    assert f"--store {pg_url}" in refused.stderr  # serve took the file's store and host
    created = cli("token", "create", "--scope", "admin", RUNWATCH_CONFIG=str(config))
    assert created.returncode == 0, created.stderr
    listed = cli("token", "list", "--store", pg_url)
    assert created.stdout[:10] in listed.stdout  # the token went to the file's store
    # The flag wins: the file's store holds the token, the flag's (empty) dir is refused.
    elsewhere = cli("--config", str(config), "token", "list", "--store", str(tmp_path / "d"))
    assert elsewhere.returncode == 1 and f"no runwatch data in {tmp_path / 'd'}" in elsewhere.stderr


def test_a_typo_in_the_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "runwatch.toml"
    config.write_text('stroe = "postgresql://x/y"\n')
    done = cli("--config", str(config), "serve")
    assert done.returncode == 1
    assert done.stderr == "runwatch: error: unknown setting(s) in the config file: stroe\n"
    config.write_text("store = \n")
    bad = cli("--config", str(config), "serve")
    assert bad.returncode == 1 and "is not valid TOML" in bad.stderr
