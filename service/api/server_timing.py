"""``Server-Timing`` on every answer whose route timed stages, written in one place.

Each request gets a :class:`~service.timing.StageClock` (started as the request arrives, so
``total`` covers reading the body and queueing); routes record stages on it and this middleware
writes them, with ``total``, as the response starts: no route sets the header by hand.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.timing import StageClock, server_timing

_CLOCK_STATE_KEY = "stage_clock"
NOTICE_HEADER = "Image-Notice"


class ServerTimingMiddleware:
    """Starts each HTTP request's stage clock and sends its stages as ``Server-Timing``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        clock = StageClock()
        scope.setdefault("state", {})[_CLOCK_STATE_KEY] = clock

        async def send_timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                stages = clock.stages()
                if stages:
                    stages["total"] = clock.total_ms()
                    MutableHeaders(scope=message).append("Server-Timing", server_timing(stages))
                if clock.notices:  # e.g. "image: exif-unreadable; not rotated"
                    MutableHeaders(scope=message).append(NOTICE_HEADER, ", ".join(clock.notices))
            await send(message)

        await self.app(scope, receive, send_timed)


async def request_clock(request: Request) -> StageClock:
    """This request's stage clock (the middleware made it)."""
    clock: StageClock = getattr(request.state, _CLOCK_STATE_KEY)
    return clock


Clock = Annotated[StageClock, Depends(request_clock)]
