"""The PostgreSQL backend: one database shared by several server replicas."""

from runwatch.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
