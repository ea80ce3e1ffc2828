"""The Open Inference Protocol over gRPC: ``inference.GRPCInferenceService`` on its own port.

It runs on uvicorn's event loop (``grpc.aio``) beside the HTTP routes and does what they do:
the same :class:`~service.api.oip.served.ServedModel` checks and ``infer``, the same admission
slots and thread pool, the same API key (``x-api-key`` metadata; ``ServerLive`` and
``ServerReady`` open like ``/v2/health/*``), the same metrics (route: the method's path,
status: the gRPC code's name). Errors are decided as on HTTP (:mod:`service.api.problems`)
and sent as the matching gRPC status with the problem's detail.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import json_format
from grpc import aio

from service.api.context import AppContext
from service.api.errors import MalformedRequestError, UnauthorizedError
from service.api.inference import run_blocking
from service.api.limits import API_KEY_HEADER, check_key
from service.api.oip.messages import SERVICE, message, methods
from service.api.oip.served import (
    EXTENSIONS,
    SERVER_NAME,
    VERSION,
    ServedModel,
    refuse_unserved,
)
from service.api.oip.tensors import Tensor, from_raw, from_values
from service.api.problems import problem_for_exception
from service.timing import StageClock
from service.version import VERSION as SERVER_VERSION

logger = logging.getLogger(__name__)

OPEN_METHODS = frozenset({"ServerLive", "ServerReady"})  # probes, open like /v2/health/*
#: HTTP status of the problem an error maps to -> the gRPC status sent instead.
GRPC_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
}
#: Where each datatype's values sit in ``InferTensorContents`` (FP16 has no field: raw only).
CONTENTS_FIELDS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}

Handler = Callable[[Any], Awaitable[Any]]


class InferenceService:
    """Each method of ``GRPCInferenceService`` over the app's models and admission."""

    def __init__(self, context: AppContext) -> None:
        self.context = context
        api_key = context.settings.api_key
        self._api_key = api_key.get_secret_value().encode() if api_key else None

    def handler(self) -> grpc.GenericRpcHandler:
        """Every method of the ``.proto``, each wrapped in key check, errors and metrics."""
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(
                self._wrapped(name, getattr(self, _snake(name))),
                request_deserializer=request.FromString,
                response_serializer=response.SerializeToString,
            )
            for name, request, response in methods()
        }
        return grpc.method_handlers_generic_handler(SERVICE, handlers)

    async def server_live(self, request: Any) -> Any:
        return message("ServerLiveResponse")(live=True)

    async def server_ready(self, request: Any) -> Any:
        return message("ServerReadyResponse")(ready=self.context.models.ready)

    async def model_ready(self, request: Any) -> Any:
        """False, not an error, for a model that is not there: the call asks a yes/no."""
        status = self.context.models.status().get(request.name)
        ready = status == "ready" and request.version in ("", VERSION)
        return message("ModelReadyResponse")(ready=ready)

    async def server_metadata(self, request: Any) -> Any:
        return message("ServerMetadataResponse")(
            name=SERVER_NAME, version=SERVER_VERSION, extensions=list(EXTENSIONS)
        )

    async def model_metadata(self, request: Any) -> Any:
        described = ServedModel(self.context.models, request.name, request.version).describe()
        tensor = message("ModelMetadataResponse.TensorMetadata")
        return message("ModelMetadataResponse")(
            **{key: described[key] for key in ("name", "versions", "platform")},
            inputs=[tensor(**spec) for spec in described["inputs"]],
            outputs=[tensor(**spec) for spec in described["outputs"]],
        )

    async def model_config(self, request: Any) -> Any:
        served = ServedModel(self.context.models, request.name, request.version)
        config = json_format.ParseDict(served.config(), message("ModelConfig")())
        return message("ModelConfigResponse")(config=config)

    async def model_infer(self, request: Any) -> Any:
        served = ServedModel(self.context.models, request.model_name, request.model_version)
        clock = StageClock()
        response = await run_blocking(self.context, _infer, served, request, clock)
        self.context.metrics.observe_stages(served.name, clock.stages())
        return response

    def _wrapped(self, name: str, method: Handler) -> Callable[[Any, aio.ServicerContext], Any]:
        route = f"/{SERVICE}/{name}"
        metrics = self.context.metrics

        async def call(request: Any, rpc: aio.ServicerContext) -> Any:
            start, code = time.perf_counter(), grpc.StatusCode.OK
            metrics.in_flight.inc()
            try:
                if name not in OPEN_METHODS:
                    self._authorize(rpc)
                return await method(request)
            except Exception as exc:  # every failure answers a status, like the HTTP routes
                code, detail = _status(exc, route)
                await rpc.abort(code, detail)
            finally:
                metrics.in_flight.dec()
                model = self._model_label(request)
                metrics.requests.labels(route, "POST", model, code.name).inc()  # HTTP/2 POST
                metrics.request_seconds.labels(route).observe(time.perf_counter() - start)

        return call

    def _authorize(self, rpc: aio.ServicerContext) -> None:
        if self._api_key is None:
            return
        header = API_KEY_HEADER.lower()
        given = next(
            (value for key, value in rpc.invocation_metadata() or () if key == header), None
        )
        if given is None:
            raise UnauthorizedError(f"this service requires the {header} metadata")
        check_key(given.encode() if isinstance(given, str) else given, self._api_key, header)

    def _model_label(self, request: Any) -> str:
        """The model named by the request if it is a configured one (bounded label values)."""
        name = getattr(request, "model_name", "") or getattr(request, "name", "")
        return name if name in self.context.models.status() else ""


