"""Benchmark: /stylize latency by output size (256, 512, 1024 px), beside bare onnxruntime.

Content: chelsea.jpg resized (Lanczos) so its longer side is the output size (3:2 pictures).
For each size and model, three columns:
  - http: a whole ``POST /stylize`` in process (TestClient): upload, decode, the pipeline,
    JPEG encoding; the model stays loaded between runs.
  - pipeline: the service's pipeline alone on decoded pixels (resize, reflect pad, tensor,
    session run(s), crop, mix or restore).
  - bare ort: the peer, ``onnxruntime.InferenceSession.run`` alone on ready tensors: for the
    fixed styles one run at the padded size; for the arbitrary pair predictor + transformer
    runs (the transformer always at 384x384).
The ratio pipeline / bare ort is what the service adds to the network itself. The three
alternate in rounds (who goes first rotates) and the ratio is taken per round, shown as median
(min-max), so that load from other users of shared cores falls on all three alike.

    .venv/bin/python bench/stylize.py [--rounds 3] [--repeats 2] [--sizes 256,512,1024]

Models are pulled from the shared mirror (``$VISION_SHARED_DIR/models``, else ``shared/``
beside the repository) into a temporary repository; nothing is written here.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from fastapi.testclient import TestClient
from loadkit import load_average  # bench/ is on sys.path when this file runs
from PIL import Image
from rounds import median_ms, rotated, spread

from service.api import create_app
from service.pipelines.registry import ModelRegistry
from service.pipelines.style_transfer import StyleTransfer
from service.pipelines.stylizer import Stylizer, padded_size
from service.repository import load_catalog, pull
from service.repository.catalog import bundled_catalog_path
from service.runtime.session import session_options
from service.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS = ["multistyle26", "arbitrary_predict", "arbitrary_transform"]
PROVIDERS = ["CPUExecutionProvider"]


def shared_dir() -> Path:
    return Path(os.environ.get("VISION_SHARED_DIR", REPO_ROOT.parent / "shared"))


def cell(
    actions: tuple[Callable[[], object], ...], warmup: int, rounds: int, repeats: int
) -> list[list[float]]:
    """Per action, its per-round medians: the actions alternate in rounds, who goes first
    rotating, so load from other users of the cores falls on all of them alike."""
    for action in actions:
        for _ in range(warmup):
            action()
    times: dict[int, list[float]] = {index: [] for index in range(len(actions))}
    for round_index in range(rounds):
        for index in rotated(list(range(len(actions))), round_index):
            times[index].append(median_ms(actions[index], repeats))
    return [times[index] for index in range(len(actions))]


def content_of(photo: Image.Image, side: int) -> tuple[np.ndarray, bytes]:
    scale = side / max(photo.size)
    image = photo.resize(
        (round(photo.width * scale), round(photo.height * scale)), Image.Resampling.LANCZOS
    )
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return np.asarray(image), buffer.getvalue()


def bare_session(path: Path) -> ort.InferenceSession:
    """A session with the service's own options (threads, spinning), so that only the
    pipeline's work differs."""
    return ort.InferenceSession(str(path), session_options(Settings()), providers=PROVIDERS)


def bare_fixed(path: Path, pixels: np.ndarray, styles: int) -> Callable[[], object]:
    session = bare_session(path)
    height, width = padded_size(pixels.shape[:2], 4, 32)
    image = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
    weights = np.eye(styles, dtype=np.float32)[7]
    return lambda: session.run(None, {"image": image, "style_weights": weights})


def bare_pair(repo: Path) -> Callable[[], object]:
    predict = bare_session(repo / MODELS[1] / "model.onnx")
    transform = bare_session(repo / MODELS[2] / "model.onnx")
    rng = np.random.default_rng(0)
    style = rng.random((1, 256, 256, 3), dtype=np.float32)
    content = rng.random((1, 384, 384, 3), dtype=np.float32)
    names = [i.name for i in transform.get_inputs()]

    def run() -> object:
        vector = predict.run(None, {"style_image": style})[0]
        return transform.run(None, {names[0]: content, names[1]: vector})

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per cell per round")
    parser.add_argument("--sizes", default="256,512,1024")
    args = parser.parse_args(argv)
    images = shared_dir() / "images"
    if not (shared_dir() / "models").is_dir() or not images.is_dir():
        print(f"{shared_dir()} lacks models/ or images/: set VISION_SHARED_DIR", file=sys.stderr)
        return 1
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp)
        pull(
            load_catalog(bundled_catalog_path()), MODELS, repo, source=str(shared_dir() / "models")
        )
        settings = Settings(models_dir=repo, providers=PROVIDERS, stylize_max_side=max(sizes))
        registry = ModelRegistry(settings)
        registry.load_all()
        stylizer, transfer = registry.get(Stylizer), registry.get(StyleTransfer)
        photo = Image.open(images / "chelsea.jpg").convert("RGB")
        style_bytes = (images / "coffee.jpg").read_bytes()
        style_pixels = np.asarray(Image.open(io.BytesIO(style_bytes)).convert("RGB"))
        print(
            f"python {platform.python_version()}, onnxruntime {ort.__version__}, "
            f"cpus {os.cpu_count()}, {PROVIDERS[0]}; ms: median over {args.rounds} alternating "
            f"rounds of each round's median of {args.repeats} runs, after {args.warmup} "
            f"warm-up(s); pipeline/bare: median (min-max) of the per-round ratios\n"
            f"{load_average()}\n"
        )
        rows: list[list[str]] = []
        with TestClient(create_app(settings, registry)) as client:
            for side in sizes:
                pixels, jpeg = content_of(photo, side)
                size = f"{pixels.shape[1]}x{pixels.shape[0]}"
                weights = stylizer.one_hot(7)
                cells: list[tuple[str, Callable[[], Any], Callable[[], Any], Callable[[], Any]]] = [
                    (
                        "multistyle26 style=7",
                        lambda j=jpeg, s=side: client.post(
                            "/stylize",
                            params={"style": "7", "max_side": s},
                            files={"image": ("c.jpg", j)},
                        ),
                        lambda p=pixels, s=side, w=weights: stylizer.run(p, weights=w, max_side=s),
                        bare_fixed(repo / MODELS[0] / "model.onnx", pixels, stylizer.num_styles),
                    ),
                    (
                        "arbitrary pair, style_image",
                        lambda j=jpeg, s=side: client.post(
                            "/stylize",
                            params={"max_side": s},
                            files={"image": ("c.jpg", j), "style_image": ("s.jpg", style_bytes)},
                        ),
                        lambda p=pixels, s=side: transfer.run(p, style_pixels, max_side=s),
                        bare_pair(repo),
                    ),
                ]
                for name, *actions in cells:
                    timed = cell(tuple(actions), args.warmup, args.rounds, args.repeats)
                    ratios = [p / b for p, b in zip(timed[1], timed[2], strict=True)]
                    medians = (f"{statistics.median(t):.1f}" for t in timed)
                    rows.append([str(side), size, name, *medians, spread(ratios) + "x"])
    header = ["max side", "output", "model", "http ms", "pipeline ms", "bare ort ms",
              "pipeline/bare per round"]  # fmt: skip
    table = [header, *rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for index, line in enumerate(table):
        print(" | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        if index == 0:
            print("-+-".join("-" * width for width in widths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
