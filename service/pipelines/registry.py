"""Every configured model, loaded once per process, warmed, and looked up by task and name.

Loading happens off the request path (the API's lifespan calls :meth:`ModelRegistry.load_all`
in a thread); until a model is warmed its status says so and ``/health/ready`` answers 503.
One model failing to load never stops the others: its status carries the reason.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import numpy as np

from detection import DetectionError
from detection.layouts import detect_layout
from service.errors import ServiceError
from service.pipelines.classifier import Classifier
from service.pipelines.detector import Detector
from service.pipelines.embedder import FaceEmbedder
from service.pipelines.style_transfer import StylePredictor, StyleTransfer
from service.pipelines.stylizer import Stylizer
from service.repository import ModelEntry, ModelSpec, scan_repository
from service.repository.loader import NOT_PULLED, PRESENT
from service.runtime.session import ModelSession
from service.settings import Settings

logger = logging.getLogger(__name__)

Pipeline = Detector | Classifier | FaceEmbedder | Stylizer | StylePredictor | StyleTransfer
LOADING = "loading"
READY = "ready"
SERVED_TASKS = (
    "detect", "classify", "face-detect", "face-embed", "stylize", "style-predict", "style-transfer"
)


class UnknownModelError(ServiceError):
    """No model of that name (or none at all) serves the requested task."""


class ModelNotReadyError(ServiceError):
    """The model exists but is still loading, failed to load, or was never pulled."""


@dataclass
class _Slot:
    entry: ModelEntry
    status: str
    pipeline: Pipeline | None = None
    session: ModelSession | None = None
    spec: ModelSpec | None = None
    layout: str | None = None


class ModelRegistry:
    """The models of ``settings.models_dir``; construction is cheap, :meth:`load_all` is not."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._slots = {
            entry.name: _Slot(entry, LOADING if entry.status == PRESENT else entry.status)
            for entry in scan_repository(settings.models_dir)
        }

    def load_all(self) -> None:
        """Load and warm every pulled model, one after the other, recording each outcome."""
        # A style transformer links to its predictor, so it loads after every other model.
        links_last = sorted(self._slots.items(), key=lambda item: _task(item[1]) == "style-transfer")
        for name, slot in links_last:
            if slot.status != LOADING:
                continue
            try:
                self._load(slot)
            except (ServiceError, DetectionError) as error:
                logger.error("model %s failed to load: %s", name, error)
                with self._lock:
                    slot.status = f"error: {error}"
            else:
                logger.info("model %s ready on %s", name, slot.session and slot.session.provider)

    def _load(self, slot: _Slot) -> None:
        entry = slot.entry
        config_providers = entry.config.runtime.providers if entry.config else None
        session = ModelSession(entry.model_path, self.settings, providers=config_providers)
        spec = entry.resolve(session.signature())
        if spec.task not in SERVED_TASKS:
            raise UnknownModelError(f"task {spec.task!r} is not served by this version")
        layout = self._layout(session, spec)
        pipeline = build_pipeline(entry.name, spec, session, layout, self._predictor(spec))
        warm_up(pipeline, spec)
        with self._lock:
            slot.session, slot.spec, slot.layout, slot.pipeline = session, spec, layout, pipeline
            slot.status = READY

    def _predictor(self, spec: ModelSpec) -> StylePredictor | None:
        """A style transformer's ready predictor (model.toml ``style.predictor``)."""
        if spec.style is None or spec.style.predictor is None:
            return None
        predictor = self.get("style-predict", spec.style.predictor)
        assert isinstance(predictor, StylePredictor)
        return predictor

    @staticmethod
    def _layout(session: ModelSession, spec: ModelSpec) -> str | None:
        """The detection layout: model.toml's, else chosen from a real run's output shapes."""
        if spec.task not in ("detect", "face-detect"):
            return None
        if spec.output.layout is not None:
            return spec.output.layout
        height, width = spec.input.size
        shape = (1, 3, height, width) if spec.input.layout == "NCHW" else (1, height, width, 3)
        outputs = session.run(np.zeros(shape, dtype=np.float32))
        signature = session.signature()
        return detect_layout(
            [output.shape for output in outputs],
            signature.metadata,
            num_classes=len(spec.labels) or None,
            input_hw=spec.input.size,
            strides=spec.output.strides,
            output_names=[tensor.name for tensor in signature.outputs],
        )

    def status(self) -> dict[str, str]:
        """Model name -> loading | ready | not pulled | error: <why>."""
        with self._lock:
            return {name: slot.status for name, slot in self._slots.items()}

    @property
    def ready(self) -> bool:
        """True when every pulled model is loaded and warmed.

        A folder whose ONNX file was never pulled is listed (status ``not pulled``) but does not
        hold readiness back: the bundled repository ships configs for optional models too.
        """
        statuses = [s for s in self.status().values() if s != NOT_PULLED]
        return bool(statuses) and all(status == READY for status in statuses)

    def get(self, task: str, name: str | None = None) -> Pipeline:
        """The ready model ``name`` serving ``task``; by default the first model of ``task``."""
        with self._lock:
            slots = dict(self._slots)
        serving = [n for n, slot in slots.items() if _task(slot) == task]
        if name is None:
            if not serving:
                raise UnknownModelError(f"no model serves task {task!r}")
            name = serving[0]
        slot = slots.get(name)
        if slot is None or _task(slot) not in (task, None):
            listed = ", ".join(serving) or "none"
            raise UnknownModelError(f"no {task} model named {name!r}; {task} models: {listed}")
        if slot.pipeline is None:
            raise ModelNotReadyError(f"model {name!r} is not ready: {slot.status}")
        if _task(slot) != task:
            raise UnknownModelError(f"model {name!r} does not serve task {task!r}")
        return slot.pipeline

    def describe(self) -> list[dict[str, object]]:
        """What GET /models reports, for every model including those not ready."""
        with self._lock:
            return [_describe(name, slot) for name, slot in self._slots.items()]


