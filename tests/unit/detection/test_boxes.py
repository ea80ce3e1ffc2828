import numpy as np
import pytest

from detection import DetectionError, box_area, box_convert, box_iou, clip_boxes


def test_iou_of_the_textbook_pair_is_25_over_175() -> None:
    iou = box_iou([[0, 0, 10, 10]], [[5, 5, 15, 15]])
    assert iou.shape == (1, 1)
    assert iou.dtype == np.float32
    assert iou[0, 0] == pytest.approx(25 / 175)


def test_iou_is_symmetric_transposed() -> None:
    rng = np.random.default_rng(3)
    xy = rng.uniform(-100, 100, (40, 2))
    a = np.concatenate([xy, xy + rng.uniform(1, 50, (40, 2))], axis=1)
    xy = rng.uniform(-100, 100, (25, 2))
    b = np.concatenate([xy, xy + rng.uniform(1, 50, (25, 2))], axis=1)
    np.testing.assert_array_equal(box_iou(a, b), box_iou(b, a).T)


def test_iou_of_disjoint_identical_and_degenerate_boxes() -> None:
    iou = box_iou([[0, 0, 2, 2], [0, 0, 0, 0]], [[0, 0, 2, 2], [3, 3, 4, 4], [0, 0, 0, 0]])
    np.testing.assert_array_equal(iou, [[1, 0, 0], [0, 0, 0]])


def test_empty_inputs_keep_their_shapes() -> None:
    assert box_iou(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)
    assert box_iou([], []).shape == (0, 0)
    assert box_convert([], "xyxy", "cxcywh").shape == (0, 4)
    assert box_area([]).shape == (0,)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("xywh", [2, 4, 6, 4]), ("cxcywh", [5, 6, 6, 4]), ("xyxy", [2, 4, 8, 8])],
)
def test_box_convert_by_hand(fmt: str, expected: list[float]) -> None:
    xyxy = np.array([[2, 4, 8, 8]], dtype=np.float32)
    converted = box_convert(xyxy, "xyxy", fmt)  # type: ignore[arg-type]
    np.testing.assert_array_equal(converted, [expected])
    np.testing.assert_array_equal(box_convert(converted, fmt, "xyxy"), xyxy)  # type: ignore[arg-type]


def test_box_convert_between_non_xyxy_formats() -> None:
    np.testing.assert_array_equal(box_convert([[2, 4, 6, 4]], "xywh", "cxcywh"), [[5, 6, 6, 4]])


def test_box_convert_refuses_unknown_format_and_bad_shape() -> None:
    with pytest.raises(DetectionError, match="unknown box format 'xyzw'"):
        box_convert([[0, 0, 1, 1]], "xyzw", "xyxy")  # type: ignore[arg-type]
    with pytest.raises(DetectionError, match=r"shape \(N, 4\)"):
        box_convert([[0, 0, 1]], "xyxy", "xywh")


def test_area_and_clip() -> None:
    np.testing.assert_array_equal(box_area([[0, 0, 3, 4], [5, 5, 4, 9]]), [12, 0])
    clipped = clip_boxes([[-5, -1, 700, 500]], (480, 640))
    np.testing.assert_array_equal(clipped, [[0, 0, 640, 480]])
