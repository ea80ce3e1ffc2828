"""Bounded concurrency for inference: a few requests run, a few wait, the rest get 503 at once.

Without a bound, a burst queues unboundedly in the thread pool and every request times out
together; refusing early with ``Retry-After`` lets a load balancer or client back off instead.
``BodyBudget`` bounds the bytes of request bodies held at once, whatever the concurrency.

``Retry-After`` is not a constant: with a constant 1 s, 256 callers against a line of 68 came
back ~190 times a second, and answering those 503s (and the clients sending them, on the same
cores) cost a fifth of the goodput. It is the longer of the time the full line takes to be
served at the recent completion rate, and the time that spreads the returns of every caller now
waiting out a Retry-After so that refusals stay a tenth of the completions: the more callers
are turned away, the longer each is asked to wait, so refusals stay cheap however many come.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from service.api.errors import OverloadedError
from service.runtime.cpu_runs import REQUESTS

_RATE_SAMPLES = 64  # completions the service rate is estimated from
_REFUSED_SHARE = 0.1  # returning refused callers, as a share of the completions
_MAX_RETRY_AFTER_S = 60
_MAX_TRACKED_RETURNS = 100_000  # past this many the answer is the cap anyway


class Admission:
    """``slots`` requests run at once; up to ``queue`` more wait for a slot."""

    def __init__(self, slots: int, queue: int) -> None:
        if slots < 1 or queue < 0:
            raise ValueError(f"need slots >= 1 and queue >= 0, got {slots} and {queue}")
        self.slots = slots
        self.capacity = slots + queue
        # fast_acquire: a free slot is taken without a trip through the event loop (anyio's
        # default yields on every acquire, free or not: a scheduling round per request).
        self._semaphore = anyio.Semaphore(slots, fast_acquire=True)
        self._admitted = 0
        self._finished: deque[float] = deque(maxlen=_RATE_SAMPLES)  # monotonic seconds
        self._returns: list[float] = []  # heap: when each refused caller was told to come back

    def finished(self) -> None:
        """One request in line is done (its answer sent): the service rate's sample."""
        self._finished.append(time.monotonic())

    def retry_after_s(self) -> int:
        """Whole seconds a caller refused now is asked to wait (see the module docstring);
        1 while there is no completion rate to go by."""
        now = time.monotonic()
        while self._returns and self._returns[0] <= now:
            heapq.heappop(self._returns)
        if len(self._finished) < 2 or self._finished[-1] <= self._finished[0]:
            return 1
        rate = (len(self._finished) - 1) / (self._finished[-1] - self._finished[0])
        drain = (self.capacity + 1) / rate
        spread = (len(self._returns) + 1) / (_REFUSED_SHARE * rate)
        return max(1, min(_MAX_RETRY_AFTER_S, math.ceil(max(drain, spread))))

    @property
    def admitted(self) -> int:
        """Requests running or waiting now."""
        return self._admitted

    def refusal(self, admitted: int) -> OverloadedError | None:
        """The 503 for a request arriving while ``admitted`` are in line, or None."""
        if admitted < self.capacity:
            return None
        retry_after_s = self.retry_after_s()
        if len(self._returns) < _MAX_TRACKED_RETURNS:
            heapq.heappush(self._returns, time.monotonic() + retry_after_s)
        return OverloadedError(
            f"{self.slots} requests are running and {self.capacity - self.slots} waiting; "
            f"retry in {retry_after_s} s",
            retry_after_s=retry_after_s,
        )

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a slot for the block; raise ``OverloadedError`` when the line is full."""
        refused = self.refusal(self._admitted)
        if refused is not None:
            raise refused
        self._admitted += 1
        try:
            # Counted for the runtime too: is a run lone (service.runtime.cpu_runs)?
            with REQUESTS.hold():
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
        self._changed = anyio.Condition(anyio.Lock(fast_acquire=True))  # as Admission's

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
