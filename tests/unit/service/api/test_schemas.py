"""Answer bodies built from pipeline results: keypoints with and without their scores."""

from __future__ import annotations

import numpy as np

from service.api.schemas import DetectResponse, TimingsMs
from service.pipelines.results import DetectionResult, ModelInfo
from tests.unit.service.api.fakes import PROVIDER, TIMINGS

STAGES = TimingsMs(decode=1.0, preprocess=1.0, inference=1.0, postprocess=1.0, total=4.0)
POINTS = np.array([[[10.0, 20.0], [30.0, 40.0]]], np.float32)  # one detection, two keypoints


def pose_result(scores: np.ndarray | None) -> DetectionResult:
    return DetectionResult(
        model=ModelInfo(name="pose", task="detect", provider=PROVIDER),
        image_hw=(100, 100),
        xyxy=np.array([[0, 0, 50, 50]], np.float32),
        confidence=np.array([0.9], np.float32),
        class_id=np.array([0], np.int64),
        labels=["person"],
        timings=TIMINGS,
        keypoints=POINTS,
        keypoint_scores=scores,
    )


def test_keypoints_carry_their_visibility_when_the_model_scores_them() -> None:
    scores = np.array([[0.75, 0.125]], np.float32)
    (detection,) = DetectResponse.of(pose_result(scores), STAGES).detections
    assert detection.keypoints == [[10.0, 20.0, 0.75], [30.0, 40.0, 0.125]]


def test_keypoints_without_scores_are_points_only() -> None:
    (detection,) = DetectResponse.of(pose_result(None), STAGES).detections
    assert detection.keypoints == [[10.0, 20.0], [30.0, 40.0]]
