"""One decoder per output layout, looked up by the layout's name.

The layouts (model.toml ``[output] layout``) are listed in docs/ARCHITECTURE.md, 'Model
repository format'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from numpy.typing import NDArray

from detection.candidates import Candidates, LayoutParams
from detection.decoders.faces import (
    decode_centerface,
    decode_retinaface,
    decode_scrfd,
    decode_ultraface,
    decode_yunet,
)
from detection.decoders.rtdetr import decode_rtdetr, decode_rtdetr_scores
from detection.decoders.yolo import (
    decode_end2end,
    decode_yolov2,
    decode_yolov3,
    decode_yolov5,
    decode_yolov8,
    decode_yolox,
)
from detection.decoders.yolo_tasks import decode_yolov8_obb, decode_yolov8_seg

Decoder = Callable[[Sequence[NDArray[Any]], LayoutParams], list[Candidates]]

DECODERS: dict[str, Decoder] = {
    "yolov8": decode_yolov8,
    "yolov8-seg": decode_yolov8_seg,
    "yolov8-obb": decode_yolov8_obb,
    "yolov5": decode_yolov5,
    "yolox": decode_yolox,
    "yolov2": decode_yolov2,
    "yolov3": decode_yolov3,
    "end2end": decode_end2end,
    "rtdetr": decode_rtdetr,
    "rtdetr-scores": decode_rtdetr_scores,
    "ultraface": decode_ultraface,
    "retinaface": decode_retinaface,
    "yunet": decode_yunet,
    "scrfd": decode_scrfd,
    "centerface": decode_centerface,
}

__all__ = ["DECODERS", "Decoder"]
