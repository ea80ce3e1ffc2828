"""``POST /stylize``: the content picture painted in a built-in style, a mix of them, or the
style of a second picture; ``GET /styles``: the built-in styles, each with a preview.

``style=`` picks the fixed-style model (task ``stylize``); without it the request must carry a
``style_image`` and the arbitrary-style pair answers (task ``style-transfer``). Both at once is
refused: which one was meant cannot be known.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Response
from numpy.typing import NDArray
from starlette.concurrency import run_in_threadpool

from service.api.context import AppContext, Context
from service.api.errors import FieldProblem, InvalidParameterError, MalformedRequestError
from service.api.inference import infer_uploads, ready_pipeline
from service.api.pictures import MEDIA_TYPES, PictureFormat, data_url, encode_picture
from service.api.query import refuse_unknown_query
from service.api.routes.responses import INFERENCE_ERRORS, ModelName, problem_responses
from service.api.schemas import ModelRef, StyleOut, StylesResponse
from service.api.server_timing import Clock
from service.api.uploads import IMAGE_FIELD, image_request_body, read_images
from service.pipelines.results import ModelInfo
from service.pipelines.style_transfer import StyleTransfer
from service.pipelines.stylizer import StyledImage, Stylizer

router = APIRouter(tags=["style transfer"], dependencies=[Depends(refuse_unknown_query)])

STYLE_IMAGE_FIELD = "style_image"
DEFAULT_MAX_SIDE = 1024
_INDEX = re.compile(r"[0-9]{1,9}")


def _request_body() -> dict[str, Any]:
    """Both files documented; only ``image`` is required (``style_image`` replaces style=)."""
    body = image_request_body((IMAGE_FIELD, STYLE_IMAGE_FIELD))
    for media in body["requestBody"]["content"].values():
        media["schema"]["required"] = [IMAGE_FIELD]
    return body


@router.post(
    "/stylize",
    response_class=Response,
    responses={
        200: {
            "content": {"image/jpeg": {}, "image/png": {}},
            "description": "The stylised picture, the content's size (fitted into max_side).",
        },
        **INFERENCE_ERRORS,
    },
    openapi_extra=_request_body(),
    summary="Paint an image in a style",
)
async def stylize(
    request: Request,
    context: Context,
    clock: Clock,
    model: ModelName = None,
    style: Annotated[
        str | None,
        Query(
            max_length=2000,
            description="Built-in style: an index (see GET /styles), or a mix as "
            "comma-separated index:weight, e.g. 7:0.5,19:0.5 (weights are normalised to sum "
            "1). Omit it and send a style_image file to use any picture as the style.",
        ),
    ] = None,
    strength: Annotated[
        float,
        Query(
            ge=0,
            le=1,
            allow_inf_nan=False,
            description="1 = full style, 0 = (nearly) the content. With style_image the style "
            "vector is interpolated with the content's own; with built-in styles the styled "
            "picture is mixed with the content.",
        ),
    ] = 1.0,
    max_side: Annotated[
        int | None,
        Query(
            ge=32,
            description=f"Longest side of the answer: the content is shrunk to fit, never "
            f"enlarged. Default {DEFAULT_MAX_SIDE}; at most VISION_STYLIZE_MAX_SIDE.",
        ),
    ] = None,
    output: Annotated[
        PictureFormat, Query(alias="format", description="jpeg (default) or png (lossless).")
    ] = "jpeg",
) -> Response:
    """The content picture, its size kept (up to max_side), repainted in the chosen style."""
    side = checked_max_side(max_side, context.settings.stylize_max_side)
    info: ModelInfo
    if style is not None:
        stylizer = ready_pipeline(context, request, Stylizer, model)
        weights = parse_style(style, stylizer.num_styles)
        uploads = await _read_uploads(request, style_given=True)
        run: Callable[..., StyledImage] = partial(
            stylizer.run, weights=weights, strength=strength, max_side=side
        )
        info = stylizer.info
    else:
        uploads = await _read_uploads(request, style_given=False)
        transfer = ready_pipeline(context, request, StyleTransfer, model)
        run = partial(transfer.run, strength=strength, max_side=side)
        info = transfer.info
    inferred = await infer_uploads(context, uploads, run, model=info.name, clock=clock)
    with clock.stage("encode"):
        body = await run_in_threadpool(encode_picture, inferred.result.pixels, output)
    headers = {
        "X-Model-Name": info.name,
        "X-Model-Task": info.task,
        "X-Model-Provider": info.provider,
    }
    return Response(body, media_type=MEDIA_TYPES[output], headers=headers)


@router.get(
    "/styles",
    response_model=StylesResponse,
    responses=problem_responses(401, 404, 422, 503),
    summary="List the built-in styles",
)
async def styles(request: Request, context: Context, model: ModelName = None) -> StylesResponse:
    """Every style of a ``stylize`` model with a preview (made on the first call, then kept)."""
    stylizer = ready_pipeline(context, request, Stylizer, model)
    previews = await _previews(context, stylizer)
    return StylesResponse(
        model=ModelRef.of(stylizer.info),
        styles=[StyleOut(index=i, preview=url) for i, url in enumerate(previews)],
    )


async def _previews(context: AppContext, stylizer: Stylizer) -> list[str]:
    """The previews as data URLs; making them is inference, so it takes a slot."""
    async with context.admission.slot():
        return await run_in_threadpool(lambda: [data_url(p) for p in stylizer.previews()])


async def _read_uploads(request: Request, *, style_given: bool) -> dict[str, bytes]:
    """``image``, and ``style_image`` exactly when no ``style`` was given."""
    uploads = await read_images(request, (IMAGE_FIELD,), optional=(STYLE_IMAGE_FIELD,))
    has_style_image = STYLE_IMAGE_FIELD in uploads
    if style_given and has_style_image:
        problem = "cannot be sent with the query parameter style: send one of the two"
        raise InvalidParameterError(
            f"field {STYLE_IMAGE_FIELD!r} {problem}",
            errors=[FieldProblem("body", STYLE_IMAGE_FIELD, problem)],
        )
    if not style_given and not has_style_image:
        problem = "is missing, and so is the query parameter style"
        raise MalformedRequestError(
            f"field {STYLE_IMAGE_FIELD!r} {problem}: send a style picture as "
            f"{STYLE_IMAGE_FIELD!r}, or pick a built-in style with style=INDEX (see GET /styles)",
            errors=[FieldProblem("body", STYLE_IMAGE_FIELD, problem)],
        )
    return uploads


def checked_max_side(requested: int | None, limit: int) -> int:
    """The answer's longest side: the request's, bounded by the setting; default 1024."""
    if requested is None:
        return min(DEFAULT_MAX_SIDE, limit)
    if requested > limit:
        detail = f"{requested} is over this service's limit of {limit}"
        raise InvalidParameterError(
            f"max_side: {detail} (VISION_STYLIZE_MAX_SIDE)",
            errors=[FieldProblem("query", "max_side", detail)],
        )
    return requested


def parse_style(text: str, num_styles: int) -> NDArray[np.float32]:
    """``"7"`` or ``"7:0.5, 19:0.5"`` → one weight per style, normalised to sum 1."""
    weights = np.zeros(num_styles, dtype=np.float64)
    seen: set[int] = set()
    problems: list[str] = []
    for item in (part.strip() for part in text.split(",")):
        index_text, colon, weight_text = (piece.strip() for piece in item.partition(":"))
        if not _INDEX.fullmatch(index_text):
            problems.append(f"{item!r} is not INDEX or INDEX:WEIGHT" if item else "an empty entry")
            continue
        index = int(index_text)
        if index >= num_styles:
            problems.append(f"style {index} is outside 0..{num_styles - 1}")
        elif index in seen:
            problems.append(f"style {index} is given twice")
        else:
            seen.add(index)
            weight = _weight(weight_text) if colon else 1.0
            if weight is None:
                problems.append(f"weight {weight_text!r} of style {index} is not a number >= 0")
            else:
                weights[index] = weight
    total = sum(weights.tolist())  # a Python sum overflows to inf quietly
    if not problems and not 0.0 < total < math.inf:
        problems.append(f"the weights must sum to a positive number (they sum to {total:g})")
    if problems:
        detail = "; ".join(problems)
        raise InvalidParameterError(
            f"style: {detail} (this model has {num_styles} styles, 0..{num_styles - 1}; "
            "e.g. style=7 or style=7:0.5,19:0.5)",
            errors=[FieldProblem("query", "style", detail)],
        )
    normalised: NDArray[np.float32] = (weights / total).astype(np.float32)
    return normalised


def _weight(text: str) -> float | None:
    """A finite, non-negative weight, else None."""
    try:
        weight = float(text)
    except ValueError:
        return None
    return weight if math.isfinite(weight) and weight >= 0 else None
