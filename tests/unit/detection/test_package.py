import pytest

import detection

REQUIRED = {
    "box_iou",
    "nms",
    "batched_nms",
    "box_convert",
    "Detections",
    "postprocess",
    "kmeans_anchors",
    "probiou",
    "rotated_nms",
    "xywhr_to_corners",
    "mask_to_rle",
}


def test_public_names_are_exported_and_resolve() -> None:
    assert set(detection.__all__) >= REQUIRED
    for name in detection.__all__:
        assert getattr(detection, name) is not None


def test_kmeans_anchors_is_the_anchors_module_function() -> None:
    from detection.anchors import kmeans_anchors

    assert detection.kmeans_anchors is kmeans_anchors


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        detection.nope  # noqa: B018
