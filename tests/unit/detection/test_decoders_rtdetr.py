"""RT-DETR decoders on tiny hand-made outputs, and through ``postprocess`` with a stretch.

Expected boxes are worked out in comments from Ultralytics' own formula
(``RTDETRPredictor.postprocess``: ``xywh2xyxy`` of the normalised box, x times the original
width, y times the original height), not from the code under test.
"""

import numpy as np
import pytest

from detection import LayoutError, LayoutParams, postprocess, stretch
from detection.decoders import DECODERS
from detection.decoders.rtdetr import decode_rtdetr, decode_rtdetr_scores

# A non-square input, so a swapped axis would show: 32 high, 64 wide.
PARAMS = LayoutParams(input_hw=(32, 64))


def test_both_forms_are_registered_under_their_layout_names() -> None:
    assert DECODERS["rtdetr"] is decode_rtdetr
    assert DECODERS["rtdetr-scores"] is decode_rtdetr_scores


def test_rtdetr_rows_become_input_pixels_in_the_models_order() -> None:
    rows = np.array(
        [[[0.5, 0.25, 0.5, 0.25, 0.9, 3], [0.25, 0.5, 0.25, 1.0, 0.95, 1.0001]]], np.float16
    )
    (candidates,) = decode_rtdetr([rows], PARAMS)
    assert candidates.class_scores is None  # already selected by the model: no NMS
    # cx 0.5*64 = 32, w 0.5*64 = 32 -> x 16..48; cy 0.25*32 = 8, h 0.25*32 = 8 -> y 4..12
    # cx 0.25*64 = 16, w 16 -> x 8..24; cy 16, h 32 -> y 0..32
    np.testing.assert_allclose(candidates.boxes, [[16, 4, 48, 12], [8, 0, 24, 32]])
    assert candidates.boxes.dtype == np.float32
    assert candidates.confidence is not None and candidates.class_id is not None
    np.testing.assert_allclose(candidates.confidence, [0.9, 0.95], rtol=1e-3)  # not re-sorted
    assert candidates.class_id.dtype == np.int64
    assert candidates.class_id.tolist() == [3, 1]


def test_rtdetr_batch_empty_and_malformed() -> None:
    rows = np.zeros((2, 1, 6), np.float32)
    rows[1, 0] = [0.5, 0.5, 1, 1, 0.5, 7]
    first, second = decode_rtdetr([rows], PARAMS)
    assert first.class_id is not None and second.class_id is not None
    assert (first.class_id.tolist(), second.class_id.tolist()) == ([0], [7])
    np.testing.assert_allclose(second.boxes, [[0, 0, 64, 32]])
    (empty,) = decode_rtdetr([np.zeros((1, 0, 6), np.float32)], PARAMS)
    assert empty.boxes.shape == (0, 4)
    with pytest.raises(LayoutError, match="4 \\+ nc values per query is 'rtdetr-scores'"):
        decode_rtdetr([np.zeros((1, 300, 84), np.float32)], PARAMS)
    with pytest.raises(LayoutError, match="expected 1 output"):
        decode_rtdetr([rows, rows], PARAMS)


def test_rtdetr_scores_keep_each_querys_best_class_sorted_best_first() -> None:
    queries = np.array(
        [
            [
                [0.5, 0.5, 0.5, 0.5, 0.1, 0.3, 0.2],  # best class 1 (0.3)
                [0.25, 0.25, 0.5, 0.5, 0.7, 0.7, 0.1],  # tie 0.7: the first class, 0
                [0.75, 0.75, 0.5, 0.5, 0.2, 0.1, 0.3],  # best class 2 (0.3): ties query 0
            ]
        ],
        np.float32,
    )
    (candidates,) = decode_rtdetr_scores([queries], LayoutParams(input_hw=(32, 64), num_classes=3))
    assert candidates.confidence is not None and candidates.class_id is not None
    np.testing.assert_allclose(candidates.confidence, [0.7, 0.3, 0.3])  # query 1, then 0, 2
    assert candidates.class_id.tolist() == [0, 1, 2]
    # query 1: cx 16, cy 8, w 32, h 16 -> 0, 0, 32, 16; query 0: 16, 8, 48, 24; query 2: 32, 16, 64, 32
    np.testing.assert_allclose(
        candidates.boxes, [[0, 0, 32, 16], [16, 8, 48, 24], [32, 16, 64, 32]]
    )


