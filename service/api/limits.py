"""Checks done before a route runs: the API key, and the body size while it streams in.

The DeepStack routes under ``COMPAT_PREFIX`` are the exception for the key: their clients may
send it as a form field, which only their router can read (``service.api.compat.key``), so
that router checks the key there, header or field, for every route it holds.

Pure ASGI, so a body over the limit is refused from its Content-Length before any of it is
read, and a chunked body is cut off the moment it streams past the limit: no route ever holds
more than ``max_body_bytes`` of it in memory.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import (
    BodyTooLargeError,
    FieldProblem,
    MalformedRequestError,
    UnauthorizedError,
)
from service.api.paths import is_below, route_path
from service.api.problems import problem_for_exception

API_KEY_HEADER = "X-API-Key"
OPEN_PREFIXES = ("/health/", "/v2/health/")  # probes (ours, OIP's) must work without the key
OPEN_PAGE = ("/", "/ui/")  # the browser page and its assets: the page asks for the key
# The API's description and its pages hold no data; Swagger's "Authorize" supplies the key.
OPEN_DOCS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
OPEN_DOCS_ASSETS = "/docs-assets/"
COMPAT_PREFIX = "/v1"  # DeepStack's API (service.api.compat): its router checks the key
OIP_PREFIX = "/v2"  # the Open Inference Protocol (service.api.oip): keyed like our own routes


class RequestLimitsMiddleware:
    """401 without the right ``X-API-Key`` (when one is configured); 413 past the body limit."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, api_key: str | None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._api_key = api_key.encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._authorize(scope)
            self._check_declared_length(scope)
        except (UnauthorizedError, BodyTooLargeError, MalformedRequestError) as exc:
            await problem_for_exception(exc, instance=scope.get("path"))(scope, receive, send)
            return
        await self.app(scope, self._counting(receive), send)

    def _authorize(self, scope: Scope) -> None:
        if self._api_key is None or _is_open(route_path(scope)) or is_compat_path(scope):
            return
        given = _header(scope, b"x-api-key")
        if given is not None:
            check_key(given, self._api_key, f"the {API_KEY_HEADER} header")
            return
        bearer = _bearer(scope)  # what Prometheus (authorization:, bearer_token) sends
        if bearer is None:
            raise UnauthorizedError(f"this service requires the {API_KEY_HEADER} header")
        check_key(bearer, self._api_key, "the Authorization header")

    def _check_declared_length(self, scope: Scope) -> None:
        declared = _header(scope, b"content-length")
        if declared is None:
            return
        try:
            length = int(declared)
        except ValueError:
            length = -1
        if length < 0:
            raise MalformedRequestError(
                "Content-Length is not a byte count",
                errors=[
                    FieldProblem(
                        "header", "Content-Length", f"got {declared[:40].decode('latin-1')!r}"
                    )
                ],
            )
        if length > self.max_body_bytes:
            raise BodyTooLargeError(self._too_large(f"Content-Length is {length} bytes"))

    def _counting(self, receive: Receive) -> Receive:
        """Wrap ``receive`` so a body streaming past the limit raises before it is kept."""
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLargeError(
                        self._too_large(f"the body streamed past {self.max_body_bytes} bytes")
                    )
            return message

        return counting_receive

    def _too_large(self, what: str) -> str:
        return f"{what}; the limit is {self.max_body_bytes} bytes (VISION_MAX_BODY_BYTES)"


def check_key(given: bytes, expected: bytes, source: str) -> None:
    """401 unless ``given`` is the key; compared in constant time, so that how long the answer
    takes does not tell how much of a guess was right."""
    if not hmac.compare_digest(given, expected):
        raise UnauthorizedError(f"{source} does not hold a valid key")


def is_compat_path(scope: Scope) -> bool:
    """Whether the request is for the DeepStack API, wherever the app is mounted."""
    return is_below(scope, COMPAT_PREFIX)


def is_oip_path(scope: Scope) -> bool:
    """Whether the request is for the Open Inference Protocol (``/v2`` or below it)."""
    return route_path(scope) == OIP_PREFIX or is_below(scope, OIP_PREFIX)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _bearer(scope: Scope) -> bytes | None:
    """The token of ``Authorization: Bearer <token>`` (scheme case-insensitive), else None;
    another scheme counts as no key, so its answer is the usual 401."""
    value = _header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(b" ")
    return token.strip() if scheme.lower() == b"bearer" else None


def _is_open(path: str) -> bool:
    """Routes served without the key: the probes, ``/`` and the page's ``/ui/`` assets, the
    OpenAPI description and its pages."""
    page, assets = OPEN_PAGE
    return (
        path.startswith(OPEN_PREFIXES)
        or path == page
        or path.startswith(assets)
        or path in OPEN_DOCS
        or path.startswith(OPEN_DOCS_ASSETS)
    )
