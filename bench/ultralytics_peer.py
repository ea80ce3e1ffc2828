"""The Ultralytics peer of ``bench/serve.py``: its own in-process ``predict()``, measured on
request, run by an interpreter that has ultralytics (never a project dependency).

    <python with ultralytics> bench/ultralytics_peer.py MODEL.onnx IMAGE --imgsz H W \\
        --conf C --iou I --max-det N

It reads one JSON object a line on stdin, ``{"concurrency": c, "requests": n, "warmup": w}``,
and answers each with one JSON line on stdout: a ``rounds.Sample``'s fields (CPU: this whole
process, onnxruntime's threads included) and the boxes the last call found. Concurrency c
means c threads, each with a ``YOLO`` object of its own, as Ultralytics' thread-safe inference
guide asks, created once and reused across rounds. torch (its pre- and post-processing) runs
one thread by default, its best on loaded cores (why: bench/postprocess.py); the ONNX session
is Ultralytics' own, with onnxruntime's default options.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import os
import queue
import sys
from collections.abc import Iterator
from typing import Any

from rounds import Call, measure  # bench/ is on sys.path when this file runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("image")
    parser.add_argument("--imgsz", type=int, nargs=2, required=True, metavar=("H", "W"))
    parser.add_argument("--conf", type=float, required=True)
    parser.add_argument("--iou", type=float, required=True)
    parser.add_argument("--max-det", type=int, required=True)
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args()
    answers, sys.stdout = sys.stdout, sys.stderr  # ultralytics' own prints stay off the pipe
    os.environ.setdefault("YOLO_OFFLINE", "1")  # no update checks
    importlib.import_module("torch").set_num_threads(args.torch_threads)
    yolo = importlib.import_module("ultralytics").YOLO

    options: dict[str, Any] = {
        "imgsz": args.imgsz,
        "conf": args.conf,
        "iou": args.iou,
        "max_det": args.max_det,
        "device": "cpu",
        "verbose": False,
    }
    spare: queue.SimpleQueue[Any] = queue.SimpleQueue()
    found: list[int] = []

    @contextlib.contextmanager
    def make() -> Iterator[Call]:
        try:
            model = spare.get_nowait()
        except queue.Empty:
            model = yolo(args.model, task="detect")

        def call() -> None:
            found[:] = [len(model.predict(args.image, **options)[0].boxes)]

        try:
            yield call
        finally:
            spare.put(model)

    for line in sys.stdin:
        ask = json.loads(line)
        sample = measure(
            make,
            requests=ask["requests"],
            concurrency=ask["concurrency"],
            warmup=ask["warmup"],
        )
        answer = dataclasses.asdict(sample) | {"detections": found[0]}
        print(json.dumps(answer), file=answers, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
