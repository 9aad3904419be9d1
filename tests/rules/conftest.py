"""The store backends the engine tests run against (the store suite's ``make_store``), and the
in-process app (``tests.asgi``) for the API tests whose server is incidental."""

from tests.asgi import app_server
from tests.store.conftest import make_store

__all__ = ["app_server", "make_store"]
