"""The HTTP layer: the only part of the service that knows about HTTP."""

from service.api.app import create_app, serve

__all__ = ["create_app", "serve"]
