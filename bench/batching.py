"""Benchmark: dynamic batching on against off, through the real pipeline, in one process.

Two model registries over the same dynamic-batch export (Ultralytics' ``yolov8n_dynamic.onnx``
from ``shared/oracle``: batch axis ``batch``, random but conditioned weights) differ only in
``batch_max``: 1 (off) or ``--batch-max`` with ``--wait-ms``. Each request is what the server
does for ``POST /detect`` without HTTP: ``decode_image`` on ``ul_bus.jpg``'s bytes, then
``Detector.run``. Concurrency c means c threads, each sending its next request as soon as its
previous one answers (no admission gate: at c=8 a batch can hold all 8).

At c=1 the two take turns request by request; at c=8 rounds alternate which goes first. Each
round prints on/off ratios: requests/s at c=8 (above 1: batching helps) and p50 latency at c=1
(above 1: batching costs the lone request its wait). The summary gives their medians with min-max, the rule for the default (on
only if c=8 requests/s rises and c=1 p50 grows by at most 5 %), and whether every batched
answer equalled the unbatched one. Thread settings come from the ``VISION_*`` environment,
the same for both registries.

    .venv/bin/python bench/batching.py [--rounds R] [--requests N] [--lone N] [--batch-max B]
                                       [--wait-ms W]

Shared data: ``$VISION_SHARED_DIR``, else ``shared/`` beside the repository.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from loadkit import load_average, shared_images  # bench/ is on sys.path when this file runs

from service.pipelines.detector import Detector
from service.pipelines.images import decode_image
from service.pipelines.registry import ModelRegistry
from service.pipelines.results import DetectionResult
from service.settings import Settings

MODEL = "yolov8n_dynamic"
IMAGE = "ul_bus.jpg"
MAX_PIXELS = 40_000_000
MAX_LATENCY_GROWTH = 1.05  # c=1 p50, on / off, at most, for batching to be on by default


@dataclass(frozen=True)
class Sample:
    p50_ms: float
    per_s: float
    answers: list[DetectionResult]


def models_folder(root: Path) -> Path:
    """``root/yolov8n_dynamic/`` linking the oracle's export and its external weights."""
    oracle = shared_images().parent / "oracle" / "models"
    folder = root / MODEL
    folder.mkdir(parents=True)
    (folder / "model.onnx").symlink_to(oracle / f"{MODEL}.onnx")
    for weights in oracle.glob("*.weights.bin"):
        (folder / weights.name).symlink_to(weights)
    return root


def detector(models: Path, batch_max: int, wait_ms: float) -> Detector:
    settings = Settings(models_dir=models, batch_max=batch_max, batch_wait_ms=wait_ms)
    registry = ModelRegistry(settings)
    registry.load_all()
    return registry.get(Detector, MODEL)


def measure(model: Detector, image: bytes, concurrency: int, requests: int) -> Sample:
    """c threads, one warm-up each, then ``requests`` requests in all, timed from the moment
    all are warm to the last answer."""
    per_thread = max(1, requests // concurrency)
    latencies: list[float] = []
    answers: list[DetectionResult] = []
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)

    def detect() -> DetectionResult:
        return model.run(decode_image(image, max_pixels=MAX_PIXELS).pixels)

    def worker() -> None:
        detect()
        start.wait()
        for _ in range(per_thread):
            began = time.perf_counter()
            answer = detect()
            with lock:
                latencies.append(time.perf_counter() - began)
                answers.append(answer)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return Sample(1000 * statistics.median(latencies), len(latencies) / elapsed, answers)


def paired(modes: dict[str, Detector], image: bytes, requests: int) -> dict[str, Sample]:
    """c=1: one request at a time, off and on taking turns (order swapped each pair), so that
    the machine's load falls on both alike; p50 per mode (requests/s: 1000 / mean)."""
    latencies: dict[str, list[float]] = {mode: [] for mode in modes}
    answers: dict[str, list[DetectionResult]] = {mode: [] for mode in modes}
    names = list(modes)
    for i in range(requests):
        for mode in names if i % 2 == 0 else names[::-1]:
            began = time.perf_counter()
            answers[mode].append(modes[mode].run(decode_image(image, max_pixels=MAX_PIXELS).pixels))
            latencies[mode].append(time.perf_counter() - began)
    return {
        mode: Sample(
            1000 * statistics.median(latencies[mode]),
            1 / statistics.mean(latencies[mode]),
            answers[mode],
        )
        for mode in names
    }


def same(a: DetectionResult, b: DetectionResult) -> bool:
    return (
        np.array_equal(a.xyxy, b.xyxy)
        and np.array_equal(a.class_id, b.class_id)
        and np.array_equal(a.confidence, b.confidence)
    )


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=24, help="timed requests per c=8 run")
    parser.add_argument("--lone", type=int, default=10, help="c=1 request pairs per round")
    parser.add_argument("--batch-max", type=int, default=8)
    parser.add_argument("--wait-ms", type=float, default=2.0)
    args = parser.parse_args()

    image = (shared_images() / IMAGE).read_bytes()
    env = {k: v for k, v in sorted(os.environ.items()) if k.startswith("VISION_")}
    print(f"{MODEL} on {IMAGE}; batch_max {args.batch_max}, wait {args.wait_ms} ms; env {env}")
    print(f"start: {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        models = models_folder(Path(tmp))
        modes = {
            "off": detector(models, 1, args.wait_ms),
            "on": detector(models, args.batch_max, args.wait_ms),
        }
        reference = modes["off"].run(decode_image(image, max_pixels=MAX_PIXELS).pixels)
        throughput: list[float] = []
        latency: list[float] = []
        mismatches = answered = 0
        print("round  c=1 p50 off/on ms  c=8 req/s off/on  c=8 p50 off/on ms  ratios")
        for round_ in range(args.rounds):
            order = ("off", "on") if round_ % 2 == 0 else ("on", "off")
            lone = paired(modes, image, args.lone)
            samples = {(mode, 1): lone[mode] for mode in modes}
            for mode in order:
                samples[mode, 8] = measure(modes[mode], image, 8, args.requests)
            for sample in samples.values():
                answered += len(sample.answers)
                mismatches += sum(not same(answer, reference) for answer in sample.answers)
            throughput.append(samples["on", 8].per_s / samples["off", 8].per_s)
            latency.append(samples["on", 1].p50_ms / samples["off", 1].p50_ms)
            print(
                f"{round_ + 1:5}  {samples['off', 1].p50_ms:7.1f} / {samples['on', 1].p50_ms:7.1f}"
                f"  {samples['off', 8].per_s:6.2f} / {samples['on', 8].per_s:6.2f}"
                f"  {samples['off', 8].p50_ms:7.1f} / {samples['on', 8].p50_ms:7.1f}"
                f"  c=8 req/s on/off {throughput[-1]:.3f}, c=1 p50 on/off {latency[-1]:.3f}"
            )
    print(f"end: {load_average()}")
    print(f"c=8 requests/s, on / off: {spread(throughput)}  (median, min-max over rounds)")
    print(f"c=1 p50 latency, on / off: {spread(latency)}")
    keep = statistics.median(throughput) > 1 and statistics.median(latency) <= MAX_LATENCY_GROWTH
    print(f"on by default by the rule (c=8 up, c=1 p50 within +5 %): {'yes' if keep else 'no'}")
    print(f"answers equal to the unbatched reference: {answered - mismatches} of {answered}")


if __name__ == "__main__":
    main()