async def start_grpc(context: AppContext) -> aio.Server:
    """Serve ``GRPCInferenceService`` on ``settings.host:settings.grpc_port``."""
    settings = context.settings
    server = aio.server(
        options=[
            ("grpc.max_receive_message_length", settings.max_body_bytes),
            ("grpc.max_send_message_length", -1),
        ]
    )
    server.add_generic_rpc_handlers((InferenceService(context).handler(),))
    address = f"{settings.host}:{settings.grpc_port}"
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot listen for gRPC on {address}")
    await server.start()
    logger.info("gRPC (KServe v2) listening on %s", address)
    return server


def _infer(served: ServedModel, request: Any, clock: StageClock) -> Any:
    """Decode, run, encode: one trip to the thread pool, each stage timed; outputs as
    ``raw_output_contents``, as Triton answers."""
    with clock.stage("decode"):
        inputs = _inputs(request)
        for output in request.outputs:
            refuse_unserved(output.parameters, f"output {output.name!r}")
        wanted = [output.name for output in request.outputs] or None
    with clock.stage("inference"):
        outputs = served.infer(inputs, wanted)
    with clock.stage("encode"):
        tensor = message("ModelInferResponse.InferOutputTensor")
        return message("ModelInferResponse")(
            model_name=served.name,
            model_version=VERSION,
            id=request.id,
            outputs=[
                tensor(name=out.name, datatype=out.datatype, shape=list(out.array.shape))
                for out in outputs
            ],
            raw_output_contents=[out.raw() for out in outputs],
        )


def _inputs(request: Any) -> list[Tensor]:
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise MalformedRequestError(
            f"raw_input_contents holds {len(raw)} tensors for {len(request.inputs)} inputs"
        )
    tensors = []
    for index, item in enumerate(request.inputs):
        where = f"input {item.name!r}"
        refuse_unserved(item.parameters, where)
        if raw:
            if item.HasField("contents"):
                raise MalformedRequestError(f"{where} has both contents and raw_input_contents")
            tensors.append(from_raw(item.name, item.datatype, item.shape, raw[index], where=where))
            continue
        field = CONTENTS_FIELDS.get(item.datatype)
        if field is None:
            raise MalformedRequestError(
                f"{where}: {item.datatype} values must come as raw_input_contents"
            )
        values = list(getattr(item.contents, field))
        tensors.append(from_values(item.name, item.datatype, item.shape, values, where=where))
    return tensors


def _status(exc: Exception, route: str) -> tuple[grpc.StatusCode, str]:
    """The gRPC status and message of an error, decided as for HTTP (500s logged there)."""
    problem = problem_for_exception(exc, instance=route)
    detail = json.loads(bytes(problem.body)).get("detail", "")
    return GRPC_CODES.get(problem.status_code, grpc.StatusCode.INTERNAL), str(detail)


def _snake(name: str) -> str:
    """``ModelInfer`` -> ``model_infer``: the method serving a ``.proto`` method."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
