"""Exact, fast YOLO and face-detector post-processing in numpy.

Box geometry, deterministic NMS, letterbox geometry and its exact inverse, decoders for every
common export layout, and k-means anchors. Imports only numpy and the standard library, so it
can be installed and used on any model output without the service around it.
"""

from typing import TYPE_CHECKING, Any

from detection.boxes import box_area, box_convert, box_iou, clip_boxes
from detection.candidates import Candidates, LayoutParams
from detection.errors import DetectionError, LayoutError, MetadataError
from detection.geometry import Transform, letterbox, resize_crop, stretch
from detection.nms import batched_nms, nms
from detection.postprocess import Detections, postprocess

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
    "box_area",
    "box_convert",
    "box_iou",
    "clip_boxes",
    "kmeans_anchors",
    "letterbox",
    "nms",
    "postprocess",
    "resize_crop",
    "stretch",
]


def __getattr__(name: str) -> Any:
    """Anchors load on first use, so ``python -m detection.anchors`` finds its module unloaded."""
    if name in ("AnchorResult", "kmeans_anchors"):
        from detection import anchors

        return getattr(anchors, name)
    raise AttributeError(f"module 'detection' has no attribute {name!r}")
