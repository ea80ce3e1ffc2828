"""Benchmark: decoding and preprocessing, ours against an earlier revision's and the decoders'.

Rows, each side timed in every round (who goes first rotates) and compared within the round, so
load from other users of shared cores hits both alike; cells are per-round medians of
``--repeats`` calls, ratios are given as median (min-max) over the rounds:

  decoders   Pillow (open, exif_transpose, convert("RGB"): the service's first decode),
             ``cv2.imdecode`` and ours (``decode_image``: libjpeg-turbo via simplejpeg for
             JPEG) on ul_bus.jpg, the 12 MP photo below and PNG and WebP encodings of
             ul_bus.jpg, made in memory; "same" says whether all three gave the same pixels.
  12 MP      a 12-megapixel photo (ul_bus.jpg enlarged to 3000x4000 with cv2 INTER_CUBIC,
             saved as JPEG q=92, in memory) decoded and preprocessed for each model's input:
             ours exactly (``decode_image`` + ``preprocess``), ours with fast decode
             (VISION_FAST_DECODE: a reduced-scale JPEG decode), and, given ``--baseline``, the
             same two steps of an earlier checkout, e.g. ``git worktree add /tmp/before HEAD``
             before the change. "exact" says whether our exact tensor equals the baseline's bit
             for bit. Targets: exact <= 60 ms, fast <= 25 ms, judged on the median wall time
             and on the median CPU time of a call (see ``cpu_ms``: on a loaded machine only
             the CPU time says what an idle core would take).
  bus        the same on ul_bus.jpg itself (810x1080): fast decode takes it at 1/2 for
             YOLOX-nano's 312x416 letterbox and in full for YOLOv8n's 480x640.

    .venv/bin/python bench/preprocess.py [--rounds R] [--repeats N] [--baseline DIR]

Shared data: ``$VISION_SHARED_DIR``, else ``shared/`` beside the repository.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import PIL
from loadkit import load_average  # bench/ is on sys.path when this file runs
from numpy.typing import NDArray
from PIL import Image, ImageOps
from rounds import Ratios, Target, median_ms, rotated, spread

from service.pipelines.images import decode_image
from service.pipelines.preprocess import decode_floor, preprocess
from service.repository.catalog import bundled_catalog_path, load_catalog
from service.repository.loader import read_entry
from service.repository.spec import InputSpec
from service.runtime.session import ModelSession
from service.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS = ("yolox_nano", "yolov8n_coco_dynint8")
LIMIT = 50_000_000
TARGETS_MS = {"exact": 60.0, "fast": 25.0}
Step = Callable[[], object]


def shared_dir() -> Path:
    return Path(os.environ.get("VISION_SHARED_DIR", REPO_ROOT.parent / "shared"))


def input_spec(name: str) -> InputSpec:
    """The model's [input] as the service resolves it (bundled model.toml + its ONNX file)."""
    catalog = load_catalog(bundled_catalog_path())
    onnx_file = next(f.file for f in catalog.models[name].files if f.save_as == "model.onnx")
    session = ModelSession(shared_dir() / "models" / onnx_file, Settings())
    entry = read_entry(bundled_catalog_path().parent / name)
    return entry.resolve(session.signature()).input


def baseline_modules(checkout: Path) -> tuple[ModuleType, ModuleType]:
    """The earlier checkout's images.py and preprocess.py (with its own resize.py), loaded
    beside ours under other names."""

    def load(name: str) -> ModuleType:
        path = checkout / "service" / "pipelines" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"baseline_{name}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module

    images, resize, preprocess_module = load("images"), load("resize"), load("preprocess")
    preprocess_module.resize_region = resize.resize_region  # type: ignore[attr-defined]  # its own resampling
    return images, preprocess_module


def pillow_decode(data: bytes) -> NDArray[np.uint8]:
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    return np.asarray(image.convert("RGB"))


def opencv_decode(data: bytes) -> NDArray[np.uint8]:
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)
    return np.asarray(pixels, dtype=np.uint8)


def ours_decode(data: bytes) -> NDArray[np.uint8]:
    return decode_image(data, max_pixels=LIMIT).pixels


def encoded(pixels: NDArray[np.uint8], fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt, **options)
    return buffer.getvalue()


def twelve_mp(bus_jpeg: bytes) -> bytes:
    bus = cv2.imdecode(np.frombuffer(bus_jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert bus is not None
    big = cv2.resize(bus, (3000, 4000), interpolation=cv2.INTER_CUBIC)
    return bytes(cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 92])[1])


def in_rounds(sides: Mapping[str, Step], rounds: int, repeats: int) -> dict[str, list[float]]:
    """Per-round median wall milliseconds of each side, the order rotating between rounds."""
    for step in sides.values():
        step()  # warm-up, untimed
    cells: dict[str, list[float]] = {name: [] for name in sides}
    for index in range(rounds):
        for name in rotated(list(sides), index):
            cells[name].append(median_ms(sides[name], repeats))
    return cells