def build_pipeline(
    name: str,
    spec: ModelSpec,
    session: ModelSession,
    layout: str | None,
    predictor: StylePredictor | None = None,
) -> Pipeline:
    """The pipeline class of a task; a style transformer also takes its predictor."""
    if spec.task == "classify":
        return Classifier(name, spec, session)
    if spec.task == "face-embed":
        return FaceEmbedder(name, spec, session)
    if spec.task == "stylize":
        return Stylizer(name, spec, session)
    if spec.task == "style-predict":
        return StylePredictor(name, spec, session)
    if spec.task == "style-transfer":
        assert predictor is not None
        return StyleTransfer(name, spec, session, predictor)
    assert layout is not None
    return Detector(name, spec, session, layout)


def warm_up(pipeline: Pipeline, spec: ModelSpec) -> None:
    """One full run on a grey picture of the input size: preprocess, inference, postprocess."""
    grey = np.full((*spec.input.size, 3), 114, dtype=np.uint8)
    if isinstance(pipeline, FaceEmbedder):
        pipeline.embed(grey, None)
    elif isinstance(pipeline, Stylizer | StylePredictor | StyleTransfer):
        pipeline.warm_up()
    else:
        pipeline.run(grey)


def _describe(name: str, slot: _Slot) -> dict[str, object]:
    spec, session = slot.spec, slot.session
    described: dict[str, object] = {"name": name, "status": slot.status}
    if spec is None or session is None:
        return described
    thresholds: dict[str, object] = {}
    if spec.task in ("detect", "face-detect"):
        thresholds = {
            "confidence": spec.postprocess.confidence,
            "iou": spec.postprocess.iou,
            "max_detections": spec.postprocess.max_detections,
        }
    if spec.similarity is not None:
        thresholds["similarity"] = spec.similarity
    described.update(
        task=spec.task,
        providers_requested=list(session.providers_requested),
        providers_used=list(session.providers_used),
        provider=session.provider,
        input_size=list(spec.input.size),
        layout=slot.layout,
        labels_count=len(spec.labels),
        thresholds=thresholds,
    )
    return described


def _task(slot: _Slot) -> str | None:
    """The task a model serves, known from model.toml before loading, else after."""
    if slot.spec is not None:
        return slot.spec.task
    return slot.entry.config.task if slot.entry.config else None
