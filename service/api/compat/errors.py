"""DeepStack's error shape for every failure under ``/v1/``, wherever it was decided.

Failures are raised and mapped to problem+json in one place as everywhere else (the limits
middleware's 401/413, routing's 404/405, a route's 400/422, the last-resort 500). DeepStack
clients read ``{"success": false, "error": ...}`` instead, so this middleware, outside all of
those, rewrites a problem+json answer to a ``/v1/`` path into that shape: same status, same
headers (``Retry-After``, ``WWW-Authenticate``), the problem's ``detail`` as ``error``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.compat.answers import DeepStackError
from service.api.limits import is_compat_path
from service.api.problems import PROBLEM_MEDIA_TYPE

_REPLACED = {b"content-type", b"content-length"}


class DeepStackErrorsMiddleware:
    """Problem answers on ``/v1/`` paths become ``{success: false, error, code}`` JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_compat_path(scope):
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
                await _send_translated(held, bytes(body), send)

        await self.app(scope, receive, translating_send)


def _is_problem(start: Message) -> bool:
    for key, value in start.get("headers", []):
        if key.lower() == b"content-type":
            return bytes(value).split(b";", 1)[0].strip().decode("latin-1") == PROBLEM_MEDIA_TYPE
    return False


async def _send_translated(start: Message, problem_body: bytes, send: Send) -> None:
    status = int(start["status"])
    error = DeepStackError(error=_error_text(problem_body, status), code=status)
    payload = error.model_dump_json().encode()
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in _REPLACED]
    headers += [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _error_text(problem_body: bytes, status: int) -> str:
    try:
        problem: Any = json.loads(problem_body)
    except ValueError:
        problem = None
    if isinstance(problem, dict):
        text = problem.get("detail") or problem.get("title")
        if isinstance(text, str) and text:
            return text
    return f"the request failed with status {status}"
