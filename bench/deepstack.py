"""Benchmark: Frigate's DeepStack detector calls against this service, timed as Frigate does.

Frigate's ``deepstack`` detector posts every frame the way ``frigate/detectors/plugins/
deepstack.py`` does: the model-sized RGB tensor (320x320 by default) saved by Pillow as a JPEG,
``requests.post(api_url, data={"api_key": ""}, files={"image": jpeg}, timeout=0.1)`` — a new
connection per request, one request at a time, and 0.1 s before it gives up on the frame.

This script starts ``python -m service serve`` on 127.0.0.1 with the default models (pulled
from the shared mirror into a temporary directory), makes that JPEG from ``ul_bus.jpg``, and
sends N such requests (default 200) to ``/v1/vision/detection``. As the peer, the same client
sends the same JPEG to our own ``POST /detect`` in alternating rounds (who goes first
rotates), so the compat layer's cost shows as a p50 ratio per round, reported as median
(min-max). Latencies are measured with a 10 s timeout so that slow answers are counted ("over
0.1 s": requests Frigate would have dropped) rather than lost.

    .venv/bin/python bench/deepstack.py [--requests N] [--rounds R]

Shared data: ``$VISION_SHARED_DIR``, else ``shared/`` beside the repository.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import requests
from loadkit import load_average
from PIL import Image
from rounds import rotated, spread
from serve import pull_models, running_server, shared_dir

FRIGATE_TIMEOUT_S = 0.1
FRAME = 320
IMAGE = "ul_bus.jpg"


def frigate_jpeg(photo: Path, size: int = FRAME) -> bytes:
    """The frame as Frigate encodes it: RGB array -> Image.fromarray -> save(format="JPEG")."""
    pixels = np.asarray(Image.open(photo).convert("RGB").resize((size, size)), dtype=np.uint8)
    with io.BytesIO() as output:
        Image.fromarray(pixels).save(output, format="JPEG")
        return output.getvalue()


def frigate_call(url: str, jpeg: bytes) -> tuple[float, dict[str, object]]:
    """One request exactly as Frigate sends it (bar the timeout); seconds and the answer."""
    start = time.perf_counter()
    response = requests.post(url, data={"api_key": ""}, files={"image": jpeg}, timeout=10)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed, response.json()


def percentile_ms(latencies: list[float], q: float) -> float:
    return float(np.percentile(latencies, q)) * 1000.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="per row (default 200)")
    parser.add_argument("--rounds", type=int, default=4, help="alternations between rows")
    args = parser.parse_args()

    jpeg = frigate_jpeg(shared_dir() / "images" / IMAGE)
    with tempfile.TemporaryDirectory() as tmp:
        models_dir = Path(tmp) / "models"
        pull_models(shared_dir() / "models", models_dir, ())
        with running_server(models_dir, Path(tmp) / "server.log") as (base_url, _pid):
            rows = {
                "/v1/vision/detection (Frigate)": f"{base_url}/v1/vision/detection",
                "/detect (peer)": f"{base_url}/detect",
            }
            for url in rows.values():  # warm-up: first requests pay for lazy allocations
                for _ in range(10):
                    frigate_call(url, jpeg)
            latencies: dict[str, list[float]] = {name: [] for name in rows}
            ratios: list[float] = []  # compat p50 / peer p50, one per round
            process_ms: list[float] = []
            counts: list[int] = []
            per_round = [args.requests // args.rounds] * args.rounds
            per_round[-1] += args.requests - sum(per_round)
            for index, count in enumerate(per_round):
                this_round: dict[str, list[float]] = {name: [] for name in rows}
                for name in rotated(list(rows), index):
                    for _ in range(count):
                        elapsed, answer = frigate_call(rows[name], jpeg)
                        this_round[name].append(elapsed)
                        if "processMs" in answer:
                            process_ms.append(float(answer["processMs"]))  # type: ignore[arg-type]
                            counts.append(int(answer["count"]))  # type: ignore[call-overload]
                for name, values in this_round.items():
                    latencies[name].extend(values)
                compat_round, peer_round = this_round.values()
                ratios.append(statistics.median(compat_round) / statistics.median(peer_round))

    print(load_average())
    print(
        f"{IMAGE} resized to {FRAME}x{FRAME}, JPEG {len(jpeg)} bytes; {args.requests} "
        f"requests per row, sequential, new connection each (as Frigate), {args.rounds} rounds"
    )
    print(f"{'route':<32} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'> 0.1 s':>8}")
    for name, values in latencies.items():
        over = sum(v > FRIGATE_TIMEOUT_S for v in values)
        print(
            f"{name:<32} {percentile_ms(values, 50):8.1f} {percentile_ms(values, 90):8.1f} "
            f"{percentile_ms(values, 99):8.1f} {max(values) * 1000:8.1f} {over:>8}"
        )
    print(f"p50 ratio compat / peer per round: {spread(ratios)} (median (min-max))")
    print(
        f"server-side processMs median {statistics.median(process_ms):.0f}; "
        f"objects per frame (min_confidence 0.4): {min(counts)}..{max(counts)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
