"""The Open Inference Protocol's HTTP/REST routes under ``/v2`` (KServe v2, as Triton serves it).

Health, server and model metadata, Triton's model configuration, and inference with JSON or
binary tensors on the same onnxruntime sessions, admission, limits and metrics as every other
route. Health answers follow the protocol: 200 for true, 400 for false, an empty body. Errors
are ``{"error": ...}`` (``service.api.oip.errors``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from service.api.context import AppContext, Context
from service.api.inference import run_blocking
from service.api.metrics import label_model
from service.api.oip.rest import (
    HEADER_LENGTH,
    InferRequest,
    decompress,
    encode_answer,
    parse_request,
)
from service.api.oip.served import EXTENSIONS, SERVER_NAME, ServedModel, check_version
from service.api.server_timing import Clock
from service.timing import StageClock
from service.version import VERSION

TAGS: list[str | Any] = ["Open Inference Protocol (KServe v2 / Triton)"]
MODEL = "/models/{model_name}"
VERSIONED = "/models/{model_name}/versions/{model_version}"

#: The probes, open like ``/health/*``.
probes = APIRouter(prefix="/v2/health", tags=TAGS)
#: Everything else, behind the API key like our own routes.
router = APIRouter(prefix="/v2", tags=TAGS)


@probes.get("/live", summary="Server live (200, empty body)", response_class=Response)
async def server_live() -> Response:
    """200 while the process serves requests."""
    return Response(status_code=200)


@probes.get("/ready", summary="Server ready (200 or 400, empty body)", response_class=Response)
def server_ready(context: Context) -> Response:
    """200 once every pulled model is loaded and warmed, 400 before (the protocol's false)."""
    return Response(status_code=200 if context.models.ready else 400)


@router.get("", summary="Server metadata")
async def server_metadata() -> dict[str, Any]:
    """Name, version and the protocol extensions served."""
    return {"name": SERVER_NAME, "version": VERSION, "extensions": list(EXTENSIONS)}


@router.get(MODEL, summary="Model metadata")
@router.get(VERSIONED, summary="Model metadata of a version")
def model_metadata(
    request: Request, context: Context, model_name: str, model_version: str | None = None
) -> dict[str, Any]:
    """Inputs and outputs with names, datatypes and shapes (-1: dynamic)."""
    return _served(request, context, model_name, model_version).describe()


@router.get(MODEL + "/config", summary="Model configuration (Triton)")
@router.get(VERSIONED + "/config", summary="Model configuration of a version (Triton)")
def model_config(
    request: Request, context: Context, model_name: str, model_version: str | None = None
) -> dict[str, Any]:
    """Triton's model configuration: ``input``/``output`` with ``data_type`` and ``dims``, and
    the ONNX metadata (Ultralytics': names, stride, imgsz, task) in ``parameters.metadata``."""
    return _served(request, context, model_name, model_version).config()


@router.get(
    MODEL + "/ready", summary="Model ready (200 or 400, empty body)", response_class=Response
)
@router.get(
    VERSIONED + "/ready",
    summary="Model version ready (200 or 400, empty body)",
    response_class=Response,
)
def model_ready(context: Context, model_name: str, model_version: str | None = None) -> Response:
    """200 when the model is loaded and warmed, 400 while it is not; 404 for no such model."""
    status = context.models.status().get(model_name)
    if status is None:
        context.models.session(model_name)  # raises the registry's 404, naming the models
    check_version(model_name, model_version)
    return Response(status_code=200 if status == "ready" else 400)


@router.post(MODEL + "/infer", summary="Inference")
@router.post(VERSIONED + "/infer", summary="Inference on a version")
async def infer(
    request: Request,
    context: Context,
    clock: Clock,
    model_name: str,
    model_version: str | None = None,
) -> Response:
    """Raw tensors in, raw tensors out: JSON ``data`` or binary tensor data (the body's JSON
    header is ``Inference-Header-Content-Length`` bytes long; outputs with ``binary_data``)."""
    served = _served(request, context, model_name, model_version)
    with clock.stage("read"):  # the body streaming in: a 2 MB tensor is worth seeing
        sent = await request.body()
    body = decompress(
        sent, request.headers.get("content-encoding"), limit=context.settings.max_body_bytes
    )
    answer, header_length = await run_blocking(
        context, _infer, served, body, request.headers.get(HEADER_LENGTH), clock
    )
    context.metrics.observe_stages(served.name, clock.stages())
    if header_length is None:
        return Response(answer, media_type="application/json")
    return Response(
        answer,
        media_type="application/octet-stream",
        headers={HEADER_LENGTH: str(header_length)},
    )


def _served(request: Request, context: AppContext, name: str, version: str | None) -> ServedModel:
    served = ServedModel(context.models, name, version)
    label_model(request, served.name)
    return served


def _infer(
    served: ServedModel, body: bytes, header_length: str | None, clock: StageClock
) -> tuple[bytes, int | None]:
    """Decode, run, encode: one trip to the thread pool, each stage timed."""
    with clock.stage("decode"):
        request: InferRequest = parse_request(body, header_length)
    with clock.stage("inference"):
        outputs = served.infer(request.inputs, request.outputs)
    with clock.stage("encode"):
        return encode_answer(served.name, request, outputs)
