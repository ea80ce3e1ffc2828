"""Every configured model, loaded once per process, warmed, and looked up by pipeline class
and name.

Loading happens off the request path (the API's lifespan calls :meth:`ModelRegistry.load_all`
in a thread); until a model is warmed its status says so and ``/health/ready`` answers 503.
One model failing to load never stops the others: its status carries the reason. Which class
serves a task comes from the task table (:mod:`service.pipelines.tasks`) alone.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass

from detection import DetectionError
from service.errors import ServiceError
from service.pipelines.protocol import LoadedModel, P, Pipeline
from service.pipelines.tasks import TASKS, Task, load_rank
from service.repository import ModelEntry, scan_repository
from service.repository.loader import NOT_PULLED, PRESENT
from service.runtime.session import ModelSession
from service.settings import Settings

logger = logging.getLogger(__name__)

LOADING = "loading"
READY = "ready"


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

    @property
    def task(self) -> str | None:
        """The task served, known from model.toml before loading, else after."""
        if self.pipeline is not None:
            return self.pipeline.info.task
        return self.entry.config.task if self.entry.config else None


class ModelRegistry:
    """The models of ``settings.models_dir``; construction is cheap, :meth:`load_all` is not."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._slots = {
            entry.name: _first_slot(entry) for entry in scan_repository(settings.models_dir)
        }

    def load_all(self) -> None:
        """Load and warm every pulled model, linked models after those they link to."""
        in_order = sorted(self._slots.items(), key=lambda item: load_rank(item[1].task or ""))
        for name, slot in in_order:
            if slot.status != LOADING:
                continue
            try:
                pipeline, session = self._load(slot.entry)
            except (ServiceError, DetectionError) as error:
                logger.error("model %s failed to load: %s", name, error)
                with self._lock:
                    slot.status = f"error: {error}"
            else:
                with self._lock:
                    slot.pipeline, slot.session, slot.status = pipeline, session, READY
                logger.info("model %s ready on %s", name, pipeline.info.provider)

    def _load(self, entry: ModelEntry) -> tuple[Pipeline, ModelSession]:
        config_providers = entry.config.runtime.providers if entry.config else None
        session = ModelSession(entry.model_path, self.settings, providers=config_providers)
        spec = entry.resolve(session.signature())
        pipeline = served_task(spec.task, entry.name).pipeline.load(
            LoadedModel(entry.name, spec, session, self)
        )
        pipeline.warm_up()
        return pipeline, session

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

    def get(self, kind: type[P], name: str | None = None) -> P:
        """The ready model ``name`` serving ``kind.task``; by default the first of that task."""
        with self._lock:
            slots = dict(self._slots)
        task = kind.task
        serving = [n for n, slot in slots.items() if slot.task == task]
        if name is None:
            if not serving:
                raise UnknownModelError(f"no model serves task {task!r}")
            name = serving[0]
        slot = slots.get(name)
        if slot is None or slot.task not in (task, None):
            listed = ", ".join(serving) or "none"
            raise UnknownModelError(f"no {task} model named {name!r}; {task} models: {listed}")
        if slot.pipeline is None:
            raise ModelNotReadyError(f"model {name!r} is not ready: {slot.status}")
        if not isinstance(slot.pipeline, kind):
            raise UnknownModelError(f"model {name!r} does not serve task {task!r}")
        return slot.pipeline

    def describe(self) -> list[dict[str, object]]:
        """What GET /models reports, for every model including those not ready."""
        with self._lock:
            return [_describe(name, slot) for name, slot in self._slots.items()]

    def session(self, name: str) -> ModelSession:
        """The ready model ``name``'s session, whatever its task, for raw tensors (the Open
        Inference Protocol routes); unknown and not-ready models are refused as by ``get``."""
        with self._lock:
            slot = self._slots.get(name)
            names = list(self._slots)
        if slot is None:
            raise UnknownModelError(
                f"no model named {name!r}; models: {', '.join(names) or 'none'}"
            )
        if slot.session is None:
            raise ModelNotReadyError(f"model {name!r} is not ready: {slot.status}")
        return slot.session


def served_task(task: str, model: str) -> Task:
    """The task table's entry for ``task``; a task it lacks is refused, naming those served."""
    entry = TASKS.get(task)
    if entry is None:
        raise UnknownModelError(_unserved(task, model))
    return entry


def _first_slot(entry: ModelEntry) -> _Slot:
    """A model as found on disk: loading if pulled, refused at once if model.toml names a
    task nobody serves (before its ONNX file costs a load)."""
    if entry.status != PRESENT:
        return _Slot(entry, entry.status)
    task = entry.config.task if entry.config else None
    if task is not None and task not in TASKS:
        return _Slot(entry, f"error: {_unserved(task, f'{entry.name}/model.toml')}")
    return _Slot(entry, LOADING)


def _unserved(task: str, where: str) -> str:
    served = ", ".join(repr(name) for name in TASKS)
    return f"{where}: task {task!r} is not served (served: {served})"


def _describe(name: str, slot: _Slot) -> dict[str, object]:
    described: dict[str, object] = {"name": name, "status": slot.status}
    if slot.pipeline is None:
        return described
    info = asdict(slot.pipeline.info)
    for key in ("providers_requested", "providers_used", "input_size"):
        info[key] = list(info[key]) if info[key] is not None else None
    info["thresholds"] = dict(info["thresholds"])
    described.update(info)
    return described
