"""format=image rendering: same size, boxes drawn where the detections are."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from PIL import Image

from detection import xywhr_to_corners
from service.api.drawing import MASK_ALPHA, PALETTE, render_detections
from service.pipelines.results import DetectionResult, ModelInfo, Timings


def result(
    xyxy: Sequence[Sequence[float]], class_ids: list[int], hw: tuple[int, int]
) -> DetectionResult:
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


def test_a_mask_is_filled_translucent_in_the_class_colour() -> None:
    grey = np.full((600, 1200, 3), 128, dtype=np.uint8)
    with_mask = replace(
        result([[100, 100, 700, 500]], [1], (600, 1200)),
        outlines=[np.array([[200, 200], [600, 200], [600, 400], [200, 400]], np.float32)],
    )
    drawn = decode(render_detections(grey, with_mask))
    inside, expected = drawn[300, 400], 128 + (np.array(PALETTE[1]) - 128) * MASK_ALPHA / 255
    assert np.abs(inside - expected).max() < 10  # the colour, mixed with the picture
    assert np.abs(drawn[150, 400] - 128).max() < 8  # inside the box, outside the mask


def test_a_rotated_box_is_drawn_as_its_corners_not_its_hull() -> None:
    grey = np.full((600, 1200, 3), 128, dtype=np.uint8)
    # A 400 x 100 box turned 45 degrees about (600, 300): its hull's corners stay clear.
    rotated = np.array([[600, 300, 400, 100, np.pi / 4]], np.float32)
    hull = [[423.2, 123.2, 776.8, 476.8]]
    drawn = decode(
        render_detections(grey, replace(result(hull, [3], (600, 1200)), rotated=rotated))
    )
    assert np.abs(drawn[350, 424] - 128).max() < 8  # on the hull's left edge: nothing
    assert np.abs(drawn[300, 600] - 128).max() < 8  # the centre: nothing
    corner = xywhr_to_corners(rotated)[0, 0]
    x, y = np.round(corner).astype(int)
    assert np.abs(drawn[y - 3 : y + 4, x - 3 : x + 4] - np.array(PALETTE[3])).min() < 40


def test_a_pose_skeleton_links_visible_keypoints_only() -> None:
    grey = np.full((600, 1200, 3), 128, dtype=np.uint8)
    points = np.zeros((1, 17, 2), np.float32)
    points[0, 5], points[0, 7] = (300, 300), (700, 300)  # left shoulder -> left elbow: a limb
    points[0, 6], points[0, 8] = (300, 500), (700, 500)  # right shoulder -> right elbow
    scores = np.zeros((1, 17), np.float32)
    scores[0, [5, 7, 6]] = 0.9  # the right elbow (8) is not visible
    posed = replace(
        result([[250, 250, 750, 550]], [0], (600, 1200)), keypoints=points, keypoint_scores=scores
    )
    drawn = decode(render_detections(grey, posed))
    assert np.abs(drawn[300, 500] - np.array(PALETTE[0])).max() < 40  # the drawn limb
    assert np.abs(drawn[500, 500] - 128).max() < 8  # no limb to a hidden keypoint
