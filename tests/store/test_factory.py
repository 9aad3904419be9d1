"""Where a store lives, from what a person types."""

from __future__ import annotations

from pathlib import Path

import pytest

from runwatch.store.factory import open_store
from runwatch.store.location import describe
from runwatch.store.postgres import PostgresStore
from runwatch.store.sqlite import SqliteStore


def test_urls_and_dirs_pick_the_backend(tmp_path: Path) -> None:
    plain = open_store(tmp_path / "d")
    absolute = open_store(f"sqlite://{tmp_path}/e")
    pg = open_store("postgresql://me:secret@db.example:6543/runs")
    assert isinstance(plain, SqliteStore) and plain.path == tmp_path / "d" / "runwatch.sqlite3"
    assert isinstance(absolute, SqliteStore) and absolute.path.parent == tmp_path / "e"
    assert isinstance(pg, PostgresStore) and isinstance(
        open_store("postgres://h/db"), PostgresStore
    )


def test_descriptions_hide_passwords() -> None:
    assert describe("postgresql://me:secret@db.example:6543/runs") == (
        "postgresql://me@db.example:6543/runs"
    )
    assert describe("sqlite:///var/lib/rw") == "/var/lib/rw"


@pytest.mark.parametrize("bad", ["mysql://h/db", "sqlite://"])
def test_unusable_locations_say_what_to_write(bad: str) -> None:
    with pytest.raises(ValueError, match=r"postgresql://|sqlite:///"):
        open_store(bad)
