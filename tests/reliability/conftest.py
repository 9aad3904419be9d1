"""The in-process app fixture (``tests.asgi``) for the tests here whose server is incidental."""

from tests.asgi import app_server

__all__ = ["app_server"]
