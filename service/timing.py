"""Stage timing, in one place: pipelines time preprocess/inference/postprocess with it, the API
times decode and encode with it, and the ``Server-Timing`` header is written from it.

A clock of named stages rather than hand-placed ``perf_counter`` readings, so a stage cannot
be measured from the wrong reading, and a stage entered twice (two images, several faces)
adds up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


def ms_since(start: float) -> float:
    """Milliseconds from a ``time.perf_counter()`` reading to now, to the microsecond."""
    return round((time.perf_counter() - start) * 1000.0, 3)


class StageClock:
    """Milliseconds per named stage, in the order the stages were first entered."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self._ms: dict[str, float] = {}
        #: What the request's work ignored on the way (e.g. unreadable EXIF), for a header.
        self.notices: list[str] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as stage ``name`` (added to its earlier time, if any)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, (time.perf_counter() - start) * 1000.0)

    def add(self, name: str, ms: float) -> None:
        """Add ``ms`` to stage ``name``, e.g. stage times a pipeline measured."""
        self._ms[name] = round(self._ms.get(name, 0.0) + ms, 3)

    def ms(self, name: str) -> float:
        """The time of stage ``name`` so far; 0 for a stage never entered."""
        return self._ms.get(name, 0.0)

    def stages(self) -> dict[str, float]:
        """Every stage's milliseconds, in the order first entered."""
        return dict(self._ms)

    def total_ms(self) -> float:
        """Milliseconds since the clock was made."""
        return ms_since(self.started)


def server_timing(stages: Mapping[str, float]) -> str:
    """Stage times as a ``Server-Timing`` header value, for browsers' and proxies' tools."""
    return ", ".join(f"{stage};dur={ms}" for stage, ms in stages.items())
