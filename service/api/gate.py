"""The admission decision before any body byte is read, and deadlines on reading it.

``infer`` used to read and parse a whole upload and only then ask for an inference slot, so a
burst held every body in memory and was refused after paying for it. Here a request that
carries a body is counted in line first (503 + ``Retry-After`` at once when the line is full,
body unread), then reserves its length in the ``BodyBudget`` before the route reads it, and
must deliver the body within ``body_timeout_s`` (408 after that: a slowloris dribbler).
"""

from __future__ import annotations

import math

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.admission import Admission, BodyBudget
from service.api.errors import BodyTimeoutError
from service.api.problems import problem_for_exception

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class AdmissionGateMiddleware:
    """Counts requests with bodies against ``admission``'s line and bounds their bytes."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        admission: Admission,
        budget: BodyBudget,
        max_body_bytes: int,
        body_timeout_s: float,
    ) -> None:
        self.app = app
        self.admission = admission
        self.budget = budget
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self._in_line = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        refused = self.admission.refusal(self._in_line)
        if refused is not None:
            await problem_for_exception(refused, instance=scope.get("path"))(scope, receive, send)
            return
        self._in_line += 1
        reader = _BodyReader(receive, self.budget, self._declared(scope), self.body_timeout_s)
        try:
            await self.app(scope, reader.receive, send)
        finally:
            self._in_line -= 1
            self.admission.finished()
            with anyio.CancelScope(shield=True):  # give the bytes back even when cancelled
                await reader.release()

    def _declared(self, scope: Scope) -> int:
        """The Content-Length (checked by ``RequestLimitsMiddleware``), else the limit."""
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    return min(int(value), self.max_body_bytes)
                except ValueError:
                    break
        return self.max_body_bytes


class _BodyReader:
    """``receive`` that reserves the body's bytes first and enforces the read deadline."""

    def __init__(self, receive: Receive, budget: BodyBudget, size: int, timeout_s: float) -> None:
        self._receive = receive
        self._budget = budget
        self._size = size
        self._timeout_s = timeout_s
        self._reserved = 0
        self._deadline: float | None = None
        self._done = False

    async def receive(self) -> Message:
        if self._done:  # after the body: only a disconnect is left to wait for
            return await self._receive()
        if self._deadline is None:
            self._reserved = await self._budget.reserve(self._size)
            self._deadline = anyio.current_time() + self._timeout_s
        remaining = self._deadline - anyio.current_time()
        with anyio.move_on_after(max(remaining, 0.0)) as scope:
            message = await self._receive()
        if scope.cancelled_caught:
            raise BodyTimeoutError(
                f"the body did not arrive within {_seconds(self._timeout_s)} s "
                "(VISION_BODY_TIMEOUT_S)"
            )
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._done = True
        return message

    async def release(self) -> None:
        if self._reserved:
            await self._budget.release(self._reserved)
            self._reserved = 0


def _seconds(value: float) -> str:
    return str(int(value)) if math.isclose(value, round(value)) else f"{value:g}"
