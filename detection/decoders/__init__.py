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
from detection.decoders.yolo import (
    decode_end2end,
    decode_yolov2,
    decode_yolov3,
    decode_yolov5,
    decode_yolov8,
    decode_yolox,
)

Decoder = Callable[[Sequence[NDArray[Any]], LayoutParams], list[Candidates]]

DECODERS: dict[str, Decoder] = {
    "yolov8": decode_yolov8,
    "yolov5": decode_yolov5,
    "yolox": decode_yolox,
    "yolov2": decode_yolov2,
    "yolov3": decode_yolov3,
    "end2end": decode_end2end,
    "ultraface": decode_ultraface,
    "retinaface": decode_retinaface,
    "yunet": decode_yunet,
    "scrfd": decode_scrfd,
    "centerface": decode_centerface,
}

__all__ = ["DECODERS", "Decoder"]
