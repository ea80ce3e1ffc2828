"""One call from raw model outputs to detections in original-image pixels."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from detection.candidates import Candidates, LayoutParams
from detection.decoders import DECODERS
from detection.errors import DetectionError, LayoutError
from detection.geometry import Transform
from detection.masks import process_masks
from detection.nms import batched_nms, select
from detection.rotated import (
    batched_rotated_nms,
    corners_to_xyxy,
    rotated_to_image,
    xywhr_to_corners,
)


@dataclass(frozen=True)
class Detections:
    """Final detections of one image, best first, in original-image pixels.

    ``truncated`` is True when more candidates than ``max_candidates`` passed the confidence
    threshold and only the best of them entered NMS. Segmentation layouts add ``masks``
    (N, H_in, W_in) in *network-input* pixels (letterbox included), Ultralytics'
    ``masks.data``; oriented-box layouts add ``rotated`` (N, 5) cx, cy, w, h, angle (radians,
    as the head gave it) in image pixels, unclipped, and ``xyxy`` is then their axis-aligned
    hull, unclipped too (Ultralytics' ``OBB.xyxy``).
    """

    xyxy: NDArray[np.float32]
    confidence: NDArray[np.float32]
    class_id: NDArray[np.int64]
    keypoints: NDArray[np.float32] | None = None
    keypoint_scores: NDArray[np.float32] | None = None
    masks: NDArray[np.bool_] | None = None
    rotated: NDArray[np.float32] | None = None
    truncated: bool = field(default=False)

    def __len__(self) -> int:
        return int(self.confidence.shape[0])


def postprocess(
    outputs: Sequence[NDArray[np.generic]] | NDArray[np.generic],
    transforms: Transform | Sequence[Transform],
    *,
    layout: str,
    params: LayoutParams,
    confidence: float = 0.25,
    iou: float = 0.45,
    max_detections: int = 300,
    classes: Collection[int] | None = None,
    class_agnostic: bool = False,
    multi_label: bool = False,
    max_candidates: int = 30_000,
) -> list[Detections]:
    """Decode, filter by confidence, per-class NMS, cap, and map back: one result per image.

    ``transforms`` is the record each image's preprocessing made (one, or one per batch image);
    boxes and keypoints are mapped back with exactly that record and clipped to the image.
    NMS-free layouts (``end2end``) only get the confidence and class filters and the cap.
    Oriented boxes are suppressed by :func:`~detection.rotated.batched_rotated_nms`; a
    segmentation detection whose mask comes out empty is dropped, as Ultralytics does.
    """
    decoder = DECODERS.get(layout)
    if decoder is None:
        raise LayoutError(f"unknown layout {layout!r}; known: {', '.join(sorted(DECODERS))}")
    if max_detections < 0 or max_candidates <= 0:
        raise DetectionError("max_detections must be >= 0 and max_candidates > 0")
    tensors = [outputs] if isinstance(outputs, np.ndarray) else list(outputs)
    per_image = decoder(tensors, replace(params, score_floor=confidence))
    records = [transforms] * len(per_image) if isinstance(transforms, Transform) else transforms
    if len(records) != len(per_image):
        raise DetectionError(f"{len(records)} transforms for a batch of {len(per_image)} images")
    return [
        _finish(
            candidates,
            record,
            confidence=confidence,
            iou=iou,
            max_detections=max_detections,
            classes=classes,
            class_agnostic=class_agnostic,
            multi_label=multi_label,
            max_candidates=max_candidates,
        )
        for candidates, record in zip(per_image, records, strict=True)
    ]


def _finish(
    candidates: Candidates,
    transform: Transform,
    *,
    confidence: float,
    iou: float,
    max_detections: int,
    classes: Collection[int] | None,
    class_agnostic: bool,
    multi_label: bool,
    max_candidates: int,
) -> Detections:
    """Select one image's candidates and map the survivors back to image pixels."""
    rotated = candidates.rotated
    if candidates.class_scores is not None:
        selection = select(
            candidates.boxes if rotated is None else rotated,
            candidates.class_scores,
            confidence=confidence,
            iou_threshold=iou,
            max_detections=max_detections,
            classes=None if classes is None else list(classes),
            class_agnostic=class_agnostic,
            multi_label=multi_label,
            max_candidates=max_candidates,
            suppress=batched_nms if rotated is None else batched_rotated_nms,
        )
        rows, class_id, scores = selection.rows, selection.class_id, selection.confidence
        truncated = selection.truncated
    else:
        rows, class_id, scores = _nms_free_rows(candidates, confidence, classes, max_detections)
        truncated = False
    masks = _masks(candidates, rows, transform.input_hw)
    if masks is not None:  # Ultralytics drops detections whose mask is empty
        filled = masks.any(axis=(1, 2))
        rows, class_id, scores = rows[filled], class_id[filled], scores[filled]
        masks = masks[filled]
    keypoints = candidates.keypoints
    keypoint_scores = candidates.keypoint_scores
    in_image = None if rotated is None else rotated_to_image(rotated[rows], transform)
    return Detections(
        xyxy=(
            transform.boxes_to_image(candidates.boxes[rows], clip=candidates.clip)
            if in_image is None
            else corners_to_xyxy(xywhr_to_corners(in_image))
        ),
        confidence=scores.astype(np.float32, copy=False),
        class_id=class_id,
        keypoints=None if keypoints is None else transform.points_to_image(keypoints[rows]),
        keypoint_scores=None if keypoint_scores is None else keypoint_scores[rows],
        masks=masks,
        rotated=in_image,
        truncated=truncated,
    )


def _masks(
    candidates: Candidates, rows: NDArray[np.int64], input_hw: tuple[int, int]
) -> NDArray[np.bool_] | None:
    """The selected rows' binary masks in input pixels, or None without a segmentation head."""
    coefficients, prototypes = candidates.mask_coefficients, candidates.prototypes
    if coefficients is None or prototypes is None:
        return None
    return process_masks(coefficients[rows], prototypes, candidates.boxes[rows], input_hw)


def _nms_free_rows(
    candidates: Candidates,
    confidence: float,
    classes: Collection[int] | None,
    max_detections: int,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
    """Rows the model already selected: keep its order, filter, and cap."""
    assert candidates.confidence is not None and candidates.class_id is not None
    keep = candidates.confidence > confidence
    if classes is not None:
        keep &= np.isin(candidates.class_id, np.asarray(list(classes), dtype=np.int64))
    rows = np.flatnonzero(keep)[:max_detections].astype(np.int64)
    return rows, candidates.class_id[rows], candidates.confidence[rows]
