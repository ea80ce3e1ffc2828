"""Benchmark: ``POST /detect`` through the real HTTP service against the same work without it.

One table, for ``ul_bus.jpg`` at concurrency 1 and 8, per detector (the default ``yolox_nano``
and ``yolov8n_coco_dynint8``, the ultralytics-format model), with p50 / p95 latency, requests/s
and CPU milliseconds per request:

  service HTTP       a real ``python -m service serve`` (uvicorn) subprocess on 127.0.0.1, models
                     pulled from the shared mirror into a temporary directory; ``httpx`` posts the
                     multipart image (one keep-alive client per worker thread).
  HTTP floor         ``GET /health/live`` with the same client: what the client and uvicorn cost
                     by themselves, before any image work (5 N requests).
  in-process         ``decode_image`` + ``Detector.run`` called directly: the work the server does
                     per request, without HTTP.
  onnxruntime alone  ``InferenceSession.run`` on the already preprocessed tensor, with the
                     service's session options: the ceiling these cores allow for the model.
  ultralytics        ``YOLO(<same .onnx>).predict(<image path>)`` with the same size and
                     thresholds (one YOLO per worker thread, as ultralytics requires), where
                     ultralytics is importable; it cannot run YOLOX, so only the YOLOv8 row.

Concurrency c means c threads, each sending its next request as soon as the previous one
answers. Each thread warms up first; requests/s is measured while all c are busy (up to the
N-th completion), and the rows of one model alternate in rounds, so that load from other users
of these shared cores falls on every row alike. The load generator runs in this process, on the
same cores as the server: the ``client CPU`` column says how much of the machine it took; the
``HTTP floor`` row what the client and uvicorn cost together. CPU columns come from ``/proc``
(Linux) and ``time.process_time``; they include onnxruntime's spinning worker threads.

Settings come from the ``VISION_*`` environment for the server and the in-process pipeline
alike (e.g. ``VISION_INTRA_OP_THREADS``, ``VISION_MAX_CONCURRENCY``); the header prints them.

    .venv/bin/python bench/serve.py [--requests N] [--rounds R] [--quick] [--models A,B]
    .venv-ul/bin/python bench/serve.py     # dev-only env that also has ultralytics

Shared data: ``$VISION_SHARED_DIR``, else ``shared/`` beside the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import platform
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
from loadkit import serve_from  # bench/ is on sys.path when this file runs

from service.pipelines.detector import Detector
from service.pipelines.images import decode_image
from service.pipelines.preprocess import preprocess
from service.pipelines.registry import ModelRegistry
from service.runtime.session import session_options
from service.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGE = "ul_bus.jpg"
DEFAULT_MODELS = ("yolox_nano", "yolov8n_coco_dynint8")
ULTRALYTICS_MODELS = {"yolov8n_coco_dynint8"}  # ultralytics runs its own layouts, not YOLOX
CONCURRENCY = (1, 8)
READY_TIMEOUT_S = 180.0
TARGET_LATENCY_RATIO = 1.10  # service p50 / in-process p50 at c=1, at most
TARGET_THROUGHPUT_RATIO = 0.90  # service req/s / onnxruntime-alone req/s at c=8, at least

Call = Callable[[], None]
StageLog = list[dict[str, float]]  # per request: stage name -> milliseconds
STAGES = ("decode", "preprocess", "inference", "postprocess", "total")
MakeCall = Callable[[], contextlib.AbstractContextManager[Call]]  # one per worker thread


def shared_dir() -> Path:
    return Path(os.environ.get("VISION_SHARED_DIR", REPO_ROOT.parent / "shared"))


# -- measuring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One row: latencies, and the window in which ``requests`` of them completed."""

    latencies_s: list[float]  # every completed request, the few still in flight at the end too
    requests: int  # completions that closed the throughput window
    wall_s: float  # that window: from the start to the ``requests``-th completion
    cpu_s: float | None  # the process doing the work (the server, for HTTP rows)
    client_cpu_s: float | None  # the load generator, for HTTP rows
    errors: int
    first_error: str | None

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q)) * 1000.0

    @property
    def per_second(self) -> float:
        return self.requests / self.wall_s

    def cpu_ms_per_request(self, cpu_s: float | None) -> float | None:
        """CPU over every request that ran, the in-flight tail included."""
        return None if cpu_s is None else cpu_s * 1000.0 / len(self.latencies_s)

    @staticmethod
    def merged(parts: list[Sample]) -> Sample:
        """Rounds of the same row pooled: latencies joined, windows and CPU added."""

        def total(values: list[float | None]) -> float | None:
            return None if any(v is None for v in values) else sum(v or 0.0 for v in values)

        return Sample(
            latencies_s=[latency for part in parts for latency in part.latencies_s],
            requests=sum(part.requests for part in parts),
            wall_s=sum(part.wall_s for part in parts),
            cpu_s=total([part.cpu_s for part in parts]),
            client_cpu_s=total([part.client_cpu_s for part in parts]),
            errors=sum(part.errors for part in parts),
            first_error=next((part.first_error for part in parts if part.first_error), None),
        )


