"""Bounded concurrency for inference: a few requests run, a few wait, the rest get 503 at once.

Without a bound, a burst queues unboundedly in the thread pool and every request times out
together; refusing early with ``Retry-After`` lets a load balancer or client back off instead.
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

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot for the block; raise ``OverloadedError`` when the line is full."""
        if self._admitted >= self.capacity:
            raise OverloadedError(
                f"{self.slots} requests are running and {self.capacity - self.slots} waiting; "
                "retry shortly"
            )
        self._admitted += 1
        try:
            async with self._semaphore:
                yield
        finally:
            self._admitted -= 1
