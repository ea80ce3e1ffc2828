"""Benchmark: ``POST /detect`` through the real HTTP service against onnxruntime alone and
against Ultralytics' own ``predict()``, in alternating rounds with per-round ratios.

Per detector (``yolox_nano``, the default, and ``yolov8n_coco_dynint8``, the YOLOv8n int8
export), on ``ul_bus.jpg``, at concurrency 1 and 8:

  service            a real ``python -m service serve`` (uvicorn) subprocess on 127.0.0.1, with
                     this environment's ``VISION_*`` settings and models pulled from the shared
                     mirror into a temporary directory; ``httpx`` posts the multipart image (one
                     keep-alive client per worker thread). CPU: the server process, from /proc.
  in-process         ``decode_image`` + ``Detector.run`` in this process: the server's work
                     without HTTP (where the time goes, not a target).
  ort alone          ``InferenceSession.run`` on the already preprocessed tensor, the SAME
                     session options as the service (``service.threads.ThreadPlan``: intra-op
                     threads, spinning), callers taking the same CPU turns as the service's runs
                     (and a lone run on a lone-run session, as the service's; cpu_runs),
                     each call counted as a request held, as the service counts them.
  ort alone, free    the shared session, callers not taking turns. The c=8 targets compare with
                     the better of the two ort rows in each round (more req/s, less CPU).
  decode alone       ``decode_image`` in this process: the one stage no server can skip. Its CPU
                     per request against ort alone's bounds (a) and (d) whatever the rest costs
                     ("ceiling"/"floor" lines: ort CPU / (ort + decode CPU) and its inverse).
  ultralytics        ``YOLO(<same .onnx>).predict(<image path>)`` with the same input size and
                     thresholds, in a separate interpreter that has ultralytics
                     (``--ultralytics-python``; bench/ultralytics_peer.py), one ``YOLO`` per
                     thread (Ultralytics' thread-safe inference guide); YOLOv8 only (it cannot
                     run YOLOX). Its CPU: that whole process.

Concurrency c means c threads, each sending its next request as soon as the previous one
answers; requests/s is counted while all c are busy. Every round measures every contender of
a model at c=1 and then at c=8, the order rotating from round to round, and prints its table
and its ratios; the summary gives each ratio's median and min-max over the rounds, so a
neighbour's load on these shared cores shows as spread instead of passing for a result. The
load generator runs on the same cores as the server; its own CPU per request is the service
rows' "caller ms/req".

    .venv/bin/python bench/serve.py [--rounds R] [--requests N] [--models A,B]
        [--ultralytics-python PATH]

Shared data: ``$VISION_SHARED_DIR``, else ``shared/`` beside the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
from loadkit import load_average, serve_from  # bench/ is on sys.path when this file runs
from rounds import (
    Call,
    MakeCall,
    Ratios,
    Sample,
    Target,
    measure,
    process_cpu_s,
    rotated,
    shared_call,
)

from service.pipelines.detector import Detector
from service.pipelines.images import decode_image
from service.pipelines.registry import ModelRegistry
from service.runtime.cpu_runs import REQUESTS
from service.runtime.session import cpu_runs
from service.settings import Settings
from service.threads import ThreadPlan

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGE = "ul_bus.jpg"
DEFAULT_MODELS = ("yolox_nano", "yolov8n_coco_dynint8")
ULTRALYTICS_MODELS = {"yolov8n_coco_dynint8"}  # ultralytics runs its own layouts, not YOLOX
CONCURRENCY = (1, 8)
SERVICE, IN_PROCESS, ORT, ORT_FREE, DECODE, ULTRALYTICS = (
    "service",
    "in-process",
    "ort alone",
    "ort alone, free",
    "decode alone",
    "ultralytics",
)
TARGETS = {
    "(a) service req/s / ort alone, c=8": Target(0.85, at_most=False),
    "(b) service p50 / ultralytics p50, c=1": Target(1.0, at_most=True),
    "(c) service req/s / ultralytics, c=8": Target(2.0, at_most=False),
    "(d) server CPU/req / ort alone, c=8": Target(1.3, at_most=True),
}
StageLog = list[dict[str, float]]  # per request: stage name -> milliseconds
STAGES = ("decode", "preprocess", "inference", "postprocess", "total")
Measure = Callable[[int, int, int], Sample]  # concurrency, requests, warm-up -> Sample


def shared_dir() -> Path:
    return Path(os.environ.get("VISION_SHARED_DIR", REPO_ROOT.parent / "shared"))


# -- the HTTP service ------------------------------------------------------------------------


def pull_models(mirror: Path, models_dir: Path, names: tuple[str, ...]) -> None:
    """The default set plus ``names``, through the service's own ``pull`` command."""
    base = [sys.executable, "-m", "service", "pull", "--from", str(mirror)]
    for extra in ([], list(names)):
        done = subprocess.run(
            [*base, "--models-dir", str(models_dir), *extra],
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"pull failed ({done.returncode}):\n{done.stderr}")


