"""Response bodies, as pydantic models so /openapi.json documents every answer exactly."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from detection import mask_to_rle
from service.pipelines.results import ClassificationResult, DetectionResult, ModelInfo
from service.pipelines.segments import image_mask


class ModelRef(BaseModel):
    """Which model answered, and the onnxruntime execution provider it really ran on."""

    name: str
    task: str
    provider: str = Field(examples=["CPUExecutionProvider"])

    @classmethod
    def of(cls, info: ModelInfo) -> ModelRef:
        return cls(name=info.name, task=info.task, provider=info.provider)


class TimingsMs(BaseModel):
    """Milliseconds per stage; ``total`` also covers reading the upload and queueing."""

    decode: float
    preprocess: float
    inference: float
    postprocess: float
    total: float


class ImageSize(BaseModel):
    """The upright image (after EXIF orientation), in pixels."""

    width: int
    height: int


class Box(BaseModel):
    """Corners in the upright image's pixels: (x1, y1) top-left, (x2, y2) bottom-right.

    Clipped to the image, except where the model's reference code leaves them past its edge
    (Ultralytics' RT-DETR predictor), so that answers stay equal to it."""

    x1: float
    y1: float
    x2: float
    y2: float

    @classmethod
    def of(cls, corners: Sequence[float]) -> Box:
        x1, y1, x2, y2 = corners
        return cls(x1=x1, y1=y1, x2=x2, y2=y2)


class Rle(BaseModel):
    """COCO run-length encoding (pycocotools' ``mask.decode`` reads it), column-major."""

    size: list[int] = Field(description="[height, width] of the image.")
    counts: str


class Mask(BaseModel):
    """A segmentation model's mask of one detection, in the upright image's pixels."""

    polygon: list[list[float]] = Field(
        description="The outline as [x, y] points, exactly Ultralytics' results.masks.xy "
        "(several contours joined into one path); empty when nothing is left of the mask."
    )
    rle: Rle | None = Field(None, description="The mask itself; with mask_format=rle only.")


class RotatedBox(BaseModel):
    """An oriented box, exactly Ultralytics' results.obb (xywhr and its four corners)."""

    cx: float
    cy: float
    width: float
    height: float
    angle: float = Field(description="Radians, as the model gives it (no regularisation).")
    polygon: list[list[float]] = Field(description="The four corners, [x, y] each.")


class Detection(BaseModel):
    box: Box = Field(description="Corners; for an oriented box its axis-aligned hull.")
    confidence: float
    class_id: int
    label: str
    keypoints: list[list[float]] | None = Field(
        None,
        description="Pose and face models: one [x, y, visibility] per keypoint in image pixels "
        "where the model scores each keypoint (Ultralytics pose: keypoints.data), else [x, y].",
    )
    mask: Mask | None = Field(None, description="Segmentation models only.")
    rotated_box: RotatedBox | None = Field(None, description="Oriented-box models only.")


class DetectResponse(BaseModel):
    model: ModelRef
    image: ImageSize
    detections: list[Detection]
    truncated: bool = Field(
        description="True when more candidates passed the confidence threshold than NMS takes "
        "(detection.postprocess's max_candidates, Ultralytics' max_nms): only the best of "
        "them were considered."
    )
    timings_ms: TimingsMs

    @classmethod
    def of(
        cls, result: DetectionResult, timings: TimingsMs, *, with_rle: bool = False
    ) -> DetectResponse:
        keypoints = _keypoints(result)
        masks = _masks(result, with_rle=with_rle)
        rotated = _rotated_boxes(result)
        detections = [
            Detection(
                box=Box.of(corners),
                confidence=confidence,
                class_id=class_id,
                label=label,
                keypoints=keypoints[i] if keypoints is not None else None,
                mask=masks[i] if masks is not None else None,
                rotated_box=rotated[i] if rotated is not None else None,
            )
            for i, (corners, confidence, class_id, label) in enumerate(result.rows())
        ]
        height, width = result.image_hw
        return cls(
            model=ModelRef.of(result.model),
            image=ImageSize(width=width, height=height),
            detections=detections,
            truncated=result.truncated,
            timings_ms=timings,
        )


def _masks(result: DetectionResult, *, with_rle: bool) -> list[Mask] | None:
    """Each detection's outline, and with ``with_rle`` its mask in image pixels as COCO RLE."""
    if result.outlines is None:
        return None
    rles: list[Rle | None] = [None] * len(result.outlines)
    if with_rle and result.masks is not None and result.transform is not None:
        transform = result.transform
        rles = [Rle(**mask_to_rle(image_mask(mask, transform))) for mask in result.masks]
    return [
        Mask(polygon=outline.tolist(), rle=rle)
        for outline, rle in zip(result.outlines, rles, strict=True)
    ]


def _rotated_boxes(result: DetectionResult) -> list[RotatedBox] | None:
    corners = result.rotated_corners()
    if result.rotated is None or corners is None:
        return None
    return [
        RotatedBox(cx=cx, cy=cy, width=w, height=h, angle=angle, polygon=polygon)
        for (cx, cy, w, h, angle), polygon in zip(
            result.rotated.tolist(), corners.tolist(), strict=True
        )
    ]


def _keypoints(result: DetectionResult) -> list[list[list[float]]] | None:
    """Per detection, [x, y, visibility] per keypoint where the model scores them, else [x, y]."""
    if result.keypoints is None:
        return None
    if result.keypoint_scores is None:
        points: list[list[list[float]]] = result.keypoints.tolist()
        return points
    scored = np.concatenate([result.keypoints, result.keypoint_scores[..., None]], axis=-1)
    triples: list[list[list[float]]] = scored.tolist()
    return triples


class PredictionOut(BaseModel):
    class_id: int
    label: str
    score: float = Field(description="Probability, 0 to 1; the top-k are most probable first.")


class ClassifyResponse(BaseModel):
    model: ModelRef
    predictions: list[PredictionOut]
    timings_ms: TimingsMs

    @classmethod
    def of(cls, result: ClassificationResult, timings: TimingsMs) -> ClassifyResponse:
        return cls(
            model=ModelRef.of(result.model),
            predictions=[
                PredictionOut(class_id=p.class_id, label=p.label, score=p.score)
                for p in result.predictions
            ],
            timings_ms=timings,
        )


class ModelDescription(BaseModel):
    """One configured model; further keys the registry reports are passed through."""

    model_config = ConfigDict(extra="allow")

    name: str
    status: str = Field(description='"loading", "ready", "not pulled" or "error: <why>".')
    task: str | None = Field(None, description="Known once model.toml or the model is read.")
    providers_requested: list[str] = Field(default_factory=list)
    providers_used: list[str] = Field(
        default_factory=list, description="What onnxruntime actually uses, best first."
    )
    provider: str | None = Field(None, description="The provider the model's nodes run on.")
    layout: str | None = Field(None, description="Detectors: the output layout decoded.")
    input_size: list[int] | None = Field(None, description="[height, width] of the network.")
    interpolation: str | None = Field(
        None,
        description="The filter images are resized with, as the model's reference code does: "
        "linear, area, cubic, nearest (OpenCV) or antialias (Pillow's bilinear); null where "
        "the model resizes with its own (style models).",
    )
    labels_count: int | None = None
    thresholds: dict[str, float | int | bool] = Field(default_factory=dict)


class ModelsResponse(BaseModel):
    models: list[ModelDescription]


class LiveResponse(BaseModel):
    status: Literal["live"] = "live"


class ReadyResponse(BaseModel):
    status: Literal["ready"] = "ready"
    models: dict[str, str] = Field(description="Each configured model's status.")


class FieldError(BaseModel):
    """One invalid input: where (``query``, ``body``, ``header``), which, and why."""

    model_config = ConfigDict(populate_by_name=True)

    in_: str = Field(alias="in")
    name: str
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details; every error answer has this shape."""

    type: str = Field(examples=["urn:vision-service:problem:unknown-model"])
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None


class StyleOut(BaseModel):
    """One built-in style of a ``stylize`` model."""

    index: int = Field(description="The value to pass as style= (alone or in a mix).")
    preview: str = Field(
        description="The style applied to a 128x128 test card, as a data:image/jpeg URL."
    )


class StylesResponse(BaseModel):
    model: ModelRef
    styles: list[StyleOut]
