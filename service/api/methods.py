"""405 answers that list every method of the path, and HEAD wherever GET works.

Starlette answers 405 from the first route whose path matches, so ``PUT /faces`` said
``Allow: POST`` although ``GET /faces`` exists; and FastAPI's GET routes do not answer HEAD,
which health probes send. This middleware looks at all routes of the app: a HEAD to a path
with a GET route is served as that GET with the body dropped, and a 405's ``Allow`` is the
union of every route's methods for the path.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class MethodsMiddleware:
    """Completes ``Allow`` on 405s and maps HEAD onto GET (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self._routes = routes  # the app's live list: routes added later are seen too

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "HEAD":
            served = self._served(scope)
            if "HEAD" not in served and "GET" in served:
                await self.app({**scope, "method": "GET"}, receive, _without_body(send))
                return

        async def send_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allowed = self._allowed(scope)
                if allowed:
                    MutableHeaders(scope=message)["Allow"] = ", ".join(sorted(allowed))
            await send(message)

        await self.app(scope, receive, send_allow)

    def _allowed(self, scope: Scope) -> set[str]:
        """What ``Allow`` lists: the methods served at the path, and HEAD with GET."""
        methods = self._served(scope)
        return methods | {"HEAD"} if "GET" in methods else methods

    def _served(self, scope: Scope) -> set[str]:
        """Every method some route serves at this path, asked of the routes themselves (a
        FastAPI included router matches per method)."""
        return {
            method
            for method in _METHODS
            if any(
                route.matches({**scope, "method": method})[0] == Match.FULL
                for route in self._routes
                if not isinstance(route, Mount)  # static files answer their own 405
            )
        }


def _without_body(send: Send) -> Send:
    """``send`` for a HEAD answered by a GET route: headers as GET's, no body bytes."""

    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_head
