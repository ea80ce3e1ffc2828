"""``POST /detect``: objects in one image as JSON; ``POST /detect/image``: the picture with them
drawn. Two operations, so that each has one typed answer (a generated client parses JSON or
keeps bytes, never guesses); ``/detect?format=image`` stays for curl users."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from service.api.context import Context
from service.api.drawing import render_detections
from service.api.errors import FieldProblem, InvalidParameterError
from service.api.inference import Inferred, infer, ready_pipeline
from service.api.loop_dependencies import on_the_loop
from service.api.query import refuse_unknown_query
from service.api.routes.responses import INFERENCE_ERRORS, ModelName
from service.api.schemas import DetectResponse
from service.api.server_timing import Clock
from service.api.uploads import image_request_body
from service.pipelines.detector import Detector
from service.pipelines.results import DetectionResult

router = APIRouter(tags=["detection"], dependencies=[Depends(refuse_unknown_query)])
_INTEGER = re.compile(r"[+-]?[0-9]{1,9}")  # longer digit runs are no class id
T = TypeVar("T", int, float)


@dataclass(frozen=True)
class DetectQuery:
    """What both detection routes take: thresholds, under our names or Ultralytics'."""

    model: ModelName = None
    confidence: Annotated[
        float | None,
        Query(ge=0, le=1, allow_inf_nan=False, description="Minimum score; default: model's."),
    ] = None
    iou: Annotated[
        float | None,
        Query(ge=0, le=1, allow_inf_nan=False, description="NMS IoU threshold; default: model's."),
    ] = None
    max_detections: Annotated[
        int | None, Query(ge=1, le=10000, description="Most boxes returned; default: model's.")
    ] = None
    classes: Annotated[
        str | None,
        Query(
            max_length=10000,
            description="Only these classes: comma-separated ids or labels, e.g. 0,2 or "
            "person,bus. Numbers are ids.",
        ),
    ] = None
    conf: Annotated[
        float | None,
        Query(ge=0, le=1, allow_inf_nan=False, description="Ultralytics' name for confidence."),
    ] = None
    max_det: Annotated[
        int | None, Query(ge=1, le=10000, description="Ultralytics' name for max_detections.")
    ] = None


DetectParams = Annotated[DetectQuery, Depends(on_the_loop(DetectQuery))]


@router.post(
    "/detect",
    response_model=DetectResponse,
    responses=INFERENCE_ERRORS,
    openapi_extra=image_request_body(),
    summary="Detect objects in an image",
)
async def detect(
    request: Request,
    context: Context,
    clock: Clock,
    query: DetectParams,
    output: Annotated[
        Literal["json", "image"],
        Query(
            alias="format",
            description="json; image answers as POST /detect/image does (a JPEG), for curl "
            "users. Generated clients: call /detect/image, whose answer is typed as one.",
            include_in_schema=False,
        ),
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
    if output == "image":
        return await _drawn(request, context, clock, query)
    inferred = await _detected(request, context, clock, query, fast=True)
    return DetectResponse.of(inferred.result, inferred.timings, with_rle=mask_format == "rle")


@router.post(
    "/detect/image",
    response_class=Response,
    responses={
        200: {
            "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The upright photo as JPEG with boxes, labels, masks drawn.",
        },
        **INFERENCE_ERRORS,
    },
    openapi_extra=image_request_body(),
    summary="Detect objects and draw them on the image",
)
async def detect_image(
    request: Request, context: Context, clock: Clock, query: DetectParams
) -> Response:
    """What ``POST /detect`` finds, drawn: the same parameters, a JPEG answer."""
    return await _drawn(request, context, clock, query)


async def _detected(
    request: Request, context: Context, clock: Clock, query: DetectQuery, *, fast: bool = False
) -> Inferred[DetectionResult]:
    """``fast``: fast decode may serve it (not when the answer draws on the decoded photo)."""
    confidence = aliased("confidence", query.confidence, "conf", query.conf)
    max_detections = aliased("max_detections", query.max_detections, "max_det", query.max_det)
    detector = ready_pipeline(context, request, Detector, query.model)
    classes = query.classes
    class_ids = parse_classes(classes, detector.labels) if classes is not None else None
    run = partial(
        detector.run,
        confidence=confidence,
        iou=query.iou,
        max_detections=max_detections,
        classes=class_ids,
    )
    fast_input = detector.fast_input if fast else None
    inferred = await infer(
        context, request, run, model=detector.info.name, clock=clock, fast_input=fast_input
    )
    context.metrics.observe_detections(inferred.result)
    return inferred


async def _drawn(request: Request, context: Context, clock: Clock, query: DetectQuery) -> Response:
    inferred = await _detected(request, context, clock, query)
    jpeg = await run_in_threadpool(render_detections, inferred.image.pixels, inferred.result)
    return Response(jpeg, media_type="image/jpeg")


def aliased(name: str, value: T | None, alias: str, alias_value: T | None) -> T | None:
    """One setting given by its own name or by the name Ultralytics users type; both at once
    is refused unless they agree (which one wins would be a guess)."""
    if value is not None and alias_value is not None and value != alias_value:
        detail = f"{alias} is another name for {name}; give one of them"
        raise InvalidParameterError(
            f"{alias}: {detail} (got {name}={value}, {alias}={alias_value})",
            errors=[FieldProblem("query", alias, detail)],
        )
    return value if value is not None else alias_value


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
