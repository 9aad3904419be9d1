"""API tokens: stored by hash, listed without it, revoked rather than deleted."""

from __future__ import annotations

import time

from runwatch.store.base import TokenInfo
from runwatch.store.sql.tx import Tx

_TOKEN_COLUMNS = "id, prefix, name, scope, project, created_at, expires_at, revoked_at"


def add_token(
    tx: Tx,
    token_hash: str,
    prefix: str,
    name: str | None,
    scope: str,
    project: str | None,
    expires_at: float | None,
) -> TokenInfo:
    """Store a new token (its hash only) and return what is shown of it."""
    row = tx.execute(
        "INSERT INTO tokens (hash, prefix, name, scope, project, created_at, expires_at)"
        f" VALUES (?,?,?,?,?,?,?) RETURNING {_TOKEN_COLUMNS}",
        (token_hash, prefix, name, scope, project, time.time(), expires_at),
    ).fetchone()
    return TokenInfo(*row)


def find_token(tx: Tx, token_hash: str) -> TokenInfo | None:
    """The token with this hash, revoked or expired ones too (the caller judges)."""
    row = tx.execute(
        f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE hash = ?", (token_hash,)
    ).fetchone()
    return None if row is None else TokenInfo(*row)


def list_tokens(tx: Tx) -> list[TokenInfo]:
    """Every token, oldest first."""
    rows = tx.execute(f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY id").fetchall()
    return [TokenInfo(*r) for r in rows]


def revoke_token(tx: Tx, token_id: int) -> bool:
    """Revoke the token; False when there is no such live token."""
    cursor = tx.execute(
        "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
        (time.time(), token_id),
    )
    return cursor.rowcount > 0


def count_tokens(tx: Tx, now: float) -> int:
    """Tokens neither revoked nor expired at ``now``."""
    row = tx.execute(
        "SELECT count(*) FROM tokens WHERE revoked_at IS NULL"
        " AND (expires_at IS NULL OR expires_at > ?)",
        (now,),
    ).fetchone()
    return int(row[0])


def tokens_created(tx: Tx) -> bool:
    """Whether the tokens table holds any token, live or not."""
    return tx.execute("SELECT 1 FROM tokens LIMIT 1").fetchone() is not None