def cpu_ms(step: Step, repeats: int) -> float:
    """Median CPU milliseconds of this process per call: on cores shared with a load of 20 the
    wall clock mostly measures waiting; the CPU a single-threaded step uses is close to its
    wall time on an idle core (OpenCV's resize may use a second thread, counted here too)."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        step()
        times.append((time.process_time() - start) * 1000.0)
    return statistics.median(times)


def decoder_rows(bus_jpeg: bytes, rounds: int, repeats: int) -> None:
    bus = pillow_decode(bus_jpeg)
    files = {
        "JPEG ul_bus.jpg, 810x1080": bus_jpeg,
        "JPEG 12 MP, 3000x4000": twelve_mp(bus_jpeg),
        "PNG 810x1080 (from it)": encoded(bus, "PNG"),
        "WebP q90 810x1080 (from it)": encoded(bus, "WEBP", quality=90),
    }
    print("| decoder | Pillow ms | OpenCV ms | ours ms | OpenCV / ours | same pixels |")
    print("|---|---|---|---|---|---|")
    for name, data in files.items():
        sides: dict[str, Callable[[], NDArray[np.uint8]]] = {
            "pillow": partial(pillow_decode, data),
            "opencv": partial(opencv_decode, data),
            "ours": partial(ours_decode, data),
        }
        cells = in_rounds(sides, rounds, repeats)
        ratios = [o / u for o, u in zip(cells["opencv"], cells["ours"], strict=True)]
        reference = pillow_decode(data)
        same = all(np.array_equal(side(), reference) for side in sides.values())
        print(
            f"| {name} | {statistics.median(cells['pillow']):.2f} | "
            f"{statistics.median(cells['opencv']):.2f} | {statistics.median(cells['ours']):.2f} | "
            f"{spread(ratios)} | {same} |"
        )


def sides_for(
    data: bytes, config: InputSpec, baseline: tuple[ModuleType, ModuleType] | None
) -> dict[str, Step]:
    """Decode + preprocess of ``data`` for ``config``: ours exact, ours fast, the baseline's."""
    floor = decode_floor(config)

    def exact() -> Any:
        return preprocess(decode_image(data, max_pixels=LIMIT).pixels, config, config.stride)

    def fast() -> Any:
        decoded = decode_image(data, max_pixels=LIMIT, reduce_to=floor)
        return preprocess(decoded.pixels, config, config.stride, decoded.full_hw)

    sides: dict[str, Step] = {"exact": exact, "fast": fast}
    if baseline is not None:
        images, old = baseline

        def before() -> Any:
            pixels = images.decode_image(data, max_pixels=LIMIT).pixels
            return old.preprocess(pixels, config, config.stride)

        sides["before"] = before
    return sides


def photo_rows(
    label: str,
    data: bytes,
    configs: dict[str, InputSpec],
    baseline: tuple[ModuleType, ModuleType] | None,
    rounds: int,
    repeats: int,
) -> None:
    print(f"\n{label}: decode + preprocess, median ms per side (per-round median, min-max)")
    for model, config in configs.items():
        sides = sides_for(data, config, baseline)
        cells = in_rounds(sides, rounds, repeats)
        print(f"  {model} (input {config.size[1]}x{config.size[0]}):")
        for name, values in cells.items():
            cpu = cpu_ms(sides[name], repeats)
            target = TARGETS_MS.get(name) if label.startswith("12 MP") else None
            verdict = ""
            if target is not None:
                wall = met(statistics.median(values), target)
                verdict = f"; target <= {target:g} ms: wall {wall}, CPU {met(cpu, target)}"
            print(f"    {name:7} wall {spread(values)} ms, CPU {cpu:.1f} ms{verdict}")
        if "before" in cells:
            ratios = Ratios()
            for name in ("exact", "fast"):
                for old_ms, new_ms in zip(cells["before"], cells[name], strict=True):
                    ratios.add(f"before / {name}", old_ms / new_ms)
            targets = {name: Target(1.0, at_most=False) for name in ratios.values}
            print("\n".join("  " + line for line in ratios.lines(targets)))
            same = exact_equal(sides["exact"](), sides["before"]())
            print(f"    exact tensor and transform equal to before's, bit for bit: {same}")


def met(value_ms: float, target_ms: float) -> str:
    return "met" if value_ms <= target_ms else "MISSED"


def exact_equal(ours: Any, theirs: Any) -> bool:
    (tensor, transform), (old_tensor, old_transform) = ours, theirs
    return bool(
        transform == old_transform
        and tensor.shape == old_tensor.shape
        and (tensor.view(np.uint32) == old_tensor.view(np.uint32)).all()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternations between the sides")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per side per round")
    parser.add_argument(
        "--baseline", type=Path, help="an earlier checkout to compare with (a git worktree)"
    )
    args = parser.parse_args()
    print(
        f"{args.rounds} alternating rounds x {args.repeats} calls per side; "
        f"{platform.processor() or platform.machine()}, {load_average()}, OpenCV "
        f"{cv2.__version__} ({cv2.getNumThreads()} threads), Pillow {PIL.__version__}\n"
    )
    bus_jpeg = (shared_dir() / "images" / "ul_bus.jpg").read_bytes()
    decoder_rows(bus_jpeg, args.rounds, args.repeats)
    configs = {name: input_spec(name) for name in MODELS}
    baseline = baseline_modules(args.baseline) if args.baseline else None
    photo_rows("12 MP 3000x4000 JPEG", twelve_mp(bus_jpeg), configs, baseline, args.rounds,
               args.repeats)  # fmt: skip
    photo_rows("ul_bus.jpg 810x1080", bus_jpeg, configs, baseline, args.rounds, args.repeats)
    print(f"\nafter: {load_average()}")


if __name__ == "__main__":
    main()
