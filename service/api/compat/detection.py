"""DeepStack object and face detection: ``/v1/vision/detection``, ``/v1/vision/custom/{model}``
(and its ``list``), ``/v1/vision/face``. Same pipelines, limits and admission as ``/detect``."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request

from service.api.compat.aliases import Alias, aliases
from service.api.compat.answers import (
    DetectionAnswer,
    Envelope,
    FaceDetectionAnswer,
    FacePrediction,
    ModelListAnswer,
    ObjectPrediction,
)
from service.api.compat.form import DeepStackFormDep
from service.api.compat.responses import deepstack_post
from service.api.context import AppContext, Context
from service.api.inference import Inferred, infer_uploads, ready_pipeline
from service.api.server_timing import Clock
from service.api.uploads import IMAGE_FIELD
from service.pipelines.detector import Detector, FaceDetector
from service.pipelines.results import DetectionResult
from service.timing import StageClock

router = APIRouter(prefix="/vision")
DEFAULT_MIN_CONFIDENCE = 0.4  # DeepStack's documented default for object detection
MIN_CONFIDENCE = "min_confidence"


@deepstack_post(
    router, "/detection", DetectionAnswer, "DeepStack object detection (the default detector)"
)
async def detection(
    request: Request, context: Context, clock: Clock, form: DeepStackFormDep
) -> DetectionAnswer:
    """File part ``image``, optional ``min_confidence`` (default 0.4): objects, best first."""
    confidence = form.probability(MIN_CONFIDENCE)
    return await _detect_objects(request, context, clock, form.image(), confidence)


@deepstack_post(
    router,
    "/custom/list",
    ModelListAnswer,
    "The detectors /v1/vision/custom/{model} serves (Blue Iris asks for it)",
)
async def custom_models(context: Context) -> ModelListAnswer:
    """Ready detectors, then the aliases whose detector is ready. A model that is not pulled
    or failed to load has no ``task`` in ``describe()``: it is simply not listed."""
    ready = [
        str(m["name"])
        for m in context.models.describe()
        if m.get("task") == "detect" and m.get("status") == "ready"
    ]
    named = [
        name
        for name, alias in aliases(context.settings.custom_model_aliases).items()
        if name not in ready and (alias.model in ready if alias.model else ready)
    ]
    return ModelListAnswer(models=ready + named)


@deepstack_post(
    router,
    "/custom/{model}",
    DetectionAnswer,
    "DeepStack custom-model detection: any detector of this service, by name",
)
async def custom_detection(
    model: str, request: Request, context: Context, clock: Clock, form: DeepStackFormDep
) -> DetectionAnswer:
    """``model`` is a detector's name or an alias (``VISION_CUSTOM_MODEL_ALIASES``, and
    CodeProject.AI's ``ipcam-*`` names by default)."""
    confidence = form.probability(MIN_CONFIDENCE)
    alias = aliases(context.settings.custom_model_aliases).get(model)
    if alias is None or model in context.models.status():
        return await _detect_objects(request, context, clock, form.image(), confidence, model)
    return await _detect_objects(
        request, context, clock, form.image(), confidence, alias.model, alias
    )


@deepstack_post(router, "/face", FaceDetectionAnswer, "DeepStack face detection")
async def face_detection(
    request: Request, context: Context, clock: Clock, form: DeepStackFormDep
) -> FaceDetectionAnswer:
    """File part ``image``; ``min_confidence`` is the face detector's score threshold
    (default: the model's own, see GET /models)."""
    detector = ready_pipeline(context, request, FaceDetector, None)
    image = form.image()
    run = partial(detector.run, confidence=form.probability(MIN_CONFIDENCE))
    inferred = await infer_uploads(
        context,
        {IMAGE_FIELD: image},
        run,
        model=detector.info.name,
        clock=clock,
        fast_input=detector.fast_input,
    )
    found = inferred.result
    predictions = [
        FacePrediction(
            **FacePrediction.of(_box(found, i)),
            confidence=float(found.confidence[i]),
        )
        for i in _best_first(found)
    ]
    return FaceDetectionAnswer(
        **Envelope.about(detector.info, "detect-face", inferred.timings),
        predictions=predictions,
        count=len(predictions),
    )


async def _detect_objects(
    request: Request,
    context: AppContext,
    clock: StageClock,
    image: bytes,
    min_confidence: float | None,
    model: str | None = None,
    alias: Alias | None = None,
) -> DetectionAnswer:
    detector = ready_pipeline(context, request, Detector, model)
    confidence = DEFAULT_MIN_CONFIDENCE if min_confidence is None else min_confidence
    classes = alias.class_ids(detector.labels) if alias is not None else None
    run = partial(detector.run, confidence=confidence, classes=classes)
    inferred: Inferred[DetectionResult] = await infer_uploads(
        context,
        {IMAGE_FIELD: image},
        run,
        model=detector.info.name,
        clock=clock,
        fast_input=detector.fast_input,
    )
    found = inferred.result
    context.metrics.observe_detections(found)
    predictions = [
        ObjectPrediction(
            **ObjectPrediction.of(_box(found, i)),
            label=found.labels[i],
            confidence=float(found.confidence[i]),
        )
        for i in _best_first(found)[: context.settings.deepstack_max_predictions]
    ]
    return DetectionAnswer(
        **Envelope.about(detector.info, "detect", inferred.timings),
        predictions=predictions,
        count=len(predictions),
    )


def _box(found: DetectionResult, i: int) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in found.xyxy[i])
    return x1, y1, x2, y2


def _best_first(found: DetectionResult) -> list[int]:
    """Indices by confidence, highest first (ties keep the model's order): Frigate stops
    reading at the first prediction below its threshold."""
    return sorted(range(len(found.confidence)), key=lambda i: -float(found.confidence[i]))