def measure(
    make_call: MakeCall,
    *,
    requests: int,
    concurrency: int,
    warmup: int,
    server_cpu: Callable[[], float | None] | None = None,
) -> Sample:
    """Keep ``concurrency`` threads busy until ``requests`` calls have completed.

    Each worker enters its own ``make_call()`` and warms up; the clock starts when all are
    warm, so neither lazy initialisation nor thread start-up is timed, and stops at the
    ``requests``-th completion, so every worker is busy for the whole window (no ramp-down).
    The calls still in flight then finish, and count in latencies and CPU. A call fails by
    raising.
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
        server_before = server_cpu() if server_cpu else None
        cpu_before = time.process_time()
        start = time.perf_counter()
        for future in futures:
            future.result()
        cpu = time.process_time() - cpu_before
        server_after = server_cpu() if server_cpu else None
    if not latencies:
        raise RuntimeError(f"every request failed; first: {failures[0] if failures else '?'}")
    if server_cpu is None:
        work_cpu, client_cpu = cpu, None
    elif server_before is not None and server_after is not None:
        work_cpu, client_cpu = server_after - server_before, cpu
    else:
        work_cpu, client_cpu = None, cpu
    return Sample(
        latencies_s=latencies,
        requests=requests,
        wall_s=window_end[0] - start,
        cpu_s=work_cpu,
        client_cpu_s=client_cpu,
        errors=len(failures),
        first_error=failures[0] if failures else None,
    )


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` from /proc, or None off Linux."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after "(comm)", which may contain spaces
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


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


def http_floor_call(base_url: str) -> MakeCall:
    @contextlib.contextmanager
    def make() -> Iterator[Call]:
        with httpx.Client(base_url=base_url, timeout=60.0) as client:

            def call() -> None:
                client.get("/health/live").raise_for_status()

            yield call

    return make


# -- in-process, onnxruntime alone, ultralytics ----------------------------------------------


def shared_call(call: Call) -> MakeCall:
    """The same ``call`` for every worker (the pipeline and the session are thread-safe)."""
    return lambda: contextlib.nullcontext(call)


def pipeline_call(detector: Detector, image: bytes, max_pixels: int, stages: StageLog) -> MakeCall:
    """What the server runs per request, timed by stage the way the server reports it."""

    def call() -> None:
        start = time.perf_counter()
        pixels = decode_image(image, max_pixels=max_pixels).pixels
        decoded = time.perf_counter()
        timings = detector.run(pixels).timings
        stages.append(
            {
                "decode": (decoded - start) * 1000.0,
                "preprocess": timings.preprocess_ms,
                "inference": timings.inference_ms,
                "postprocess": timings.postprocess_ms,
                "total": (time.perf_counter() - start) * 1000.0,
            }
        )

    return shared_call(call)


def onnxruntime_call(detector: Detector, image: bytes, settings: Settings) -> MakeCall:
    """A session of its own with the service's options, fed the preprocessed tensor."""
    pixels = decode_image(image, max_pixels=settings.max_pixels).pixels
    tensor, _ = preprocess(pixels, detector.spec.input, detector.spec.input.stride)
    model_path = settings.models_dir / detector.info.name / "model.onnx"
    session = ort.InferenceSession(
        str(model_path), session_options(settings), providers=list(detector.runner.providers_used)
    )
    feeds = {session.get_inputs()[0].name: tensor}

    def call() -> None:
        session.run(None, feeds)

    return shared_call(call)


