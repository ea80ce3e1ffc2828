"""``POST /classify``: the most probable classes of one image."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from service.api.context import Context
from service.api.inference import infer, ready_pipeline
from service.api.query import refuse_unknown_query
from service.api.routes.responses import INFERENCE_ERRORS, ModelName
from service.api.schemas import ClassifyResponse
from service.api.server_timing import Clock
from service.api.uploads import image_request_body
from service.pipelines.classifier import Classifier

router = APIRouter(tags=["classification"], dependencies=[Depends(refuse_unknown_query)])


@router.post(
    "/classify",
    response_model=ClassifyResponse,
    responses=INFERENCE_ERRORS,
    openapi_extra=image_request_body(),
    summary="Classify an image",
)
async def classify(
    request: Request,
    context: Context,
    clock: Clock,
    model: ModelName = None,
    top_k: Annotated[int, Query(ge=1, le=1000, description="How many classes to return.")] = 5,
) -> ClassifyResponse:
    """The ``top_k`` most probable classes, most probable first, with probabilities."""
    classifier = ready_pipeline(context, request, Classifier, model)
    run = partial(classifier.run, top_k=top_k)
    inferred = await infer(
        context,
        request,
        run,
        model=classifier.info.name,
        clock=clock,
        fast_input=classifier.fast_input,
    )
    return ClassifyResponse.of(inferred.result, inferred.timings)
