"""A revoked token's sockets and streams close on every replica (they share the store)."""

from __future__ import annotations

import httpx

from runwatch.tokens import create
from tests.server.sockets import REVOCATION_SECONDS, bearer, revoke, viewers
from tests.servers import ServerProcess, wait_until


def test_a_revocation_closes_sockets_on_every_replica(
    replicas: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = replicas
    store = a.extra_args[a.extra_args.index("--store") + 1]
    read, info = create(store, "read", None, None, "viewer")
    writer, _ = create(store, "write", None, None, "producer, and keeps the servers closed")
    for server in replicas:
        wait_until(
            lambda s=server: httpx.get(f"{s.url}/api/v1/runs").status_code == 401,
            15,
            what="the replica to require tokens",
        )
    created = httpx.post(f"{a.url}/api/v1/runs", json={"project": "p"}, headers=bearer(writer))
    assert created.status_code == 201, created.text
    run_id = created.json()["id"]
    with viewers(a, read, run_id) as on_a, viewers(b, read, run_id) as on_b:
        revoked = revoke(store, info.id)
        on_a.closed_by(revoked + REVOCATION_SECONDS)
        on_b.closed_by(revoked + REVOCATION_SECONDS)