def ultralytics_call(model_path: Path, image_path: Path, detector: Detector) -> MakeCall:
    """Per worker: a YOLO of its own (ultralytics predictors are not thread-safe), reused
    across rounds; the service model's input size and thresholds."""
    os.environ.setdefault("YOLO_OFFLINE", "1")  # no update checks
    yolo = importlib.import_module("ultralytics").YOLO

    postprocess = detector.spec.postprocess
    options: dict[str, Any] = {
        "imgsz": list(detector.spec.input.size),
        "conf": postprocess.confidence,
        "iou": postprocess.iou,
        "max_det": postprocess.max_detections,
        "device": "cpu",
        "verbose": False,
    }
    spare: queue.SimpleQueue[Any] = queue.SimpleQueue()

    @contextlib.contextmanager
    def make() -> Iterator[Call]:
        try:
            model = spare.get_nowait()
        except queue.Empty:
            model = yolo(str(model_path), task="detect")

        def call() -> None:
            model.predict(str(image_path), **options)

        try:
            yield call
        finally:
            spare.put(model)

    return make


# -- the report ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    what: str
    model: str
    concurrency: int
    sample: Sample | None
    note: str = ""  # why there is no sample
    stages: dict[str, float] | None = None  # p50 per stage, where the contender reports them


ORDER = (
    "HTTP floor (live)",
    "service HTTP",
    "in-process",
    "onnxruntime alone",
    "ultralytics predict",
)
HEADER = (
    f"{'row':20} {'model':21} {'c':>2} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>7} "
    f"{'CPU ms/req':>10} {'client CPU':>10} {'errors':>6}"
)


