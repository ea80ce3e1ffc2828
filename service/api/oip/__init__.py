"""The Open Inference Protocol (KServe v2, as NVIDIA Triton serves it) over our models, so that
tritonclient, KServe, Seldon and Ultralytics' ``YOLO("http://host:port/model")`` use every ONNX
model of the repository as they would a Triton model: raw tensors in and out, on the same
sessions, admission, limits, API key and metrics as every other route.

``routes`` is the HTTP/REST API (``rest`` frames its JSON and binary tensors), ``grpc_service``
the gRPC one (``inference.proto``, loaded by ``messages``; started by ``grpc_lifespan``). Both
share ``served`` (a ready model's tensors, metadata, config and ``infer``), ``tensors`` (one
tensor from or to raw bytes or values) and ``datatypes``; ``errors`` is HTTP's
``{"error": ...}`` shape.
"""

from service.api.oip.errors import OipErrorsMiddleware
from service.api.oip.grpc_lifespan import grpc_server
from service.api.oip.routes import probes, router

__all__ = ["OipErrorsMiddleware", "grpc_server", "probes", "router"]
