"""A header deadline for uvicorn's HTTP protocols: silent and dribbling connections are closed.

uvicorn only times out a connection that is idle *after* an answer, and any byte received
cancels that timer, so a socket that never speaks, or sends a header byte every few seconds
(slowloris), stays open forever. Here every connection must complete a request's headers
within ``header_timeout_s`` of opening or of its previous answer, or it is closed. Bodies have
their own deadline in ``service.api.gate``.
"""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class _HeaderDeadline:
    """The timer; mixed into a uvicorn protocol class (``transport`` and ``loop`` are theirs)."""

    header_timeout_s: float = 10.0
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    _header_timer: asyncio.TimerHandle | None = None

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        if not self.transport.is_closing():
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _disarm_header_deadline(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


class GuardedH11(_HeaderDeadline, H11Protocol):
    """uvicorn's h11 protocol with the header deadline."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # a request's headers are in
            self._disarm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.conn.their_state is h11.IDLE:
            self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)


def guarded_protocol(header_timeout_s: float) -> type[Any]:
    """The protocol class for ``uvicorn.run(http=...)``: httptools where installed (uvicorn's
    own choice), else h11, each with the header deadline."""
    base: type[Any] = GuardedH11
    if importlib.util.find_spec("httptools") is not None:
        from service.api.connections_httptools import GuardedHttpTools

        base = GuardedHttpTools
    return type(base.__name__, (base,), {"header_timeout_s": header_timeout_s})
