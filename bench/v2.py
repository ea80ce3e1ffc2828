"""Benchmark: Open Inference Protocol ``infer`` (binary tensors) against onnxruntime alone.

What the protocol costs on top of the model: ``POST /v2/models/yolox_nano/infer`` on a real
``python -m service serve`` (uvicorn on 127.0.0.1, the default models pulled from the shared
mirror), with the body tritonclient sends for binary tensors (a JSON header, then the
1x3x416x416 FP32 input; the output asked back as binary data), against
``InferenceSession.run`` on the same tensor in this process with the service's session
options and CPU turns (``service.threads``). Concurrency c means c threads, each sending its
next request when the previous one answers (one keep-alive httpx client per thread; the body is
built once).

The two rows alternate in rounds at each concurrency (who goes first rotates), so that load
from other users of these shared cores falls on both alike; each round gives a ratio (service /
onnxruntime) of p50 and of requests/s, and the table shows their median and spread over the
rounds. The load generator runs on the same cores as the server.

    .venv/bin/python bench/v2.py [--requests N] [--rounds R]

Shared data: ``$VISION_SHARED_DIR``, else ``shared/`` beside the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
from loadkit import load_average
from rounds import Call, MakeCall, Sample, measure, rotated, shared_call, spread
from serve import pull_models, running_server, shared_dir

from service.runtime.session import cpu_runs
from service.settings import Settings
from service.threads import ThreadPlan

MODEL = "yolox_nano"
CONCURRENCY = (1, 8)
HEADER_LENGTH = "Inference-Header-Content-Length"


def binary_request(
    x: np.ndarray, input_name: str, output_name: str
) -> tuple[bytes, dict[str, str]]:
    """The body and headers tritonclient's HTTP ``infer`` sends for one binary input and one
    binary output."""
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": input_name,
                    "shape": list(x.shape),
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": x.nbytes},
                }
            ],
            "outputs": [{"name": output_name, "parameters": {"binary_data": True}}],
        }
    ).encode()
    return header + x.tobytes(), {HEADER_LENGTH: str(len(header))}


def v2_call(base_url: str, body: bytes, headers: dict[str, str], expected: bytes) -> MakeCall:
    """Per worker: a keep-alive client posting the binary request; a wrong answer raises."""

    @contextlib.contextmanager
    def make() -> Iterator[Call]:
        with httpx.Client(base_url=base_url, timeout=60.0) as client:

            def call() -> None:
                response = client.post(f"/v2/models/{MODEL}/infer", content=body, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
                start = int(response.headers[HEADER_LENGTH])
                if response.content[start:] != expected:
                    raise RuntimeError("the output differs from onnxruntime's")

            yield call

    return make


def median(samples: list[Sample], value: Callable[[Sample], float]) -> float:
    return statistics.median(value(sample) for sample in samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=150, help="timed requests per row per round"
    )
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    args = parser.parse_args()
    settings = Settings()
    with tempfile.TemporaryDirectory() as folder:
        models_dir = Path(folder) / "models"
        pull_models(shared_dir() / "models", models_dir, ())
        model_path = models_dir / MODEL / "model.onnx"
        # The CPU turns the service's runs take, a lone run on a lone-run session as its.
        runs = cpu_runs(model_path, settings, ThreadPlan.for_machine(settings))
        session = runs.shared
        input_name, output_name = session.get_inputs()[0].name, session.get_outputs()[0].name
        x = np.random.default_rng(18).random((1, 3, 416, 416), dtype=np.float32)
        expected = session.run(None, {input_name: x})[0].tobytes()
        body, headers = binary_request(x, input_name, output_name)

        def run_alone() -> None:
            runs.run({input_name: x})

        alone = shared_call(run_alone)
        rows: dict[tuple[int, str], list[Sample]] = {}
        with running_server(models_dir, Path(folder) / "server.log") as (base_url, _):
            service = v2_call(base_url, body, headers, expected)
            load = load_average()
            for index in range(args.rounds):
                for c in CONCURRENCY:
                    contenders = [("v2 infer (binary)", service), ("onnxruntime alone", alone)]
                    for name, make in rotated(contenders, index):
                        sample = measure(make, requests=args.requests, concurrency=c, warmup=3)
                        if sample.errors:
                            raise SystemExit(
                                f"{name}: {sample.errors} errors: {sample.first_error}"
                            )
                        rows.setdefault((c, name), []).append(sample)
    print(
        f"{MODEL}, 1x3x416x416 FP32 in, binary out; {args.requests} timed requests per row in "
        f"each of {args.rounds} alternating rounds; onnxruntime {ort.__version__}\n"
        f"before: {load}\nafter: {load_average()}"
    )
    print()
    print("Values: medians over the rounds.")
    print("| c | row | requests/s | p50 ms | p95 ms | p50 ratio | req/s ratio |")
    print("|---|---|---|---|---|---|---|")
    for c in CONCURRENCY:
        v2, ort_rows = rows[(c, "v2 infer (binary)")], rows[(c, "onnxruntime alone")]
        p50_ratios = [
            a.percentile_ms(50) / b.percentile_ms(50) for a, b in zip(v2, ort_rows, strict=True)
        ]
        rate_ratios = [a.per_second / b.per_second for a, b in zip(v2, ort_rows, strict=True)]
        for name, samples in (("v2 infer (binary)", v2), ("onnxruntime alone", ort_rows)):
            ratios = (spread(p50_ratios), spread(rate_ratios)) if samples is v2 else ("", "")
            print(
                f"| {c} | {name} | {median(samples, lambda s: s.per_second):.1f} | "
                f"{median(samples, lambda s: s.percentile_ms(50)):.2f} | "
                f"{median(samples, lambda s: s.percentile_ms(95)):.2f} | "
                f"{ratios[0]} | {ratios[1]} |"
            )
    print()
    print("Ratios are service / onnxruntime alone, per round: median (min-max).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
