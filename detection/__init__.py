"""Exact, fast YOLO and face-detector post-processing in numpy.

Box geometry, deterministic NMS, letterbox geometry and its exact inverse, decoders for every
common export layout (segmentation masks and oriented boxes included), COCO RLE, and k-means
anchors. Imports only numpy and the standard library, so it
can be installed and used on any model output without the service around it.
"""

from typing import TYPE_CHECKING, Any

from detection.boxes import box_area, box_convert, box_iou, clip_boxes
from detection.candidates import Candidates, LayoutParams
from detection.errors import DetectionError, LayoutError, MetadataError
from detection.geometry import Transform, letterbox, resize_crop, stretch
from detection.masks import process_masks
from detection.nms import batched_nms, nms
from detection.postprocess import Detections, postprocess
from detection.rle import mask_to_rle
from detection.rotated import batched_rotated_nms, probiou, rotated_nms, xywhr_to_corners

if TYPE_CHECKING:
    from detection.anchors import AnchorResult, kmeans_anchors

__all__ = [
    "AnchorResult",
    "Candidates",
    "DetectionError",
    "Detections",
    "LayoutError",
    "LayoutParams",
    "MetadataError",
    "Transform",
    "batched_nms",
    "batched_rotated_nms",
    "box_area",
    "box_convert",
    "box_iou",
    "clip_boxes",
    "kmeans_anchors",
    "letterbox",
    "mask_to_rle",
    "nms",
    "postprocess",
    "probiou",
    "process_masks",
    "resize_crop",
    "rotated_nms",
    "stretch",
    "xywhr_to_corners",
]


def __getattr__(name: str) -> Any:
    """Anchors load on first use, so ``python -m detection.anchors`` finds its module unloaded."""
    if name in ("AnchorResult", "kmeans_anchors"):
        from detection import anchors

        return getattr(anchors, name)
    raise AttributeError(f"module 'detection' has no attribute {name!r}")
