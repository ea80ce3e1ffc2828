"""What every bench shares: ours and the peer in alternating rounds, ratios per round.

On shared cores, a neighbour's load can land on one side of a comparison and not the other:
measured one after the other, a 1.5x lead read "124x" under load. So every bench measures both
sides in each round (who goes first alternates), computes the ratio within the round, and
reports the ratios' median with their min-max; a wide spread says the machine was busy.

Standard library and numpy only, so a peer running in another interpreter (ultralytics' own
virtual environment) measures itself with the same ``measure``.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np

T = TypeVar("T")
Call = Callable[[], None]
MakeCall = Callable[[], contextlib.AbstractContextManager[Call]]  # one per worker thread


def rotated(items: Sequence[T], round_index: int) -> list[T]:
    """``items`` starting at ``round_index`` mod their count: who goes first alternates."""
    start = round_index % len(items) if items else 0
    return [*items[start:], *items[:start]]


def spread(values: Sequence[float], digits: int = 2) -> str:
    """``median (min-max)`` of per-round values."""
    return (
        f"{statistics.median(values):.{digits}f} "
        f"({min(values):.{digits}f}-{max(values):.{digits}f})"
    )


@dataclass(frozen=True)
class Target:
    """A goal for a ratio: ``at_most`` (a time ratio) or at least (a rate ratio)."""

    bound: float
    at_most: bool

    def met(self, value: float) -> bool:
        return value <= self.bound if self.at_most else value >= self.bound

    def __str__(self) -> str:
        return f"{'<=' if self.at_most else '>='} {self.bound:g}"


@dataclass
class Ratios:
    """Per-round ratios by name, in the order first added."""

    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.values.setdefault(name, []).append(value)

    def lines(self, targets: dict[str, Target] | None = None) -> list[str]:
        """One line per ratio: median (min-max) over the rounds, and the target's verdict on
        the median and on the worst round."""
        width = max((len(name) for name in self.values), default=0)
        lines = []
        for name, values in self.values.items():
            line = f"  {name:{width}}  {spread(values)}  [{len(values)} rounds]"
            target = (targets or {}).get(name)
            if target is not None:
                worst = max(values) if target.at_most else min(values)
                verdict = "met" if target.met(statistics.median(values)) else "MISSED"
                line += f"  target {target}: median {verdict}"
                line += ", every round" if target.met(worst) else ", not every round"
            lines.append(line)
        return lines


def median_ms(action: Callable[[], object], repeats: int) -> float:
    """One round's cell: the median of ``repeats`` timed calls, in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


# -- concurrent callers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One contender in one round: latencies, and the window in which ``requests`` completed."""

    latencies_s: list[float]  # every completed call, the few still in flight at the end too
    requests: int  # completions that closed the throughput window
    wall_s: float  # that window: from the start to the ``requests``-th completion
    cpu_s: float | None  # CPU of the process doing the work over the whole measurement
    errors: int
    first_error: str | None
    caller_cpu_s: float | None = None  # this process's CPU (the callers') over the same window

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q)) * 1000.0

    @property
    def per_second(self) -> float:
        return self.requests / self.wall_s

    @property
    def cpu_ms_per_request(self) -> float | None:
        """CPU over every call that ran, the in-flight tail included."""
        return None if self.cpu_s is None else self.cpu_s * 1000.0 / len(self.latencies_s)

    @property
    def caller_cpu_ms_per_request(self) -> float | None:
        """The callers' own CPU per call: for an HTTP contender, the load generator's, which
        shares the cores with the server."""
        if self.caller_cpu_s is None:
            return None
        return self.caller_cpu_s * 1000.0 / len(self.latencies_s)


def measure(
    make_call: MakeCall,
    *,
    requests: int,
    concurrency: int,
    warmup: int,
    cpu: Callable[[], float | None] = time.process_time,
) -> Sample:
    """Keep ``concurrency`` threads busy until ``requests`` calls have completed.

    Each worker enters its own ``make_call()`` and warms up; the clock starts when all are
    warm, so neither lazy initialisation nor thread start-up is timed, and stops at the
    ``requests``-th completion, so every worker is busy for the whole window (no ramp-down).
    The calls still in flight then finish, and count in latencies and CPU. ``cpu`` reads the
    CPU seconds of whoever does the work (default: this process). A call fails by raising.
    """
    ready = threading.Barrier(concurrency + 1)
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []
    window_end: list[float] = []

    def completed(latency: float | None, failure: str | None) -> None:
        with lock:
            if latency is not None:
                latencies.append(latency)
            if failure is not None:
                failures.append(failure)
            if len(latencies) + len(failures) == requests:
                window_end.append(time.perf_counter())

    def worker() -> None:
        with contextlib.ExitStack() as stack:
            try:
                call = stack.enter_context(make_call())
                for _ in range(warmup):
                    call()
            finally:
                ready.wait()
            while not window_end:
                start = time.perf_counter()
                try:
                    call()
                except Exception as error:
                    completed(None, f"{type(error).__name__}: {error}")
                else:
                    completed(time.perf_counter() - start, None)

    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(worker) for _ in range(concurrency)]
        ready.wait()
        cpu_before, caller_before = cpu(), time.process_time()
        start = time.perf_counter()
        for future in futures:
            future.result()
        cpu_after, caller_after = cpu(), time.process_time()
    if not latencies:
        raise RuntimeError(f"every call failed; first: {failures[0] if failures else '?'}")
    return Sample(
        latencies_s=latencies,
        requests=requests,
        wall_s=window_end[0] - start,
        cpu_s=None if cpu_before is None or cpu_after is None else cpu_after - cpu_before,
        errors=len(failures),
        first_error=failures[0] if failures else None,
        caller_cpu_s=caller_after - caller_before,
    )


def shared_call(call: Call) -> MakeCall:
    """The same ``call`` for every worker (for thread-safe work)."""
    return lambda: contextlib.nullcontext(call)


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` from /proc, or None off Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "(comm)", which may contain spaces
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")
