"""Bounded concurrency for inference: a few requests run, a few wait, the rest get 503 at once.

Without a bound, a burst queues unboundedly in the thread pool and every request times out
together; refusing early with ``Retry-After`` lets a load balancer or client back off instead.
``BodyBudget`` bounds the bytes of request bodies held at once, whatever the concurrency.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from service.api.errors import OverloadedError


class Admission:
    """``slots`` requests run at once; up to ``queue`` more wait for a slot."""

    def __init__(self, slots: int, queue: int) -> None:
        if slots < 1 or queue < 0:
            raise ValueError(f"need slots >= 1 and queue >= 0, got {slots} and {queue}")
        self.slots = slots
        self.capacity = slots + queue
        self._semaphore = anyio.Semaphore(slots)
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Requests running or waiting now."""
        return self._admitted

    def refusal(self, admitted: int) -> OverloadedError | None:
        """The 503 for a request arriving while ``admitted`` are in line, or None."""
        if admitted < self.capacity:
            return None
        return OverloadedError(
            f"{self.slots} requests are running and {self.capacity - self.slots} waiting; "
            "retry shortly"
        )

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot for the block; raise ``OverloadedError`` when the line is full."""
        refused = self.refusal(self._admitted)
        if refused is not None:
            raise refused
        self._admitted += 1
        try:
            async with self._semaphore:
                yield
        finally:
            self._admitted -= 1


class BodyBudget:
    """At most ``limit`` bytes of request bodies are being read or held at once; a request
    reserves its declared length before its first byte is read, and waits (unread, its bytes
    left in the socket) until that much is free."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"need a positive byte budget, got {limit}")
        self.limit = limit
        self._used = 0
        self._changed = anyio.Condition()

    @property
    def used(self) -> int:
        return self._used

    async def reserve(self, size: int) -> int:
        """Wait until ``size`` bytes (at most the whole budget) are free, take them, and say
        how many were taken (to give back with ``release``)."""
        size = min(max(size, 0), self.limit)
        async with self._changed:
            while self._used + size > self.limit:
                await self._changed.wait()
            self._used += size
        return size

    async def release(self, size: int) -> None:
        async with self._changed:
            self._used -= size
            self._changed.notify_all()
