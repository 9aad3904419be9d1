"""The store backends the engine tests run against (the store suite's ``make_store``)."""

from tests.store.conftest import make_store

__all__ = ["make_store"]