@contextlib.contextmanager
def running_server(models_dir: Path, log_path: Path) -> Iterator[tuple[str, int]]:
    """A ``python -m service serve`` subprocess of this checkout with this environment's
    ``VISION_*`` settings, yielded (base URL, pid) once it is ready."""
    settings = {key: value for key, value in os.environ.items() if key.startswith("VISION_")}
    with serve_from("service", REPO_ROOT, models_dir, log_path, settings) as server:
        yield server.url, server.pid


def multipart_body(image: bytes, filename: str) -> tuple[bytes, str]:
    """The upload encoded once, so the load generator spends no CPU re-encoding it."""
    request = httpx.Request(
        "POST", "http://localhost/", files={"image": (filename, image, "image/jpeg")}
    )
    return request.read(), request.headers["content-type"]


def http_detect_call(
    base_url: str, model: str, body: bytes, content_type: str, expected: int, stages: StageLog
) -> MakeCall:
    """Per worker: a keep-alive client posting the image; a wrong answer raises. The server's
    own ``timings_ms`` go to ``stages``."""

    @contextlib.contextmanager
    def make() -> Iterator[Call]:
        headers = {"content-type": content_type}
        with httpx.Client(base_url=base_url, timeout=60.0) as client:

            def call() -> None:
                response = client.post(
                    "/detect", params={"model": model}, content=body, headers=headers
                )
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
                answer = response.json()
                found = len(answer["detections"])
                if found != expected:
                    raise RuntimeError(f"{found} detections over HTTP, {expected} in-process")
                stages.append(answer["timings_ms"])

            yield call

    return make


# -- in-process and onnxruntime alone --------------------------------------------------------


def pipeline_call(detector: Detector, image: bytes, max_pixels: int) -> MakeCall:
    """What the server runs per request, without HTTP."""

    def call() -> None:
        with REQUESTS.hold():  # as the service counts its requests
            detector.run(decode_image(image, max_pixels=max_pixels).pixels)

    return shared_call(call)


def decode_call(image: bytes, max_pixels: int) -> MakeCall:
    """The server's decode of the upload, alone."""

    def call() -> None:
        decode_image(image, max_pixels=max_pixels)

    return shared_call(call)


class _Recorder:
    """Stands in for a detector's runner for one call, to keep the tensor it is fed."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.providers_requested = runner.providers_requested
        self.providers_used = runner.providers_used
        self.fed: Any = None

    def run(self, inputs: Any) -> Any:
        self.fed = inputs
        return self.runner.run(inputs)


def model_input(detector: Detector, pixels: np.ndarray) -> Any:
    """The exact tensor the service's pipeline feeds the model for ``pixels``."""
    recorder = _Recorder(detector.runner)
    detector.runner = recorder
    try:
        detector.run(pixels)
    finally:
        detector.runner = recorder.runner
    return recorder.fed


def onnxruntime_calls(
    model_path: Path, tensor: Any, settings: Settings, plan: ThreadPlan
) -> tuple[MakeCall, MakeCall]:
    """Sessions of their own with the service's options, fed the preprocessed tensor: callers
    taking the service's CPU turns (a lone run on the lone-run session, as the service's), and
    callers running freely on the shared session."""
    runs = cpu_runs(model_path, settings, plan)
    session = runs.shared
    feeds = {session.get_inputs()[0].name: tensor}

    def taking_turns() -> None:
        with REQUESTS.hold():  # as the service counts its requests
            runs.run(feeds)

    def free() -> None:
        session.run(None, feeds)

    return shared_call(taking_turns), shared_call(free)


# -- ultralytics, in its own interpreter -----------------------------------------------------


