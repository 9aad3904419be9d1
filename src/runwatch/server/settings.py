"""Server settings: one object, built by the CLI or by tests, passed to the app factory."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from runwatch.protocol import CLAIM_LEASE
from runwatch.rules.targets import Network
from runwatch.store.prepare import Limits


@dataclass(frozen=True)
class Settings:
    """Everything the server can be told; defaults are safe for a single local machine."""

    data_dir: Path = Path(".runwatch")
    host: str = "127.0.0.1"
    port: int = 8765
    # A shared bearer token; when set, every API call and socket must present it.
    token: str | None = None
    max_body_bytes: int = 16 * 1024 * 1024
    limits: Limits = field(default_factory=Limits)
    # Batches per second each token (or, with no auth, each client) may ingest; None: no limit.
    ingest_rate: float | None = None
    state_max_points: int = 1000
    state_events: int = 500  # a run page's feed holds the same 500 (event-feed.js MAX_EVENTS)
    # Seconds between sweeps that drop raw points past each project's retention.
    retention_interval: float = 60.0
    # Seconds a write waits for a database lock held elsewhere before answering 503.
    busy_timeout: float = 30.0
    # Relative L2 change that keeps a snapshot version between its log-spaced ages.
    snapshot_epsilon: float = 0.05
    # Seconds between checks for running runs whose heartbeat stopped (they become crashed).
    crash_check_interval: float = 1.0
    # Seconds a sweep trial's claim holds without its run: past it, the trial is crashed and
    # handed out again (an agent that died between its claim and its run).
    claim_lease: float = CLAIM_LEASE
    # Run templates (TOML) the dashboard may launch; None: <data_dir>/runwatch.toml if present.
    templates: Path | None = None
    # Templated runs running at once (the queue's slots); 0 pauses the queue.
    max_concurrent: int = 1
    # A TOML file of watch rules loaded at start (replacing the rules it loaded before).
    rules_file: Path | None = None
    # Seconds between checks of time-based rule conditions (stalled, plateau by minutes).
    rules_tick: float = 1.0
    # Where the store lives when not in data_dir: postgresql://… (several replicas share it)
    # or sqlite:///DIR. None: SQLite in data_dir.
    store_url: str | None = None
    # PostgreSQL connections (and worker threads) per replica.
    store_pool: int = 8
    # The live bus: None (in-process, one server) or redis://HOST:PORT/DB (several replicas).
    bus_url: str | None = None
    # Networks webhooks may reach beyond public addresses (loopback, private, link-local are
    # refused otherwise: no server-side request forgery).
    webhook_allow: tuple[Network, ...] = ()

    @property
    def store_location(self) -> str:
        """The store's URL, or the SQLite data dir."""
        return self.store_url or str(self.data_dir)

    def check_bind(self, auth_configured: bool) -> None:
        """Refuse to listen beyond loopback without auth: telemetry is private by default."""
        if not auth_configured and not is_loopback(self.host):
            raise ValueError(
                f"refusing to bind {self.host} without auth: create a token first with "
                f"`runwatch token create --scope admin {self._store_option()}` (or pass --token), "
                "or bind 127.0.0.1"
            )

    def _store_option(self) -> str:
        from runwatch.store.location import describe

        if self.store_url is None:
            return f"--data {self.data_dir}"
        return f"--store {describe(self.store_url)}"


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
