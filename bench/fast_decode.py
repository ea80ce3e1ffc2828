"""Benchmark: what fast decode (VISION_FAST_DECODE) trades on a 12 MP photo, per DCT scale.

The photo is bench/preprocess.py's (ul_bus.jpg enlarged to 3000x4000 with cv2 INTER_CUBIC, JPEG
q=92). For each detector, the exact answer (full decode, the model's own resize) is compared
with answers from other pixels of the same photo:

  service      what the service does with fast decode on (``decode_image(reduce_to=...)``:
               the smallest DCT scale still covering the letterbox, by OpenCV)
  M/8          libjpeg-turbo's decode at scale M/8 (simplejpeg), M = 1..7
  fast DCT     a full-size decode with libjpeg's fast integer DCT instead of its exact one:
               the same geometry, pixels off by a few levels; how far the boxes move under
               that says how much of the shift is the model's own sensitivity to any change
               of pixels (its noise floor) rather than the reduced scale

Per row: the decoded size, the largest pixel difference where the size is the full one, whether
the count and classes agree, each exact box's shift to its nearest box (the largest coordinate
difference, in network-input pixels), and decode + preprocess wall ms as per-round medians
(median, min-max over ``--rounds`` alternating rounds).

    .venv/bin/python bench/fast_decode.py [--rounds R] [--repeats N]
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import simplejpeg
from numpy.typing import NDArray
from preprocess import LIMIT, MODELS, in_rounds, shared_dir, twelve_mp  # bench/ is on sys.path
from rounds import spread

from service.pipelines.detector import Detector
from service.pipelines.images import decode_image
from service.pipelines.preprocess import decode_floor, preprocess
from service.pipelines.registry import ModelRegistry
from service.pipelines.results import DetectionResult
from service.repository import load_catalog, pull
from service.repository.catalog import bundled_catalog_path
from service.settings import Settings

Decode = Callable[[], tuple[NDArray[np.uint8], tuple[int, int] | None]]  # pixels, full size


def variants(data: bytes, detector: Detector) -> dict[str, Decode]:
    """Every way of getting pixels measured, by row name."""
    floor = decode_floor(detector.spec.input)

    def service() -> tuple[NDArray[np.uint8], tuple[int, int] | None]:
        decoded = decode_image(data, max_pixels=LIMIT, reduce_to=floor)
        return decoded.pixels, decoded.full_hw

    def scaled(eighths: int) -> Decode:
        def decode() -> tuple[NDArray[np.uint8], tuple[int, int] | None]:
            height, width = -(-4000 * eighths // 8), -(-3000 * eighths // 8)
            pixels = simplejpeg.decode_jpeg(
                data, colorspace="RGB", min_height=height, min_width=width
            )
            return pixels, (4000, 3000)

        return decode

    def fast_dct() -> tuple[NDArray[np.uint8], tuple[int, int] | None]:
        return simplejpeg.decode_jpeg(data, colorspace="RGB", fastdct=True), None

    rows: dict[str, Decode] = {"service": service}
    rows |= {f"{m}/8": scaled(m) for m in range(1, 8)}
    rows["fast DCT"] = fast_dct
    return rows


def shifts(exact: DetectionResult, other: DetectionResult) -> tuple[bool, list[float]]:
    """Whether count and classes agree (nearest box by position), and each exact box's shift
    to its nearest box in network-input pixels."""
    assert exact.transform is not None
    gain = exact.transform.gain_xy[0]
    same = len(other.labels) == len(exact.labels)
    moved = []
    for box, label in zip(exact.xyxy, exact.labels, strict=True):
        if not len(other.xyxy):
            return False, []
        distance = np.abs(other.xyxy - box).max(axis=1)
        nearest = int(distance.argmin())
        same = same and other.labels[nearest] == label
        moved.append(float(distance[nearest]) * gain)
    return same, moved


def model_rows(detector: Detector, data: bytes, rounds: int, repeats: int) -> None:
    full = decode_image(data, max_pixels=LIMIT).pixels
    exact = detector.run(full)
    spec = detector.spec.input
    rows = variants(data, detector)

    def timed(decode: Decode) -> Callable[[], object]:
        def step() -> object:
            pixels, full_hw = decode()
            return preprocess(pixels, spec, spec.stride, full_hw)

        return step

    times = in_rounds({name: timed(d) for name, d in rows.items()}, rounds, repeats)
    labels = ", ".join(
        f"{label} {score:.2f}" for label, score in zip(exact.labels, exact.confidence, strict=True)
    )
    print(f"\n{detector.info.name} (input {spec.size[1]}x{spec.size[0]}); exact: {labels}")
    print("| pixels | size | max pixel diff | same count and classes | box shifts, input px | "
          "largest | decode + preprocess ms |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name, decode in rows.items():
        pixels, full_hw = decode()
        answer = detector.run(pixels, image_hw=full_hw) if full_hw else detector.run(pixels)
        same, moved = shifts(exact, answer)
        diff = (
            str(int(np.abs(pixels.astype(np.int16) - full).max()))
            if pixels.shape == full.shape
            else "-"
        )
        listed = " ".join(f"{m:.2f}" for m in moved)
        largest = f"{max(moved):.2f}" if moved else "-"
        print(
            f"| {name} | {pixels.shape[1]}x{pixels.shape[0]} | {diff} | {same} | {listed} | "
            f"{largest} | {spread(times[name], 1)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternations between the rows")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per row per round")
    args = parser.parse_args()
    data = twelve_mp((shared_dir() / "images" / "ul_bus.jpg").read_bytes())
    with tempfile.TemporaryDirectory(prefix="bench-fast-decode-") as tmp:
        catalog = load_catalog(bundled_catalog_path())
        pull(catalog, list(MODELS), Path(tmp), source=str(shared_dir() / "models"))
        registry = ModelRegistry(Settings(models_dir=Path(tmp)))
        registry.load_all()
        for name in MODELS:
            model_rows(registry.get(Detector, name), data, args.rounds, args.repeats)


if __name__ == "__main__":
    main()
