"""Anchor boxes by k-means on label sizes, with 1 - IoU as the distance (YOLOv2's choice).

Euclidean k-means on (w, h) lets large boxes dominate the error; 1 - IoU between boxes aligned
at a common corner weighs a 10 px miss on a small box as much as a 100 px miss on a large one,
which is what an anchor is judged by. Centres are updated with the (count-weighted) arithmetic
mean of their boxes, as in YOLOv2's k-means. The result depends only on the multiset of sizes
and the seed: boxes are deduplicated and sorted first, so input order does not matter.

Command line: ``python -m detection.anchors LABEL_DIR [--k 9] [--img-size 640] [--seed 0]``
(and ``--max-iter``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike, NDArray

from detection.errors import DetectionError

Float64Array = NDArray[np.float64]


@dataclass(frozen=True)
class AnchorResult:
    """Anchors (k, 2) w, h float32 sorted by area (then width), and how well they fit.

    ``assignments`` (N,) int64 gives, for each input box, the row of its best anchor (highest
    IoU, lowest row on ties); ``mean_best_iou`` is the mean of that best IoU over the boxes.
    ``converged`` is False when ``max_iter`` ran out before the assignments stopped changing.
    """

    anchors: NDArray[np.float32]
    mean_best_iou: float
    assignments: NDArray[np.int64]
    converged: bool


def wh_iou(wh1: ArrayLike, wh2: ArrayLike) -> Float64Array:
    """IoU of (N, 2) and (M, 2) box sizes placed at a common corner -> (N, M).

    The k-means distance is ``1 - wh_iou``. Sizes must be finite and positive.
    """
    return _iou(_as_wh(wh1), _as_wh(wh2))


def kmeans_anchors(wh: ArrayLike, k: int, *, seed: int = 0, max_iter: int = 300) -> AnchorResult:
    """Cluster (N, 2) box sizes into ``k`` anchors; deterministic for a given ``seed``.

    Initialisation is k-means++ (each new centre drawn with probability proportional to
    count x distance² from ``numpy.random.default_rng(seed)``); then Lloyd iterations until no
    assignment changes. A cluster left empty is re-seeded with the worst-fitted box.
    """
    boxes = _as_wh(wh)
    if boxes.shape[0] == 0:
        raise DetectionError("no boxes to cluster")
    if k < 1 or max_iter < 1:
        raise DetectionError(f"k and max_iter must be >= 1, got k={k}, max_iter={max_iter}")
    unique, inverse, counts = np.unique(boxes, axis=0, return_inverse=True, return_counts=True)
    if k > unique.shape[0]:
        raise DetectionError(
            f"k={k} anchors asked for, but the {boxes.shape[0]} boxes have only "
            f"{unique.shape[0]} distinct sizes"
        )
    weights = counts.astype(np.float64)
    centres = _kmeans_plus_plus(unique, weights, k, np.random.default_rng(seed))
    assign, best = _nearest(unique, centres)
    converged = False
    for _ in range(max_iter):
        centres = _update(unique, weights, assign, best, centres)
        new_assign, best = _nearest(unique, centres)
        converged = bool(np.array_equal(new_assign, assign))
        assign = new_assign
        if converged:
            break
    by_area = np.lexsort((centres[:, 0], centres[:, 0] * centres[:, 1]))
    anchors = centres[by_area].astype(np.float32)
    assign, best = _nearest(unique, anchors.astype(np.float64))
    return AnchorResult(
        anchors=anchors,
        mean_best_iou=float(np.average(best, weights=weights)),
        assignments=assign[inverse.reshape(-1)],
        converged=converged,
    )


def _as_wh(wh: ArrayLike) -> Float64Array:
    array = np.asarray(wh, dtype=np.float64)
    if array.ndim == 1 and array.size == 0:
        return array.reshape(0, 2)
    if array.ndim != 2 or array.shape[1] != 2:
        raise DetectionError(f"box sizes must have shape (N, 2), got {array.shape}")
    if not (np.isfinite(array).all() and (array > 0).all()):
        raise DetectionError("box widths and heights must be finite and > 0")
    return array


def _iou(wh1: Float64Array, wh2: Float64Array) -> Float64Array:
    inter = np.minimum(wh1[:, None, 0], wh2[None, :, 0]) * np.minimum(
        wh1[:, None, 1], wh2[None, :, 1]
    )
    area1 = wh1[:, 0] * wh1[:, 1]
    area2 = wh2[:, 0] * wh2[:, 1]
    result: Float64Array = inter / (area1[:, None] + area2[None, :] - inter)
    return result


def _nearest(unique: Float64Array, centres: Float64Array) -> tuple[NDArray[np.int64], Float64Array]:
    """Each box's best centre (first on ties) and its IoU with it."""
    iou = _iou(unique, centres)
    assign = iou.argmax(axis=1).astype(np.int64)
    return assign, iou[np.arange(unique.shape[0]), assign]