class UltralyticsPeer:
    """bench/ultralytics_peer.py in ``python``, asked for one sample at a time."""

    def __init__(
        self, python: str, model_path: Path, detector: Detector, image: Path, log: Path
    ) -> None:
        post = detector.spec.postprocess
        height, width = detector.spec.input.size
        command = [python, str(Path(__file__).with_name("ultralytics_peer.py")), str(model_path)]
        command += [str(image), "--imgsz", str(height), str(width), "--conf", str(post.confidence)]
        command += ["--iou", str(post.iou), "--max-det", str(post.max_detections)]
        self._log = log
        with log.open("wb") as sink:  # ultralytics' own prints
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=sink,
                text=True,
                cwd=REPO_ROOT,
            )
        self._lock = threading.Lock()
        self.sample(1, 1, 1)  # imports torch and loads the model now, not during a round

    def sample(self, concurrency: int, requests: int, warmup: int) -> Sample:
        ask = {"concurrency": concurrency, "requests": requests, "warmup": warmup}
        with self._lock:
            assert self._process.stdin is not None and self._process.stdout is not None
            self._process.stdin.write(json.dumps(ask) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        if not line:
            tail = self._log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"the ultralytics peer exited ({self._process.wait()}):\n{tail}")
        answer = json.loads(line)
        self.detections: int = answer.pop("detections")
        return Sample(**answer)

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=30)


