"""Prometheus metrics, in a registry of the app's own (two apps in one process never clash).

- ``vision_requests_total{route, method, model, status}``: every answer; ``route`` is the
  route's template (``unmatched`` for unknown paths), ``method`` an HTTP method of
  ``METHODS`` (else ``other``; ``POST`` for gRPC), and ``model`` only ever a configured model's
  name, so clients cannot blow up the label sets.
- ``vision_request_duration_seconds{route}``: wall time per request.
- ``vision_stage_duration_seconds{stage, model}``: decode, preprocess, inference, postprocess.
- ``vision_requests_in_flight``: requests being answered now.
- ``vision_detections_truncated_total{model}``: detection answers whose candidates were cut to
  the top-k before NMS (the answer says ``truncated: true``), so weaker ones were never kept.
- ``vision_model_info{model, task, provider}`` = 1 and ``vision_model_ready{model}``: read from
  the model registry at each scrape, so they never go stale.

No ``*_created`` series: they double what a scrape carries and Prometheus does not use them
(its own ``created_timestamp`` handling reads the OpenMetrics field, not these samples).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.pipelines.results import DetectionResult

STAGE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STAGES = ("decode", "preprocess", "inference", "postprocess")
_MODEL_STATE_KEY = "metrics_model"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

disable_created_metrics()  # type: ignore[no-untyped-call]  # process-wide; we want none


class DescribesModels(Protocol):
    def describe(self) -> list[dict[str, Any]]: ...


class Metrics:
    """The app's instruments; ``render`` gives the Prometheus text exposition."""

    def __init__(self, models: DescribesModels) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "vision_requests",
            "HTTP requests answered, by route template, method, model and status code.",
            ["route", "method", "model", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "vision_request_duration_seconds",
            "Wall time from the first byte received to the last byte sent, by route.",
            ["route"],
            buckets=STAGE_BUCKETS_S,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "vision_stage_duration_seconds",
            "Time spent in one stage of an inference request, by stage and model.",
            ["stage", "model"],
            buckets=STAGE_BUCKETS_S,
            registry=self.registry,
        )
        self.truncated = Counter(
            "vision_detections_truncated",
            "Detection answers whose candidates were cut to the top-k before NMS, by model.",
            ["model"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "vision_requests_in_flight",
            "HTTP requests being answered now.",
            registry=self.registry,
        )
        self.registry.register(_ModelCollector(models))

    def observe_stages(self, model: str, stage_ms: Mapping[str, float]) -> None:
        """Record one request's per-stage milliseconds (keys outside ``STAGES`` are ignored)."""
        for stage in STAGES:
            if stage in stage_ms:
                self.stage_seconds.labels(stage, model).observe(stage_ms[stage] / 1000.0)

    def observe_detections(self, result: DetectionResult) -> None:
        """Count an answer whose candidates were truncated before NMS."""
        if result.truncated:
            self.truncated.labels(result.model.name).inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def label_model(request: Request, model: str) -> None:
    """Tell the middleware which (configured) model this request used."""
    setattr(request.state, _MODEL_STATE_KEY, model)


class MetricsMiddleware:
    """Counts every answer, including the ones middlewares below it give (401, 413, 500)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})  # the dict Request.state writes into
        status = 499  # no answer was started: the client went away (nginx's convention)

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        start = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_recording)
        finally:
            self.metrics.in_flight.dec()
            route = _route_template(scope)
            model = str(state.get(_MODEL_STATE_KEY, ""))
            method = str(scope.get("method", "")).upper()
            method = method if method in METHODS else "other"
            self.metrics.requests.labels(route, method, model, str(status)).inc()
            self.metrics.request_seconds.labels(route).observe(time.perf_counter() - start)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class _ModelCollector(Collector):
    """Provider and readiness of every configured model, read at scrape time."""

    def __init__(self, models: DescribesModels) -> None:
        self.models = models

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "vision_model_info",
            "1 for each model, labelled with the execution provider it actually runs on.",
            labels=["model", "task", "provider"],
        )
        ready = GaugeMetricFamily(
            "vision_model_ready", "1 when the model is loaded and warmed.", labels=["model"]
        )
        for model in self.models.describe():
            name = str(model.get("name", ""))
            used = model.get("providers_used") or ["none"]
            info.add_metric([name, str(model.get("task", "")), str(used[0])], 1.0)
            ready.add_metric([name], 1.0 if model.get("status") == "ready" else 0.0)
        yield info
        yield ready