def test_rtdetr_scores_refuse_rows_that_do_not_fit() -> None:
    with pytest.raises(LayoutError, match="do not hold cx cy w h and 80 class scores"):
        decode_rtdetr_scores(
            [np.zeros((1, 300, 6), np.float32)], LayoutParams((640, 640), num_classes=80)
        )
    with pytest.raises(LayoutError, match="nc >= 1"):
        decode_rtdetr_scores([np.zeros((1, 300, 4), np.float32)], PARAMS)


def ultralytics_boxes(rows: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """RTDETRPredictor.postprocess's boxes: xywh2xyxy, then x * width, y * height (float32)."""
    xy, half = rows[:, :2], rows[:, 2:4] / 2
    xyxy = np.concatenate([xy - half, xy + half], axis=1)
    return xyxy * np.array([image_hw[1], image_hw[0]] * 2, np.float32)


def test_postprocess_maps_stretched_rows_back_as_ultralytics_and_runs_no_nms() -> None:
    image_hw = (300, 451)  # chelsea.jpg, stretched to 640 x 640
    rows = np.array(
        [
            [0.4, 0.6, 0.2, 0.3, 0.9, 5],
            [0.41, 0.6, 0.2, 0.3, 0.8, 5],  # same class, IoU ~0.9: NMS would drop it
            [0.7, 0.2, 0.1, 0.1, 0.25, 2],  # score == conf: Ultralytics keeps only score > conf
            [0.1, 0.9, 0.2, 0.2, 0.2, 1],
        ],
        np.float32,
    )
    (found,) = postprocess(
        rows[None],
        stretch(image_hw, (640, 640)),
        layout="rtdetr",
        params=LayoutParams(input_hw=(640, 640)),
        confidence=0.25,
        iou=0.1,
    )
    np.testing.assert_allclose(found.xyxy, ultralytics_boxes(rows[:2], image_hw), atol=1e-3)
    np.testing.assert_allclose(found.confidence, [0.9, 0.8])
    assert found.class_id.tolist() == [5, 5]
    assert not found.truncated


def test_postprocess_filters_classes_then_caps_in_the_models_order() -> None:
    rows = np.array(
        [[0.5, 0.5, 0.2, 0.2, s, c] for s, c in [(0.9, 1), (0.8, 2), (0.7, 1), (0.6, 1)]]
    )
    (found,) = postprocess(
        rows[None].astype(np.float32),
        stretch((100, 200), (64, 64)),
        layout="rtdetr",
        params=LayoutParams(input_hw=(64, 64)),
        classes=[1],
        max_detections=2,
    )
    np.testing.assert_allclose(found.confidence, [0.9, 0.7])
    assert found.class_id.tolist() == [1, 1]


def test_boxes_past_the_edge_stay_unclipped_as_ultralytics_leaves_them() -> None:
    # cx 0.05, w 0.2 -> x1 = -0.05 of the width: Ultralytics answers x1 = -10 for a 200 px
    # wide image (RTDETRPredictor builds Results without clip_boxes), and so do we.
    rows = np.array([[[0.05, 0.5, 0.2, 0.2, 0.9, 0]]], np.float32)
    (found,) = postprocess(
        rows, stretch((100, 200), (64, 64)), layout="rtdetr", params=LayoutParams((64, 64))
    )
    np.testing.assert_allclose(found.xyxy, [[-10, 40, 30, 60]], atol=1e-4)
