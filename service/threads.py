"""How many threads the service runs, chosen together from the cores it may use.

The rule: **onnxruntime threads per run x runs at once <= cores**. Under load, one thread per
run and one run per core serve the most requests: several threads per run wait on each other
between operators, and spinning ones fight each other and the decoding threads for the same
cores. A lone request, though, is fastest on every core with spinning threads (1.2-1.5x on two
cores). So runs that overlap use one thread each, without spinning, and take turns, one per
core; a run that finds the machine to itself uses a second session with ``lone_run_threads``
spinning threads and holds every turn while it runs (``service.runtime.cpu_runs``). The
admission slots let other requests decode and post-process during the runs. The measurements
behind the defaults are in the README ("Threads").

Pure functions over the core count, so the choice is tested for any machine; ``usable_cores``
reads this process's CPU affinity and cgroup quota (a container's ``--cpus``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from service.settings import Settings

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class ThreadPlan:
    """What the settings leave at 0 ("auto"), filled in from ``cores``."""

    cores: int
    intra_op_threads: int  # threads inside one onnxruntime run, when runs overlap
    inter_op_threads: int  # onnxruntime's parallel-executor pool (unused in sequential mode)
    spinning: bool  # those threads busy-wait between operators
    inference_runs: int  # CPU onnxruntime runs at once, all models together
    lone_run_threads: int  # spinning threads of a run with the machine to itself (<= intra: off)
    admission_slots: int  # requests decoding, running or post-processing at once
    thread_pool: int  # the server's worker threads for blocking work

    @classmethod
    def choose(cls, settings: Settings, cores: int) -> ThreadPlan:
        """The plan for ``cores`` usable cores; any setting other than 0 is kept as given."""
        cores = max(1, cores)
        intra = settings.intra_op_threads or 1
        runs = settings.inference_concurrency or max(1, cores // intra)
        # Twice the cores: while one request runs the model, others decode and post-process.
        slots = settings.max_concurrency or 2 * cores
        return cls(
            cores=cores,
            intra_op_threads=intra,
            inter_op_threads=settings.inter_op_threads or 1,
            spinning=settings.ort_spinning,
            inference_runs=runs,
            lone_run_threads=settings.lone_run_threads or cores,
            admission_slots=slots,
            # Room beyond the admitted requests for blocking work outside them (sync routes,
            # file answers), so that it never waits behind inference.
            thread_pool=settings.thread_pool_size or slots + cores,
        )

    @property
    def lone_runs(self) -> bool:
        """Whether a lone CPU run gets a session of its own (more threads than a shared run)."""
        return self.lone_run_threads > self.intra_op_threads

    @classmethod
    def for_machine(cls, settings: Settings) -> ThreadPlan:
        """The plan for the cores this process may use now."""
        return cls.choose(settings, usable_cores())


def usable_cores(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may run on (affinity), capped by its cgroup's CPU quota, at least 1."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = affinity or os.cpu_count() or 1
    quota = cgroup_quota(cgroup_root)
    return max(1, min(cores, math.floor(quota)) if quota is not None else cores)


def cgroup_quota(root: Path = CGROUP_ROOT) -> float | None:
    """The CPU quota in cores (cgroup v2 ``cpu.max``, else v1 ``cpu.cfs_quota_us``), or None
    when there is none or it cannot be read."""
    try:
        return parse_cpu_max((root / "cpu.max").read_text())
    except OSError:
        pass
    try:
        quota = (root / "cpu" / "cpu.cfs_quota_us").read_text()
        period = (root / "cpu" / "cpu.cfs_period_us").read_text()
    except OSError:
        return None
    return parse_cpu_max(f"{quota.strip()} {period.strip()}")


def parse_cpu_max(text: str) -> float | None:
    """``"150000 100000"`` → 1.5 cores; ``"max 100000"`` or a v1 quota of -1 → None."""
    fields = text.split()
    if len(fields) != 2 or fields[0] in ("max", "-1"):
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None
