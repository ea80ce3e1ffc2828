"""Benchmark: the letterbox into 640x640 with Pillow's bilinear against OpenCV's INTER_LINEAR.

Both rows run the service's own ``apply_transform`` on the same decoded pixels, differing only in
``interpolation``: "antialias" (Pillow, what the service used before, and torchvision's filter)
and "linear" (cv2.resize, Ultralytics' LetterBox filter, the default now). Photos: ``ul_bus.jpg``
(810x1080) and a 12-megapixel picture (``ul_bus.jpg`` enlarged to 3000x4000 with Lanczos, in
memory: no 12 MP photo ships in shared/). Decoding is not timed. The two rows alternate in rounds
so that load from other users of the machine hits both alike; each row prints its median, and the
ratio is Pillow's median over OpenCV's. The last column is how far the two inputs differ.

    .venv/bin/python bench/preprocess.py [--rounds R] [--repeats N]

Shared data: ``$VISION_SHARED_DIR``, else ``shared/`` beside the repository.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from detection import letterbox
from service.pipelines.images import decode_image
from service.pipelines.preprocess import apply_transform
from service.repository.config import Interpolation

REPO_ROOT = Path(__file__).resolve().parent.parent
INPUT_HW = (640, 640)
ROWS: tuple[tuple[str, Interpolation], ...] = (
    ("Pillow bilinear (antialias)", "antialias"),
    ("OpenCV INTER_LINEAR", "linear"),
)


def shared_dir() -> Path:
    return Path(os.environ.get("VISION_SHARED_DIR", REPO_ROOT.parent / "shared"))


def photos() -> dict[str, NDArray[np.uint8]]:
    """The bus photo as decoded by the service, and a 12 MP picture made from it."""
    data = (shared_dir() / "images" / "ul_bus.jpg").read_bytes()
    bus = decode_image(data, max_pixels=50_000_000).pixels
    big = Image.fromarray(bus).resize((3000, 4000), Image.Resampling.LANCZOS)
    return {"ul_bus.jpg 810x1080": bus, "12 MP 3000x4000": np.asarray(big)}


def letterboxed(pixels: NDArray[np.uint8], interpolation: Interpolation) -> NDArray[np.uint8]:
    transform = letterbox(pixels.shape[:2], INPUT_HW)
    return apply_transform(pixels, transform, 114, interpolation)


def timed(pixels: NDArray[np.uint8], interpolation: Interpolation, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        letterboxed(pixels, interpolation)
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternations between the rows")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per row per round")
    args = parser.parse_args()
    print(
        f"letterbox to {INPUT_HW[1]}x{INPUT_HW[0]} (resize + pad 114), {args.rounds} alternating "
        f"rounds x {args.repeats} calls per row; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, OpenCV {cv2.__version__} ({cv2.getNumThreads()} threads), "
        f"Pillow {Image.__version__}\n"
    )
    print("| photo | Pillow median ms | OpenCV median ms | Pillow / OpenCV | max difference |")
    print("|---|---|---|---|---|")
    for name, pixels in photos().items():
        samples: dict[Interpolation, list[float]] = {mode: [] for _, mode in ROWS}
        for mode in samples:  # warm-up, untimed
            letterboxed(pixels, mode)
        for _ in range(args.rounds):
            for _, mode in ROWS:
                samples[mode] += timed(pixels, mode, args.repeats)
        pillow, opencv = (statistics.median(samples[mode]) for _, mode in ROWS)
        difference = np.abs(
            letterboxed(pixels, "antialias").astype(np.int16) - letterboxed(pixels, "linear")
        ).max()
        print(
            f"| {name} | {pillow:.2f} | {opencv:.2f} | {pillow / opencv:.1f}x | "
            f"{difference} grey levels |"
        )


if __name__ == "__main__":
    main()