# -- rounds ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    rounds: int
    requests: int  # at c=8; c=1 takes half

    def requests_at(self, concurrency: int) -> int:
        return self.requests if concurrency > 1 else max(4, self.requests // 2)

    @staticmethod
    def warmup(concurrency: int) -> int:
        return max(2, 8 // concurrency)


def local(make: MakeCall, cpu: Callable[[], float | None] = time.process_time) -> Measure:
    def sample(concurrency: int, requests: int, warmup: int) -> Sample:
        return measure(make, requests=requests, concurrency=concurrency, warmup=warmup, cpu=cpu)

    return sample


def run_round(
    contenders: dict[str, Measure], plan: Plan, round_index: int
) -> dict[tuple[str, int], Sample]:
    """Every contender at c=1, then at c=8, the order rotating with the round."""
    samples = {}
    for concurrency in CONCURRENCY:
        for name in rotated(list(contenders), round_index):
            sample = contenders[name](
                concurrency, plan.requests_at(concurrency), plan.warmup(concurrency)
            )
            if sample.errors:
                raise SystemExit(
                    f"{name}, c={concurrency}: {sample.errors} errors: {sample.first_error}"
                )
            samples[(name, concurrency)] = sample
    return samples


def round_ratios(samples: dict[tuple[str, int], Sample], ratios: Ratios) -> None:
    """This round's ratios, against the best peer row of the round."""
    service1, service8 = samples[(SERVICE, 1)], samples[(SERVICE, 8)]
    alone = [samples[(name, 8)] for name in (ORT, ORT_FREE)]
    ratios.add(
        "(a) service req/s / ort alone, c=8",
        service8.per_second / max(s.per_second for s in alone),
    )
    cpu_alone = [s.cpu_ms_per_request for s in alone if s.cpu_ms_per_request]
    if service8.cpu_ms_per_request and cpu_alone:
        ratios.add(
            "(d) server CPU/req / ort alone, c=8", service8.cpu_ms_per_request / min(cpu_alone)
        )
    if (ULTRALYTICS, 1) in samples:
        ratios.add(
            "(b) service p50 / ultralytics p50, c=1",
            service1.percentile_ms(50) / samples[(ULTRALYTICS, 1)].percentile_ms(50),
        )
        ratios.add(
            "(c) service req/s / ultralytics, c=8",
            service8.per_second / samples[(ULTRALYTICS, 8)].per_second,
        )
    decode_bounds(samples, ratios)
    inproc1, inproc8 = samples[(IN_PROCESS, 1)], samples[(IN_PROCESS, 8)]
    best_alone = max(s.per_second for s in alone)
    ratios.add("    in-process req/s / ort alone, c=8", inproc8.per_second / best_alone)
    latency = service1.percentile_ms(50) / inproc1.percentile_ms(50)
    ratios.add("    service p50 / in-process p50, c=1", latency)


def decode_bounds(samples: dict[tuple[str, int], Sample], ratios: Ratios) -> None:
    """What each target could reach if the server added nothing but the decode to onnxruntime
    alone (no preprocessing, postprocessing, HTTP or load generator): with the cores busy,
    req/s go as 1 / CPU per request, so (a) is at most ort / (ort + decode) CPU, and (c) that
    times ort alone's lead; at c=1, (b) is at least (ort p50 + decode p50) / Ultralytics p50."""
    alone = [samples[(name, 8)] for name in (ORT, ORT_FREE)]
    ort_ms = min((s.cpu_ms_per_request for s in alone if s.cpu_ms_per_request), default=None)
    decode_cpu = [samples[(DECODE, c)].cpu_ms_per_request for c in CONCURRENCY]
    decode_ms = min((ms for ms in decode_cpu if ms), default=None)
    if ort_ms is None or decode_ms is None:
        return
    ceiling = ort_ms / (ort_ms + decode_ms)
    ratios.add("    (a) at most, decode alone added: ort/(ort+decode) CPU", ceiling)
    ratios.add("    (d) at least, decode alone added: (ort+decode)/ort CPU", 1.0 / ceiling)
    if (ULTRALYTICS, 1) in samples:
        best_alone = max(s.per_second for s in alone)
        lead = best_alone / samples[(ULTRALYTICS, 8)].per_second
        ratios.add("    (c) at most, decode alone added", ceiling * lead)
        fastest = samples[(ORT, 1)].percentile_ms(50) + samples[(DECODE, 1)].percentile_ms(50)
        ratios.add(
            "    (b) at least, decode alone added",
            fastest / samples[(ULTRALYTICS, 1)].percentile_ms(50),
        )


HEADER = (
    f"    {'contender':16} {'c':>2} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>7} {'CPU ms/req':>10} "
    f"{'caller ms/req':>13}"
)


def sample_line(name: str, concurrency: int, sample: Sample) -> str:
    return median_line(name, concurrency, [sample])


def median_lines(history: list[dict[tuple[str, int], Sample]]) -> list[str]:
    """Each contender's medians over the rounds."""
    return [HEADER] + [median_line(*key, [entry[key] for entry in history]) for key in history[0]]


def median_line(name: str, concurrency: int, samples: list[Sample]) -> str:
    """A contender's row: medians over ``samples``. The callers' CPU is shown for the service
    alone, where the callers are the load generator rather than the work itself."""
    cpu = _median_ms([s.cpu_ms_per_request for s in samples])
    caller = _median_ms([s.caller_cpu_ms_per_request for s in samples]) if name == SERVICE else "-"
    return (
        f"    {name:16} {concurrency:>2} "
        f"{statistics.median(s.percentile_ms(50) for s in samples):8.1f} "
        f"{statistics.median(s.percentile_ms(95) for s in samples):8.1f} "
        f"{statistics.median(s.per_second for s in samples):7.1f} {cpu:>10} {caller:>13}"
    )


def _median_ms(values: list[float | None]) -> str:
    known = [value for value in values if value is not None]
    return f"{statistics.median(known):.1f}" if known else "-"


def stage_line(log: StageLog) -> str:
    """The server's own ``timings_ms`` medians (its total starts at the route)."""
    if not log:
        return ""
    return "    server stages p50 ms: " + ", ".join(
        f"{stage} {statistics.median(entry[stage] for entry in log):.1f}" for stage in STAGES
    )


# -- main ------------------------------------------------------------------------------------


def default_ultralytics_python() -> str | None:
    """This interpreter when it has ultralytics (a dev environment), else none."""
    import importlib.util

    return sys.executable if importlib.util.find_spec("ultralytics") else None


def header_lines(plan: Plan, threads: ThreadPlan, settings: Settings) -> list[str]:
    loaded = os.getloadavg()[0] > (os.cpu_count() or 1)
    fields = ", ".join(f"{f.name}={getattr(threads, f.name)}" for f in dataclasses.fields(threads))
    return [
        f"POST /detect on {IMAGE}: {plan.rounds} alternating rounds, {plan.requests_at(1)} "
        f"timed requests per contender at c=1, {plan.requests_at(8)} at c=8",
        f"machine: {platform.platform()}, Python {platform.python_version()}, "
        f"onnxruntime {ort.__version__}",
        load_average() + (" (above the core count: loaded-machine numbers)" if loaded else ""),
        f"threads (service and ort alone alike): {fields}; "
        f"graph_optimization={settings.graph_optimization}",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument(
        "--requests", type=int, default=80, help="timed requests per round at c=8 (half at c=1)"
    )
    parser.add_argument(
        "--models", default=",".join(DEFAULT_MODELS), help="comma-separated (default: %(default)s)"
    )
    parser.add_argument(
        "--ultralytics-python",
        default=default_ultralytics_python(),
        help="an interpreter with ultralytics for the peer (default: this one if it has it)",
    )
    args = parser.parse_args()
    plan = Plan(rounds=max(1, args.rounds), requests=max(8, args.requests))
    models = tuple(name.strip() for name in args.models.split(",") if name.strip())
    shared = shared_dir()
    image_path = shared / "images" / IMAGE
    if not (shared / "models").is_dir() or not image_path.is_file():
        print(f"shared data not found under {shared} (set VISION_SHARED_DIR)", file=sys.stderr)
        return 2
    image = image_path.read_bytes()

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp, contextlib.ExitStack() as stack:
        models_dir = Path(tmp) / "models"
        pull_models(shared / "models", models_dir, models)
        settings = Settings(models_dir=models_dir)
        threads = ThreadPlan.for_machine(settings)
        registry = ModelRegistry(settings)
        registry.load_all()
        base_url, pid = stack.enter_context(running_server(models_dir, Path(tmp) / "server.log"))
        body, content_type = multipart_body(image, IMAGE)
        pixels = decode_image(image, max_pixels=settings.max_pixels).pixels
        contenders: dict[str, dict[str, Measure]] = {}
        found: dict[str, int] = {}
        peers: dict[str, UltralyticsPeer] = {}
        stages: dict[str, StageLog] = {}
        for name in models:
            detector = registry.get(Detector, name)
            model_path = models_dir / name / "model.onnx"
            stages[name] = []
            expected = found[name] = len(detector.run(pixels).xyxy)
            turns, free = onnxruntime_calls(
                model_path, model_input(detector, pixels), settings, threads
            )
            contenders[name] = {
                SERVICE: local(
                    http_detect_call(base_url, name, body, content_type, expected, stages[name]),
                    cpu=lambda: process_cpu_s(pid),
                ),
                IN_PROCESS: local(pipeline_call(detector, image, settings.max_pixels)),
                ORT: local(turns),
                ORT_FREE: local(free),
                DECODE: local(decode_call(image, settings.max_pixels)),
            }
            if name in ULTRALYTICS_MODELS and args.ultralytics_python:
                log = Path(tmp) / f"ultralytics-{name}.log"
                peer = UltralyticsPeer(
                    args.ultralytics_python, model_path, detector, image_path, log
                )
                stack.callback(peer.close)
                peers[name] = peer
                contenders[name][ULTRALYTICS] = peer.sample

        for line in header_lines(plan, threads, settings):
            print(line, flush=True)
        history: dict[str, list[dict[tuple[str, int], Sample]]] = {name: [] for name in models}
        ratios = {name: Ratios() for name in models}
        for index in range(plan.rounds):
            print(f"\nround {index + 1}/{plan.rounds}, {load_average()}")
            for name in models:
                samples = run_round(contenders[name], plan, index)
                history[name].append(samples)
                round_ratios(samples, ratios[name])
                print(f"  {name}\n{HEADER}")
                for (what, concurrency), sample in samples.items():
                    print(sample_line(what, concurrency, sample))
                for ratio, values in ratios[name].values.items():
                    print(f"    {ratio}: {values[-1]:.2f}")
                sys.stdout.flush()

    print(f"\nsummary: medians over {plan.rounds} rounds; {load_average()}")
    for name in models:
        print(f"  {name}")
        print("\n".join(median_lines(history[name])))
        print(stage_line(stages[name]))
        print("    per-round ratios, median (min-max); the c=8 ones against the better ort row:")
        print("\n".join("  " + line for line in ratios[name].lines(TARGETS)))
        if name in peers:
            print(f"    boxes found: service {found[name]}, ultralytics {peers[name].detections}")
        else:
            why = "it cannot run this layout" if name not in ULTRALYTICS_MODELS else "no peer"
            print(f"    ultralytics: n/a ({why})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