def format_row(row: Row) -> str:
    lead = f"{row.what:20} {row.model:21} {row.concurrency:>2}"
    sample = row.sample
    if sample is None:
        return f"{lead} {row.note}"

    def cpu(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    return (
        f"{lead} {sample.percentile_ms(50):8.2f} {sample.percentile_ms(95):8.2f} "
        f"{sample.per_second:7.1f} {cpu(sample.cpu_ms_per_request(sample.cpu_s)):>10} "
        f"{cpu(sample.cpu_ms_per_request(sample.client_cpu_s)):>10} {sample.errors:>6}"
    )


def find(rows: list[Row], what: str, model: str, concurrency: int) -> Sample | None:
    for row in rows:
        if (row.what, row.model, row.concurrency) == (what, model, concurrency):
            return row.sample
    return None


def ratio_lines(rows: list[Row], models: tuple[str, ...]) -> list[str]:
    lines = []
    for model in models:
        service1 = find(rows, "service HTTP", model, 1)
        inproc1 = find(rows, "in-process", model, 1)
        service8 = find(rows, "service HTTP", model, 8)
        inproc8 = find(rows, "in-process", model, 8)
        ort8 = find(rows, "onnxruntime alone", model, 8)
        ul1 = find(rows, "ultralytics predict", model, 1)
        ul8 = find(rows, "ultralytics predict", model, 8)
        lines.append(f"{model}:")
        if service1 and inproc1:
            value = service1.percentile_ms(50) / inproc1.percentile_ms(50)
            verdict = "met" if value <= TARGET_LATENCY_RATIO else "MISSED"
            lines.append(
                f"  service p50 / in-process p50 at c=1        {value:5.2f}  "
                f"(target <= {TARGET_LATENCY_RATIO:.2f}: {verdict})"
            )
        if service8 and ort8:
            value = service8.per_second / ort8.per_second
            verdict = "met" if value >= TARGET_THROUGHPUT_RATIO else "MISSED"
            lines.append(
                f"  service req/s / onnxruntime-alone at c=8    {value:5.2f}  "
                f"(target >= {TARGET_THROUGHPUT_RATIO:.2f}: {verdict})"
            )
        if inproc8 and ort8:
            lines.append(
                f"  in-process req/s / onnxruntime-alone, c=8   {inproc8.per_second / ort8.per_second:5.2f}"
                "  (decode + pre/post-processing alone, no HTTP)"
            )
        if service8 and inproc8:
            lines.append(
                f"  service req/s / in-process req/s at c=8     {service8.per_second / inproc8.per_second:5.2f}"
            )
        for c in CONCURRENCY:
            lines += stage_lines(rows, model, c)
        if service1 and ul1:
            lines.append(
                f"  service p50 / ultralytics p50 at c=1        "
                f"{service1.percentile_ms(50) / ul1.percentile_ms(50):5.2f}"
            )
        if service8 and ul8:
            lines.append(
                f"  service req/s / ultralytics req/s at c=8    "
                f"{service8.per_second / ul8.per_second:5.2f}"
            )
    return lines


def stage_lines(rows: list[Row], model: str, concurrency: int) -> list[str]:
    """Where the time goes: the server's own ``timings_ms`` against the in-process ones."""
    lines = []
    for row in rows:
        if (row.model, row.concurrency) != (model, concurrency) or not row.stages:
            continue
        stages = " ".join(f"{stage} {row.stages[stage]:.1f}" for stage in STAGES[:-1])
        total = row.stages["total"]
        line = f"  stage p50 ms, c={concurrency}, {row.what + ':':13} {stages}, total {total:.1f}"
        if row.sample and row.what == "service HTTP":
            outside = row.sample.percentile_ms(50) - total
            line += f"; outside the route ~{outside:.1f}"
        lines.append(line)
    return lines


def machine_lines(
    settings: Settings, detector: Detector, cores: int, load_before: tuple[float, float, float]
) -> list[str]:
    def present(module: str) -> str:
        return "yes" if importlib.util.find_spec(module) else "no"

    def load(values: tuple[float, float, float]) -> str:
        return "/".join(f"{value:.2f}" for value in values)

    return [
        f"machine: {platform.platform()}, Python {platform.python_version()}, "
        f"os.cpu_count()={os.cpu_count()}, usable cores={cores}",
        f"load average (1/5/15 min) before {load(load_before)}, after {load(os.getloadavg())} "
        "(other users share these cores; 'after' counts this run's own threads too)",
        f"onnxruntime {ort.__version__}: provider used {detector.runner.providers_used[0]}, "
        f"available {', '.join(ort.get_available_providers())}",
        f"settings: intra_op_threads={settings.intra_op_threads} "
        f"inter_op_threads={settings.inter_op_threads} (0 = onnxruntime default), "
        f"max_concurrency={settings.max_concurrency}, max_queue={settings.max_queue}, "
        f"graph_optimization={settings.graph_optimization}",
        f"uvicorn: httptools {present('httptools')}, uvloop {present('uvloop')}; "
        f"client httpx {httpx.__version__}",
    ]


# -- main ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contender:
    what: str
    make: MakeCall
    server_cpu: Callable[[], float | None] | None = None
    stages: StageLog | None = None


def median_stages(log: StageLog | None) -> dict[str, float] | None:
    if not log:
        return None
    return {stage: float(np.median([entry[stage] for entry in log])) for stage in STAGES}


@dataclass(frozen=True)
class Plan:
    requests: int
    rounds: int
    quick: bool

    @property
    def per_round(self) -> int:
        return -(-self.requests // self.rounds)

    def warmup(self, concurrency: int) -> int:
        return 1 if self.quick else max(2, 10 // concurrency)


def compare(contenders: list[Contender], model: str, plan: Plan) -> list[Row]:
    """Every contender at each concurrency, in alternating rounds, so that a neighbour's load
    on these shared cores falls on all of them alike."""
    rows = []
    for c in CONCURRENCY:
        parts: dict[str, list[Sample]] = {contender.what: [] for contender in contenders}
        for contender in contenders:
            if contender.stages is not None:
                contender.stages.clear()
        for _ in range(plan.rounds):
            for contender in contenders:
                parts[contender.what].append(
                    measure(
                        contender.make,
                        requests=plan.per_round,
                        concurrency=c,
                        warmup=plan.warmup(c),
                        server_cpu=contender.server_cpu,
                    )
                )
        for contender in contenders:
            sample = Sample.merged(parts[contender.what])
            stages = median_stages(contender.stages)
            rows.append(Row(contender.what, model, c, sample, stages=stages))
            print(f"  {format_row(rows[-1])}", file=sys.stderr)
    return rows


def ultralytics_rows(
    name: str, detector: Detector, model_path: Path, image_path: Path
) -> tuple[list[Contender], list[Row]]:
    """The ultralytics contender for ``name``, or rows saying why there is none."""
    if name not in ULTRALYTICS_MODELS:
        note = "n/a (ultralytics cannot run this layout)"
    elif importlib.util.find_spec("ultralytics") is None:
        note = "n/a (ultralytics not installed in this interpreter)"
    else:
        make = ultralytics_call(model_path, image_path, detector)
        return [Contender("ultralytics predict", make)], []
    return [], [Row("ultralytics predict", name, c, None, note) for c in CONCURRENCY]


def report(
    rows: list[Row],
    plan: Plan,
    settings: Settings,
    detector: Detector,
    cores: int,
    load_before: tuple[float, float, float],
) -> None:
    print()
    print(
        f"POST /detect on {IMAGE}: {plan.per_round * plan.rounds} timed requests per row in "
        f"{plan.rounds} alternating round(s), concurrency {' and '.join(map(str, CONCURRENCY))}"
    )
    for line in machine_lines(settings, detector, cores, load_before):
        print(line)
    print()
    print(HEADER)
    for what in ORDER:
        for row in rows:
            if row.what == what:
                print(format_row(row))
    print(
        "CPU ms/req: the server process for HTTP rows, this process otherwise; "
        "client CPU: the load generator (this process) for HTTP rows.\n"
        "Stage times: the service's timings_ms (its total runs from the route's start, body "
        "read and wait for a slot included, to the end of postprocess), and the same clocks "
        "in-process; outside the route = client p50 - route total p50."
    )
    print()
    for line in ratio_lines(rows, tuple(dict.fromkeys(r.model for r in rows if r.model != "-"))):
        print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=120, help="timed requests per row")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per row")
    parser.add_argument(
        "--quick", action="store_true", help="24 requests per row in 1 round, short warm-up"
    )
    parser.add_argument(
        "--models", default=",".join(DEFAULT_MODELS), help="comma-separated (default: %(default)s)"
    )
    args = parser.parse_args()
    plan = (
        Plan(requests=24, rounds=1, quick=True)
        if args.quick
        else Plan(requests=args.requests, rounds=max(1, args.rounds), quick=False)
    )
    models = tuple(name.strip() for name in args.models.split(",") if name.strip())

    shared = shared_dir()
    image_path = shared / "images" / IMAGE
    if not (shared / "models").is_dir() or not image_path.is_file():
        print(f"shared data not found under {shared} (set VISION_SHARED_DIR)", file=sys.stderr)
        return 2
    image = image_path.read_bytes()
    load_before = os.getloadavg()

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        models_dir = Path(tmp) / "models"
        pull_models(shared / "models", models_dir, models)
        settings = Settings(models_dir=models_dir)
        registry = ModelRegistry(settings)
        registry.load_all()
        detectors: dict[str, Detector] = {}
        for name in models:
            detector = registry.get("detect", name)
            assert isinstance(detector, Detector)
            detectors[name] = detector
        body, content_type = multipart_body(image, IMAGE)

        print(f"server starting; {plan.requests} requests per row", file=sys.stderr)
        # The server idles while the other contenders run, and they idle while it runs.
        with running_server(models_dir, Path(tmp) / "server.log") as (base_url, pid):

            def server_cpu() -> float | None:
                return process_cpu_s(pid)

            floor = Contender("HTTP floor (live)", http_floor_call(base_url), server_cpu)
            rows += compare([floor], "-", replace(plan, requests=plan.requests * 5))
            for name, detector in detectors.items():
                pixels = decode_image(image, max_pixels=settings.max_pixels).pixels
                expected = len(detector.run(pixels).xyxy)
                served: StageLog = []
                inline: StageLog = []
                detect = http_detect_call(base_url, name, body, content_type, expected, served)
                pipeline = pipeline_call(detector, image, settings.max_pixels, inline)
                ours = [
                    Contender("service HTTP", detect, server_cpu, served),
                    Contender("in-process", pipeline, stages=inline),
                    Contender("onnxruntime alone", onnxruntime_call(detector, image, settings)),
                ]
                theirs, missing = ultralytics_rows(
                    name, detector, models_dir / name / "model.onnx", image_path
                )
                rows += compare(ours + theirs, name, plan) + missing

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    report(rows, plan, settings, next(iter(detectors.values())), cores or 1, load_before)
    errors = [row.sample.first_error for row in rows if row.sample and row.sample.errors]
    for error in errors:
        print(f"error: {error}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
