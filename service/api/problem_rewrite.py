"""Error answers in a route family's own shape, while errors are still decided in one place.

Failures are raised and mapped to problem+json by :mod:`service.api.problems` everywhere (the
limits middleware's 401/413, routing's 404/405, a route's 400, the last-resort 500). A second
route family whose clients read another error shape (DeepStack's ``{"success": false, ...}``,
the Open Inference Protocol's ``{"error": ...}``) gets a :class:`ProblemRewriteMiddleware`
outside all of those: a problem answer to one of its paths is rewritten into its shape, with
the same status and headers (``Retry-After``, ``WWW-Authenticate``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.problems import PROBLEM_MEDIA_TYPE

#: ``render(status, detail)``: the family's error body for a problem of that status and detail.
Render = Callable[[int, str], bytes]

_REPLACED = {b"content-type", b"content-length"}


class ProblemRewriteMiddleware:
    """Problem answers to paths ``owns`` accepts become ``render``'s JSON, same status."""

    def __init__(self, app: ASGIApp, *, owns: Callable[[Scope], bool], render: Render) -> None:
        self.app = app
        self._owns = owns
        self._render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._owns(scope):
            await self.app(scope, receive, send)
            return
        held: Message | None = None  # the start of a problem answer, until its body is in
        body = bytearray()

        async def translating_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and _is_problem(message):
                held = message
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                await self._send_translated(held, bytes(body), send)

        await self.app(scope, receive, translating_send)

    def translate(self, status: int, problem_body: bytes) -> tuple[int, bytes]:
        """The family's status and body for a problem answer; the same status by default (a
        family whose codes depend on the problem's type overrides this)."""
        return status, self._render(status, error_text(problem_body, status))

    async def _send_translated(self, start: Message, problem_body: bytes, send: Send) -> None:
        status, payload = self.translate(int(start["status"]), problem_body)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in _REPLACED]
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(payload)),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def _is_problem(start: Message) -> bool:
    for key, value in start.get("headers", []):
        if key.lower() == b"content-type":
            return bytes(value).split(b";", 1)[0].strip().decode("latin-1") == PROBLEM_MEDIA_TYPE
    return False


def problem_slug(problem_body: bytes) -> str:
    """The last part of the problem's ``type`` (``no-face`` of ``urn:...:problem:no-face``)."""
    try:
        problem: Any = json.loads(problem_body)
    except ValueError:
        return ""
    kind = problem.get("type") if isinstance(problem, dict) else None
    return kind.rsplit(":", 1)[-1] if isinstance(kind, str) else ""


def error_text(problem_body: bytes, status: int) -> str:
    """The problem's ``detail`` (else its ``title``): what the client should read."""
    try:
        problem: Any = json.loads(problem_body)
    except ValueError:
        problem = None
    if isinstance(problem, dict):
        text = problem.get("detail") or problem.get("title")
        if isinstance(text, str) and text:
            return text
    return f"the request failed with status {status}"
