"""Overload: ``POST /detect`` goodput (200s per second) at concurrency 1, 8, 64 and 256, and
``GET /health/live`` latency (p50 / p99) measured at the same time, for two servers in rounds.

The two servers are two checkouts of the service (by default the committed code in a
``git worktree`` as "before" and this working tree as "after"), started side by side on the
same models; each round runs every concurrency on both, alternating which goes first, so that
load from other users of these cores falls on both alike. Each line gives the round's
after/before goodput ratio; the header and footer give the machine's load average.

Clients are ``c`` asyncio tasks, each with its own keep-alive connection (its own httpx client),
as ``c`` independent callers would be: one shared pool of 256 connections cost the load
generator half a core at c=256 against 0.06 at c=64 (httpcore walks its connection list on
every request), CPU the servers then lacked, which read as lost goodput. Each sends its next
request as soon as the previous answers, except after a 503, where it waits the
``Retry-After`` the server asked for, as a well-behaved client (or load balancer) does. The
load generator's own CPU (cores busy during the window) is printed beside each level.
The liveness prober is a thread of its own with one keep-alive connection, sending a probe
every 50 ms. The load generator runs on the same cores as the servers.

    git worktree add /tmp/before HEAD
    .venv/bin/python bench/overload.py --before /tmp/before [--seconds 8] [--rounds 2]
    git worktree remove /tmp/before
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
from loadkit import REPO_ROOT, Server, load_average, serve_from, shared_images

LEVELS = (1, 8, 64, 256)
IMAGE = "ul_bus.jpg"
PROBE_EVERY_S = 0.05


@dataclass(frozen=True)
class Result:
    goodput: float  # 200s per second
    statuses: dict[int, int]  # status -> count (0: transport error)
    live_p50_ms: float
    live_p99_ms: float
    live_max_ms: float
    client_cores: float  # the load generator's own CPU during the window


async def _load(
    url: str, concurrency: int, warmup: float, seconds: float, body: bytes
) -> tuple[Counter[int], float]:
    """Statuses of the answers that complete in the window after ``warmup`` (when the line
    has filled and latency is steady), ``seconds`` long, and the load generator's CPU."""
    statuses: Counter[int] = Counter()
    # The multipart body encoded once: the load generator shares these cores with the server.
    encoded = httpx.Request("POST", url, files={"image": (IMAGE, body, "image/jpeg")})
    payload, headers = encoded.read(), {"content-type": encoded.headers["content-type"]}
    counted_from = time.monotonic() + warmup
    deadline = counted_from + seconds

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120.0) as client:
            while time.monotonic() < deadline:
                try:
                    r = await client.post("/detect", content=payload, headers=headers)
                except httpx.HTTPError:
                    if counted_from <= time.monotonic() <= deadline:
                        statuses[0] += 1
                    await asyncio.sleep(0.1)
                    continue
                if counted_from <= time.monotonic() <= deadline:
                    statuses[r.status_code] += 1
                if r.status_code == 503:
                    await asyncio.sleep(float(r.headers.get("retry-after", "1")))

    async def client_cpu() -> float:
        """Cores this process (the load generator) kept busy during the counted window."""
        await asyncio.sleep(max(0.0, counted_from - time.monotonic()))
        start = time.process_time()
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        return (time.process_time() - start) / seconds

    cpu = asyncio.create_task(client_cpu())
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses, await cpu


def _probe(url: str, stop: threading.Event, latencies: list[float]) -> None:
    with httpx.Client(base_url=url, timeout=30.0) as client:
        while not stop.is_set():
            start = time.perf_counter()
            with contextlib.suppress(httpx.HTTPError):
                client.get("/health/live")
            latencies.append((time.perf_counter() - start) * 1000)
            stop.wait(PROBE_EVERY_S)


def measure(server: Server, concurrency: int, warmup: float, seconds: float, body: bytes) -> Result:
    stop, latencies = threading.Event(), list[float]()
    prober = threading.Thread(target=_probe, args=(server.url, stop, latencies))
    prober.start()
    try:
        statuses, client_cores = asyncio.run(_load(server.url, concurrency, warmup, seconds, body))
    finally:
        stop.set()
        prober.join()
    ordered = sorted(latencies) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return Result(
        goodput=statuses.get(200, 0) / seconds,
        statuses=dict(statuses),
        live_p50_ms=statistics.median(ordered),
        live_p99_ms=p99,
        live_max_ms=ordered[-1],
        client_cores=client_cores,
    )


def _line(name: str, c: int, r: Result) -> str:
    return (
        f"{name:7} c={c:<4d} goodput {r.goodput:6.2f}/s  live p50 {r.live_p50_ms:7.1f} ms  "
        f"p99 {r.live_p99_ms:7.1f} ms  max {r.live_max_ms:7.1f} ms  "
        f"client {r.client_cores:.2f} cores  statuses {r.statuses}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout of the old code")
    parser.add_argument("--after", type=Path, default=REPO_ROOT)
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument(
        "--before-models", type=Path, help="the old code's own models folder (its catalog format)"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="counted window per level")
    parser.add_argument("--warmup", type=float, default=15.0, help="uncounted lead-in per level")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    args = parser.parse_args()
    body = (shared_images() / IMAGE).read_bytes()
    logs = Path(tempfile.mkdtemp(prefix="overload-"))
    print(f"start: {load_average()}")
    results: dict[tuple[str, int], list[Result]] = {}
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(
                serve_from(
                    name,
                    checkout,
                    models,
                    logs / f"{name}.log",
                    {"VISION_GALLERY_PATH": str(logs / f"{name}.sqlite3")},
                )
            )
            for name, checkout, models in (
                ("before", args.before, args.before_models or args.models_dir),
                ("after", args.after, args.models_dir),
            )
        ]
        for round_no in range(args.rounds):
            print(f"round {round_no + 1}: {load_average()}")
            for c in args.levels:
                order = servers if (round_no + c) % 2 == 0 else servers[::-1]
                got = {s.name: measure(s, c, args.warmup, args.seconds, body) for s in order}
                for s in order:
                    results.setdefault((s.name, c), []).append(got[s.name])
                    print("  " + _line(s.name, c, got[s.name]))
                ratio = got["after"].goodput / max(got["before"].goodput, 1e-9)
                print(f"  c={c}: goodput after/before {ratio:.2f}")
    print(f"end: {load_average()}")
    print("\nmedian over rounds: goodput/s, live p99 ms")
    for name in ("before", "after"):
        cells = []
        for c in args.levels:
            rs = results[(name, c)]
            cells.append(
                f"c={c}: {statistics.median(r.goodput for r in rs):.2f}/s, "
                f"p99 {statistics.median(r.live_p99_ms for r in rs):.0f} ms"
            )
        print(f"  {name:7} " + " | ".join(cells))


if __name__ == "__main__":
    main()
