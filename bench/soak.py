"""Soak: 8 clients mixing detect, classify, recognise and enrol+delete against a real server for
``--minutes``; the server's RSS, peak RSS and glibc malloc arenas every ``--every`` seconds.

The question it answers is whether memory grows without bound (a leak) or levels off once
the allocators (glibc arenas per thread, onnxruntime's CPU arena per input shape) have
grown to the working set. It writes one CSV row per sample and ends with the curve's summary:
RSS after warm-up, at the start and end of the last ``--tail`` minutes, growth over that
tail (the target: at most 2 %), and the slope per 5-minute window.

    .venv/bin/python bench/soak.py --minutes 30 --csv /tmp/soak.csv [--env MALLOC_ARENA_MAX=2]

Each client sends its next request ``--think-ms`` after the previous answer; every answer that
is not 2xx is counted as an error (and the first few printed).
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from loadkit import (
    REPO_ROOT,
    load_average,
    malloc_arenas,
    peak_rss_mb,
    rss_mb,
    serve_from,
    shared_images,
)

DETECT_IMAGES = ("ul_bus.jpg", "ul_zidane.jpg", "coffee.jpg", "astronaut.jpg", "chelsea.png")
CLIENTS = 8


class Tally:
    """Answers by operation and status, shared by the client threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[tuple[str, int]] = Counter()
        self.errors: list[str] = []

    def record(self, op: str, status: int, text: str = "") -> None:
        with self.lock:
            self.counts[(op, status)] += 1
            if not 200 <= status < 300 and len(self.errors) < 10:
                self.errors.append(f"{op} {status} {text[:200]}")

    def totals(self) -> tuple[int, int]:
        with self.lock:
            ok = sum(n for (_, s), n in self.counts.items() if 200 <= s < 300)
            return ok, sum(self.counts.values()) - ok


def client_loop(url: str, worker: int, stop: threading.Event, tally: Tally, think_s: float) -> None:
    """One client: detect, classify, recognise, enrol+delete, in turn (offset per worker)."""
    images = shared_images()
    photos = {name: (images / name).read_bytes() for name in DETECT_IMAGES}
    face, other = (images / "fr_obama1.jpg").read_bytes(), (images / "fr_biden1.jpg").read_bytes()
    ops = ("detect", "classify", "recognise", "enrol")
    with httpx.Client(base_url=url, timeout=120.0) as client:
        for n in itertools.count(worker):
            if stop.is_set():
                return
            op = ops[n % len(ops)]
            name = DETECT_IMAGES[n % len(DETECT_IMAGES)]
            try:
                if op == "detect":
                    r = client.post("/detect", files={"image": (name, photos[name])})
                elif op == "classify":
                    r = client.post("/classify", files={"image": (name, photos[name])})
                elif op == "recognise":
                    r = client.post("/recognize-face", files={"image": ("f.jpg", face)})
                else:
                    subject = f"soak-{worker}-{n}"
                    data = {"subject": subject}
                    r = client.post("/faces", data=data, files={"image": ("f.jpg", other)})
                    tally.record("enrol", r.status_code, r.text)
                    r = client.delete(f"/faces/{subject}")
                    op = "delete"
                tally.record(op, r.status_code, r.text)
            except httpx.HTTPError as error:
                tally.record(op, 0, repr(error))
            time.sleep(think_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0, help="minutes before the curve counts")
    parser.add_argument("--tail", type=float, default=20.0, help="minutes judged for growth")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--think-ms", type=float, default=50.0)
    parser.add_argument("--csv", type=Path, default=Path("/tmp/soak.csv"))
    parser.add_argument("--checkout", type=Path, default=REPO_ROOT, help="code to serve")
    parser.add_argument("--models-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    run_dir = Path(tempfile.mkdtemp(prefix="soak-"))
    env.setdefault("VISION_GALLERY_PATH", str(run_dir / "gallery.sqlite3"))
    print(f"soak: {args.minutes:g} min, {CLIENTS} clients, think {args.think_ms:g} ms; env {env}")
    print(f"before: {load_average()}")
    with serve_from("soak", args.checkout, args.models_dir, run_dir / "server.log", env) as server:
        samples = run(server.url, server.pid, args)
    print(f"after: {load_average()}")
    summarise(samples, args.warmup, args.tail)


def run(url: str, pid: int, args: argparse.Namespace) -> list[tuple[float, float]]:
    """Drive the clients, sampling to the CSV; the (minute, RSS MB) curve."""
    stop, tally = threading.Event(), Tally()
    threads = [
        threading.Thread(target=client_loop, args=(url, i, stop, tally, args.think_ms / 1000))
        for i in range(CLIENTS)
    ]
    for thread in threads:
        thread.start()
    start = time.monotonic()
    samples: list[tuple[float, float]] = []
    with args.csv.open("w") as out:
        out.write("minute,rss_mb,peak_rss_mb,malloc_arenas,ok,errors,load1\n")
        while (elapsed := time.monotonic() - start) < args.minutes * 60:
            time.sleep(args.every)
            minute = (time.monotonic() - start) / 60
            rss = rss_mb(pid)
            ok, errors = tally.totals()
            load1 = load_average().split()[2]
            row = f"{minute:.2f},{rss:.1f},{peak_rss_mb(pid):.1f},{malloc_arenas(pid)},{ok},{errors},{load1}"
            out.write(row + "\n")
            out.flush()
            samples.append((minute, rss))
            del elapsed
    stop.set()
    for thread in threads:
        thread.join()
    ok, errors = tally.totals()
    print(f"requests: {ok} answered 2xx, {errors} not; by op/status: {dict(tally.counts)}")
    for line in tally.errors:
        print("  error:", line)
    return samples


def summarise(samples: list[tuple[float, float]], warmup: float, tail: float) -> None:
    """RSS after warm-up, over the tail window, and the slope per 5-minute window."""
    if not samples:
        return
    end = samples[-1][0]

    def at(minute: float) -> float:
        return min(samples, key=lambda s: abs(s[0] - minute))[1]

    tail_start = max(warmup, end - tail)
    first, last = at(tail_start), samples[-1][1]
    print(
        f"RSS at warm-up end ({warmup:g} min): {at(warmup):.1f} MB; max {max(r for _, r in samples):.1f} MB"
    )
    print(
        f"last {end - tail_start:.1f} min: {first:.1f} -> {last:.1f} MB, "
        f"{100 * (last - first) / first:+.2f} % (target: at most +2 %)"
    )
    for lo in range(0, int(end), 5):
        hi = min(lo + 5, end)
        slope = (at(hi) - at(lo)) / max(hi - lo, 1e-9)
        print(f"  {lo:3d}-{hi:5.1f} min: {at(lo):7.1f} -> {at(hi):7.1f} MB ({slope:+.2f} MB/min)")


if __name__ == "__main__":
    main()
