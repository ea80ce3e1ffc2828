"""CPU turns for onnxruntime runs: at most ``n`` at once, served in the order they asked.

``threading.Semaphore`` lets a thread that arrives while others wait take a freed slot before
them, so under load one request can wait through many runs of later ones (a p95 many times the
p50). Here a freed turn goes straight to the oldest waiter.
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType


class Turns:
    """A context manager: ``with turns:`` runs the block within one of ``n`` turns."""

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"need at least one turn, got {n}")
        self.n = n
        self._free = n
        self._lock = threading.Lock()
        self._waiting: deque[threading.Lock] = deque()

    @property
    def waiting(self) -> int:
        """Threads waiting for a turn now."""
        return len(self._waiting)

    def take(self, *, every: bool = False) -> int:
        """Wait for a turn and return how many were taken: 1, or with ``every`` all ``n`` when
        all are free and nobody waits (a run that will use every core). Give them back with
        :meth:`give`."""
        with self._lock:
            if self._free and not self._waiting:
                taken = self.n if every and self._free == self.n else 1
                self._free -= taken
                return taken
            gate = threading.Lock()
            gate.acquire()
            self._waiting.append(gate)
        gate.acquire()  # until a leaving holder hands its turn over
        return 1

    def give(self, taken: int) -> None:
        """Give back ``taken`` turns, each straight to the oldest waiter if any."""
        with self._lock:
            for _ in range(taken):
                if self._waiting:
                    self._waiting.popleft().release()  # the turn passes on, never freed between
                else:
                    self._free += 1

    def __enter__(self) -> None:
        self.take()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.give(1)


_SHARED: dict[int, Turns] = {}
_SHARED_LOCK = threading.Lock()


def cpu_turns(runs: int) -> Turns:
    """The process's one set of ``runs`` CPU turns, shared by every session planned with that
    many: the bound holds across models, not per model."""
    with _SHARED_LOCK:
        return _SHARED.setdefault(runs, Turns(runs))
