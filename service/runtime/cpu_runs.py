"""How CPU runs of one model share the cores (the plan is ``service.threads``).

Runs that overlap use the model's shared session (one thread each by default, no spinning) and
take one CPU turn each. A lone run, whose request is the only one the process holds and which
finds every turn free, uses the model's lone-run session instead (every core, spinning) and
holds every turn, so that nothing overlaps its spinning threads; its workers stop spinning when
it ends (``session.force_spinning_stop``), so an idle service keeps no core busy.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import onnxruntime as ort
from numpy.typing import NDArray

from service.runtime.turns import Turns

Feeds = dict[str, NDArray[Any]]  # onnxruntime's own feeds type: passed on as it is


class Requests:
    """How many requests the process holds now (in line or being served), as the API's
    admission counts them. A run is lone only when its request is the only one: a spinning run
    beside other requests' decoding would take their cores. Without an API (benches, scripts)
    it stays 0 and a run is lone when it finds every turn free."""

    def __init__(self) -> None:
        self.held = 0
        self._lock = threading.Lock()

    @property
    def crowded(self) -> bool:
        return self.held > 1

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Count one request for the block."""
        with self._lock:
            self.held += 1
        try:
            yield
        finally:
            with self._lock:
                self.held -= 1


REQUESTS = Requests()


class CpuRuns:
    """``run`` on ``shared`` within one of ``turns``, or on ``lone`` with every turn."""

    def __init__(
        self,
        shared: ort.InferenceSession,
        lone: ort.InferenceSession | None,
        turns: Turns,
        requests: Requests = REQUESTS,
    ) -> None:
        self.shared = shared
        self.lone = lone
        self.turns = turns
        self.requests = requests

    def run(self, feeds: Feeds) -> list[NDArray[Any]]:
        lone = self.lone if not self.requests.crowded else None
        taken = self.turns.take(every=lone is not None)
        try:
            session = lone if lone is not None and taken == self.turns.n else self.shared
            outputs: list[NDArray[Any]] = session.run(None, feeds)
        finally:
            self.turns.give(taken)
        return outputs

    def run_each(self, feeds: Feeds) -> list[NDArray[Any]]:
        """Run on every session (to warm each up), within one turn; the shared one's outputs."""
        with self.turns:
            if self.lone is not None:
                self.lone.run(None, feeds)
            outputs: list[NDArray[Any]] = self.shared.run(None, feeds)
        return outputs
