"""How CPU runs of one model share the cores (the plan is ``service.threads``).

Runs that overlap use the model's shared session (one thread each by default, no spinning) and
take one CPU turn each. A run that finds every turn free and nobody waiting uses the model's
lone-run session instead (every core, spinning) and holds every turn, so that nothing overlaps
its spinning threads; its workers stop spinning when it ends (``session.force_spinning_stop``),
so an idle service keeps no core busy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import onnxruntime as ort
from numpy.typing import NDArray

from service.runtime.turns import Turns

Feeds = Mapping[str, NDArray[Any]]


class CpuRuns:
    """``run`` on ``shared`` within one of ``turns``, or on ``lone`` with every turn."""

    def __init__(
        self, shared: ort.InferenceSession, lone: ort.InferenceSession | None, turns: Turns
    ) -> None:
        self.shared = shared
        self.lone = lone
        self.turns = turns

    def run(self, feeds: Feeds) -> list[NDArray[Any]]:
        taken = self.turns.take(every=self.lone is not None)
        try:
            session = self.lone if self.lone is not None and taken == self.turns.n else self.shared
            outputs: list[NDArray[Any]] = session.run(None, dict(feeds))
        finally:
            self.turns.give(taken)
        return outputs

    def run_each(self, feeds: Feeds) -> list[NDArray[Any]]:
        """Run on every session (to warm each up), within one turn; the shared one's outputs."""
        with self.turns:
            if self.lone is not None:
                self.lone.run(None, dict(feeds))
            outputs: list[NDArray[Any]] = self.shared.run(None, dict(feeds))
        return outputs
