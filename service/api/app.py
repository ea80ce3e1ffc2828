"""The FastAPI app factory, and ``serve`` for ``python -m service serve``.

Models load in a background thread started by the lifespan, so the process answers
``/health/live`` at once and ``/health/ready`` says 503 (with each model's status) until every
model is loaded and warmed. Middlewares, outermost first: metrics (sees every status), the
request's stage clock (Server-Timing), DeepStack's error shape on /v1/ and the Open Inference
Protocol's on /v2, the last-resort 500 problem, then the API key and body-size limits.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
import uvicorn
from fastapi import FastAPI, Security
from fastapi.openapi.utils import get_openapi
from fastapi.security import APIKeyHeader, HTTPBearer

from service.api import compat, compreface, oip, openapi_doc
from service.api.admission import Admission, BodyBudget
from service.api.connections import guarded_protocol
from service.api.context import AppContext
from service.api.docs_pages import install_docs
from service.api.gate import AdmissionGateMiddleware
from service.api.limits import API_KEY_HEADER, RequestLimitsMiddleware
from service.api.methods import MethodsMiddleware
from service.api.metrics import Metrics, MetricsMiddleware
from service.api.page import install_page
from service.api.problems import UnhandledErrorMiddleware, install_problem_handlers
from service.api.routes import (
    classify,
    detect,
    faces,
    gallery,
    health,
    metrics,
    models,
    stylize,
)
from service.api.schemas import Problem
from service.api.server_timing import ServerTimingMiddleware
from service.faces import Gallery
from service.faces.postgres_store import PostgresFaceStore
from service.faces.replication import GalleryListener
from service.faces.stores import open_store
from service.pipelines.protocol import Models
from service.pipelines.registry import ModelRegistry
from service.runtime.gpu_preflight import check_gpu_usable
from service.settings import Settings
from service.threads import ThreadPlan
from service.version import VERSION

logger = logging.getLogger(__name__)

TITLE = "Vision service"
DESCRIPTION = (
    "Object detection, image classification, face verification and recognition (with a "
    "persistent gallery) and style transfer with exported ONNX models on onnxruntime; "
    "a DeepStack / CodeProject.AI-compatible /v1/vision API and the Open Inference Protocol "
    "(KServe v2 / Triton) /v2 API beside it. "
    'Images go in as multipart/form-data (field `image`) or JSON (`{"image": base64}`); '
    "errors are application/problem+json (RFC 9457), in DeepStack's and the protocol's own "
    "shapes on /v1 and /v2."
)


def create_app(
    settings: Settings | None = None,
    registry: Models | None = None,
    face_gallery: Gallery | None = None,
) -> FastAPI:
    """An app serving ``registry`` (default: the models of ``settings.models_dir``) and
    ``face_gallery`` (default: the store :func:`~service.faces.stores.open_store` chooses)."""
    settings = settings if settings is not None else Settings()
    registry = registry if registry is not None else ModelRegistry(settings)
    if face_gallery is None:
        face_gallery = Gallery(open_store(settings))
    threads = ThreadPlan.for_machine(settings)
    context = AppContext(
        settings=settings,
        models=registry,
        metrics=Metrics(registry),
        admission=Admission(
            slots=threads.admission_slots,
            queue=settings.max_queue,
        ),
        gallery=face_gallery,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The pool Starlette's run_in_threadpool (every blocking stage) draws from.
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads.thread_pool
        # A daemon thread: shutting down never waits for a model that is still loading.
        stop_watching = threading.Event()
        threading.Thread(
            target=_load_models,
            args=(registry, stop_watching, settings.models_watch_s),
            name="model-loader",
            daemon=True,
        ).start()
        # The gallery loads in the background (readiness 503 until it is in); with PostgreSQL,
        # a listener applies other replicas' writes and retries a load that failed.
        face_gallery.load_in_background()
        listener = app.state.gallery_listener = _listener_for(face_gallery)
        try:
            async with oip.grpc_server(context):  # only when VISION_GRPC_PORT is set
                yield
        finally:
            if listener is not None:
                listener.stop()
            stop_watching.set()
            face_gallery.close()

    app = FastAPI(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # install_docs: the same pages with their scripts served from here
        redoc_url=None,
    )
    app.state.context = context
    install_problem_handlers(app)
    api_key = settings.api_key.get_secret_value() if settings.api_key else None
    # The header dependency only documents the key in OpenAPI; the middleware enforces it.
    keyed = (
        [  # either one: X-API-Key, or Authorization: Bearer (what Prometheus sends)
            Security(APIKeyHeader(name=API_KEY_HEADER, auto_error=False)),
            Security(HTTPBearer(auto_error=False)),
        ]
        if api_key
        else []
    )
    app.include_router(health.router)
    for module in (detect, classify, faces, gallery, stylize, models, metrics):
        app.include_router(module.router, dependencies=keyed)
    # DeepStack's /v1/vision API: its router checks the key itself, header or form field.
    app.include_router(compat.router, dependencies=keyed)
    app.include_router(compreface.router, dependencies=keyed)  # CompreFace's /api/v1 API
    # The Open Inference Protocol (KServe v2 / Triton) under /v2: probes open, the rest keyed.
    app.include_router(oip.probes)
    app.include_router(oip.router, dependencies=keyed)
    install_page(app)  # GET / and /ui/*: the browser page, open like /health/*
    install_docs(app)  # /docs, /redoc: offline, open like the page
    app.add_middleware(  # inside the key check: line first, then the body's bytes and time
        AdmissionGateMiddleware,
        admission=context.admission,
        budget=BodyBudget(max(settings.max_inflight_body_bytes, settings.max_body_bytes)),
        max_body_bytes=settings.max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
    )
    app.add_middleware(
        RequestLimitsMiddleware, max_body_bytes=settings.max_body_bytes, api_key=api_key
    )
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(compat.DeepStackErrorsMiddleware)  # /v1/ errors in DeepStack's shape
    app.add_middleware(compreface.CompreFaceErrorsMiddleware)  # /api/v1/: {message, code}
    app.add_middleware(oip.OipErrorsMiddleware)  # /v2 errors as {"error": ...}
    app.add_middleware(ServerTimingMiddleware)  # the request's stage clock, Server-Timing
    app.add_middleware(MetricsMiddleware, metrics=context.metrics)
    app.add_middleware(MethodsMiddleware, routes=app.router.routes)  # full Allow; HEAD as GET
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _load_models(models: Models, stop: threading.Event, watch_s: float) -> None:
    """Runs in the loader thread: load, then watch the folder for models pulled later (unless
    ``watch_s`` is 0); an error here must not go unseen."""
    try:
        models.load_all()
    except Exception:
        logger.exception("loading the models failed; /health/ready stays 503")
        return
    if watch_s > 0:
        try:
            models.watch(stop, watch_s)
        except Exception:
            logger.exception("watching the models folder failed; POST /models/reload still works")


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the Problem schema the error responses refer to."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(problem.pop("$defs", {}))
        schemas["Problem"] = problem
        openapi_doc.complete(schema)  # 401s, forms, short names, binary pictures
        app.openapi_schema = schema
    return app.openapi_schema


def _listener_for(gallery: Gallery) -> GalleryListener | None:
    """Other replicas write to a PostgreSQL gallery: listen for their writes and apply them."""
    if not isinstance(gallery.store, PostgresFaceStore):
        return None
    listener = GalleryListener(gallery, gallery.store.url)
    listener.start()
    return listener


def serve(
    host: str | None = None,
    port: int | None = None,
    models_dir: Path | None = None,
    settings: Settings | None = None,
) -> None:
    """Run the service with uvicorn; the arguments given override the settings'."""
    settings = settings if settings is not None else Settings()
    if models_dir is not None:
        settings = settings.model_copy(update={"models_dir": models_dir})
    if settings.require_gpu:  # stop here, with the reason, rather than serve 503 for ever
        check_gpu_usable(settings)
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port if port is not None else settings.port,
        # Connection limits (README "Limits and failure modes"): header deadline, connection
        # cap, time for requests in flight on SIGTERM.
        http=guarded_protocol(settings.header_timeout_s),
        limit_concurrency=settings.max_connections,
        timeout_graceful_shutdown=math.ceil(settings.graceful_shutdown_s),
    )
