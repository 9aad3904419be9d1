"""runwatch: a self-hosted live telemetry hub for long-running compute runs."""

__version__ = "0.1.0"
