"""format=image rendering: same size, boxes drawn where the detections are."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from service.api.drawing import PALETTE, render_detections
from service.pipelines.results import DetectionResult, ModelInfo, Timings


def result(xyxy: Sequence[Sequence[float]], class_ids: list[int], hw: tuple[int, int]) -> DetectionResult:
    return DetectionResult(
        model=ModelInfo("m", "detect", "CPUExecutionProvider"),
        image_hw=hw,
        xyxy=np.array(xyxy, dtype=np.float32).reshape(-1, 4),
        confidence=np.full(len(class_ids), 0.5, dtype=np.float32),
        class_id=np.array(class_ids, dtype=np.int64),
        labels=[f"class{c}" for c in class_ids],
        timings=Timings(0.0, 0.0, 0.0),
    )


def decode(jpeg: bytes) -> np.ndarray:
    picture = Image.open(io.BytesIO(jpeg))
    assert picture.format == "JPEG"
    return np.asarray(picture.convert("RGB"), dtype=np.int16)


def test_box_outline_is_drawn_in_the_class_colour_and_the_rest_is_untouched() -> None:
    grey = np.full((600, 1200, 3), 128, dtype=np.uint8)  # long side 1200: 3-pixel lines
    boxes = result([[300, 200, 900, 560]], [2], (600, 1200))
    drawn = decode(render_detections(grey, boxes))

    assert drawn.shape == (600, 1200, 3)
    # Middle of the box's left edge, below any label: the palette colour (JPEG tolerance).
    assert np.abs(drawn[400, 301] - np.array(PALETTE[2])).max() < 40
    # Far from the box and its label, and inside the box, the picture is unchanged.
    assert np.abs(drawn[20:100, 20:100] - 128).max() < 8
    assert np.abs(drawn[300:500, 400:800] - 128).max() < 8


def test_no_detections_gives_the_picture_back_at_the_same_size() -> None:
    pixels = np.random.default_rng(0).integers(0, 255, (37, 91, 3), dtype=np.uint8)
    drawn = decode(render_detections(pixels, result([], [], (37, 91))))

    assert drawn.shape == (37, 91, 3)


def test_boxes_at_the_edges_and_degenerate_boxes_do_not_fail() -> None:
    pixels = np.zeros((20, 30, 3), dtype=np.uint8)
    boxes = [[0, 0, 30, 20], [5, 5, 5, 5], [29, 0, 30, 1], [10, 12, 8, 3]]
    drawn = decode(render_detections(pixels, result(boxes, [0, 1, 25, 3], (20, 30))))

    assert drawn.shape == (20, 30, 3)
