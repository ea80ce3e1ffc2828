"""``POST /detect``: objects in one image, as JSON or as the picture with boxes drawn."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from service.api.context import Context
from service.api.drawing import render_detections
from service.api.errors import FieldProblem, InvalidParameterError
from service.api.inference import infer, ready_pipeline
from service.api.routes.responses import INFERENCE_ERRORS, ModelName
from service.api.schemas import DetectResponse
from service.api.server_timing import Clock
from service.api.uploads import image_request_body
from service.pipelines.detector import Detector

router = APIRouter(tags=["detection"])
_INTEGER = re.compile(r"[+-]?[0-9]{1,9}")  # longer digit runs are no class id


@router.post(
    "/detect",
    response_model=DetectResponse,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "JSON, or JPEG with format=image"},
        **INFERENCE_ERRORS,
    },
    openapi_extra=image_request_body(),
    summary="Detect objects in an image",
)
async def detect(
    request: Request,
    context: Context,
    clock: Clock,
    model: ModelName = None,
    confidence: Annotated[
        float | None,
        Query(ge=0, le=1, allow_inf_nan=False, description="Minimum score; default: model's."),
    ] = None,
    iou: Annotated[
        float | None,
        Query(ge=0, le=1, allow_inf_nan=False, description="NMS IoU threshold; default: model's."),
    ] = None,
    max_detections: Annotated[
        int | None, Query(ge=1, le=10000, description="Most boxes returned; default: model's.")
    ] = None,
    classes: Annotated[
        str | None,
        Query(
            max_length=10000,
            description="Only these classes: comma-separated ids or labels, e.g. 0,2 or "
            "person,bus. Numbers are ids.",
        ),
    ] = None,
    output: Annotated[
        Literal["json", "image"],
        Query(alias="format", description="json, or image for a JPEG with boxes drawn."),
    ] = "json",
    mask_format: Annotated[
        Literal["polygon", "rle"],
        Query(
            description="Segmentation models: polygon (the outline only), or rle to add each "
            "mask in image pixels as COCO RLE."
        ),
    ] = "polygon",
) -> DetectResponse | Response:
    """Boxes in the upright image's pixels (EXIF orientation applied), best first."""
    detector = ready_pipeline(context, request, Detector, model)
    class_ids = parse_classes(classes, detector.labels) if classes is not None else None
    run = partial(
        detector.run,
        confidence=confidence,
        iou=iou,
        max_detections=max_detections,
        classes=class_ids,
    )
    inferred = await infer(context, request, run, model=detector.info.name, clock=clock)
    context.metrics.observe_detections(inferred.result)
    if output == "image":
        jpeg = await run_in_threadpool(render_detections, inferred.image.pixels, inferred.result)
        return Response(jpeg, media_type="image/jpeg")
    return DetectResponse.of(inferred.result, inferred.timings, with_rle=mask_format == "rle")


def parse_classes(text: str, labels: Sequence[str]) -> list[int]:
    """``"0,bus, Person"`` → class ids; labels match exactly, else case-insensitively."""
    exact: dict[str, int] = {}
    folded: dict[str, int] = {}
    for class_id, label in enumerate(labels):
        exact.setdefault(label, class_id)
        folded.setdefault(label.casefold(), class_id)
    ids: list[int] = []
    problems: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        if _INTEGER.fullmatch(item):
            class_id = int(item)
            if class_id < 0 or (labels and class_id >= len(labels)):
                problems.append(f"class id {class_id} is outside 0..{len(labels) - 1}")
                continue
        else:
            found = exact.get(item, folded.get(item.casefold()))
            if found is None:
                problems.append(f"unknown class {item!r}" if item else "an empty entry")
                continue
            class_id = found
        if class_id not in ids:
            ids.append(class_id)
    if problems:
        detail = "; ".join(problems)
        raise InvalidParameterError(
            f"classes: {detail} (the model knows {_label_summary(labels)})",
            errors=[FieldProblem("query", "classes", detail)],
        )
    return ids


def _label_summary(labels: Sequence[str]) -> str:
    shown = ", ".join(labels[:10])
    return f"{len(labels)} classes: {shown}{', ...' if len(labels) > 10 else ''}"