def _kmeans_plus_plus(
    unique: Float64Array, weights: Float64Array, k: int, rng: np.random.Generator
) -> Float64Array:
    chosen = [int(rng.choice(unique.shape[0], p=weights / weights.sum()))]
    distance = 1.0 - _iou(unique, unique[chosen])[:, 0]
    for _ in range(1, k):
        mass = weights * distance**2
        mass[chosen] = 0.0
        if mass.sum() <= 0.0:  # distinct sizes whose IoU rounds to 1: any unused one will do
            mass = np.ones_like(mass)
            mass[chosen] = 0.0
        chosen.append(int(rng.choice(unique.shape[0], p=mass / mass.sum())))
        distance = np.minimum(distance, 1.0 - _iou(unique, unique[chosen[-1:]])[:, 0])
    return unique[chosen]


def _update(
    unique: Float64Array,
    weights: Float64Array,
    assign: NDArray[np.int64],
    best: Float64Array,
    centres: Float64Array,
) -> Float64Array:
    """Weighted mean of each cluster; empty clusters take the worst-fitted boxes."""
    k = centres.shape[0]
    mass = np.bincount(assign, weights=weights, minlength=k)
    sums = np.stack(
        [np.bincount(assign, weights=weights * unique[:, axis], minlength=k) for axis in (0, 1)],
        axis=1,
    )
    updated = centres.copy()
    filled = mass > 0
    updated[filled] = sums[filled] / mass[filled, None]
    worst_first = np.argsort(best, kind="stable")
    for cluster, box in zip(np.flatnonzero(~filled), worst_first, strict=False):
        updated[cluster] = unique[box]
    return updated


# --- command line -------------------------------------------------------------------------


def read_yolo_labels(label_dir: Path) -> tuple[Float64Array, list[str], int]:
    """Normalised (w, h) of every box in ``label_dir/*.txt``, the problems found, files read.

    A problem is ``"file:line: reason"``; such lines are skipped, blank lines ignored.
    """
    sizes: list[tuple[float, float]] = []
    problems: list[str] = []
    files = sorted(label_dir.glob("*.txt"))
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                sizes.append(_parse_label(line))
            except ValueError as error:
                problems.append(f"{path}:{number}: {error}")
    return np.asarray(sizes, dtype=np.float64).reshape(-1, 2), problems, len(files)


def _parse_label(line: str) -> tuple[float, float]:
    fields = line.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields 'cls cx cy w h', got {len(fields)}: {line.strip()!r}")
    try:
        cls, cx, cy, w, h = (float(field) for field in fields)
    except ValueError:
        raise ValueError(f"fields must be numbers: {line.strip()!r}") from None
    if not (cls >= 0 and cls.is_integer()):
        raise ValueError(f"class id must be a non-negative integer: {line.strip()!r}")
    if not (0.0 <= cx <= 1.0 and 0.0 <= cy <= 1.0 and 0.0 < w <= 1.0 and 0.0 < h <= 1.0):
        raise ValueError(f"not normalised (cx, cy in [0, 1]; w, h in (0, 1]): {line.strip()!r}")
    return w, h


def format_anchors(anchors: NDArray[np.floating]) -> str:
    """YOLO-cfg style ``"w,h, w,h, ..."`` in whole pixels (at least 1)."""
    return ", ".join(f"{int(w)},{int(h)}" for w, h in _rounded(anchors))


def _rounded(anchors: NDArray[np.floating]) -> Float64Array:
    return np.maximum(np.rint(anchors.astype(np.float64)), 1.0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m detection.anchors",
        description="k-means anchors (1 - IoU distance) from a YOLO-format label folder.",
    )
    parser.add_argument("label_dir", type=Path, help="folder of *.txt lines 'cls cx cy w h'")
    parser.add_argument("--k", type=int, default=9, help="number of anchors (default 9)")
    parser.add_argument(
        "--img-size", type=int, default=640, help="pixels that w, h = 1.0 stand for (default 640)"
    )
    parser.add_argument("--seed", type=int, default=0, help="k-means++ seed (default 0)")
    parser.add_argument(
        "--max-iter", type=int, default=300, help="Lloyd iterations at most (default 300)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Print the anchors and their mean best IoU; 0 on success, 1 when nothing can be fitted."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.label_dir.is_dir():
        parser.error(f"{args.label_dir} is not a folder")
    if args.img_size <= 0:
        parser.error(f"--img-size must be > 0, got {args.img_size}")
    sizes, problems, n_files = read_yolo_labels(args.label_dir)
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    try:
        result = kmeans_anchors(
            sizes * args.img_size, args.k, seed=args.seed, max_iter=args.max_iter
        )
    except DetectionError as error:
        print(f"error: {error} (from {n_files} label files in {args.label_dir})", file=sys.stderr)
        return 1
    rounded_iou = _iou(sizes * args.img_size, _rounded(result.anchors)).max(axis=1).mean()
    print(
        f"{args.k} anchors at img-size {args.img_size} from {sizes.shape[0]} boxes in "
        f"{n_files} files ({len(problems)} lines skipped):"
    )
    print(format_anchors(result.anchors))
    print(f"mean best IoU: {result.mean_best_iou:.4f} (rounded anchors: {rounded_iou:.4f})")
    if not result.converged:
        print("warning: k-means stopped at max_iter before converging", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
