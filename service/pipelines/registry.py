"""Every configured model, loaded once per process, warmed, and looked up by pipeline class
and name.

Loading happens off the request path (the API's lifespan calls :meth:`ModelRegistry.load_all`
in a thread); until a model is warmed its status says so and ``/health/ready`` answers 503.
One model failing to load never stops the others: its status carries the reason. Which class
serves a task comes from the task table (:mod:`service.pipelines.tasks`) alone.

Models pulled or folders added while the process runs are picked up by :meth:`reload` (``POST
/models/reload``, or :meth:`watch` polling the folder), loaded in a thread of their own; the
models already serving are not touched and readiness does not wait for the newcomers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from detection import DetectionError
from service.errors import ServiceError
from service.pipelines.protocol import LoadedModel, P, Pipeline
from service.pipelines.tasks import TASKS, Task, load_rank
from service.repository import ModelEntry, RepositoryError, scan_repository
from service.repository.catalog import CATALOG_FILE, load_catalog
from service.repository.loader import NOT_PULLED, PRESENT
from service.runtime.batching import BatchingSession
from service.runtime.session import ModelSession
from service.settings import Settings

logger = logging.getLogger(__name__)

LOADING = "loading"
READY = "ready"


class UnknownModelError(ServiceError):
    """No model of that name (or none at all) serves the requested task."""


class ModelNotInstalledError(UnknownModelError):
    """The model is configured (its folder and model.toml exist) but its file was never pulled:
    retrying will not help, pulling will."""


class ModelNotReadyError(ServiceError):
    """The model exists but is still loading or failed to load."""


class ModelFailedError(ModelNotReadyError):
    """The model failed to load; retrying will not help until it is fixed and reloaded."""


class ReloadError(ServiceError):
    """The models folder could not be rescanned (e.g. a new model.toml is invalid)."""


@dataclass
class _Slot:
    entry: ModelEntry
    status: str
    pipeline: Pipeline | None = None
    session: ModelSession | None = None
    late: bool = False  # added after start-up: does not hold readiness back
    stamp: tuple[int, int] | None = None  # the ONNX file's (size, mtime_ns) when scanned

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
        self._load_lock = threading.Lock()  # one model loads at a time, whoever asked
        self._reload_lock = threading.Lock()
        self._slots = {
            entry.name: _first_slot(entry) for entry in scan_repository(settings.models_dir)
        }
        self._fingerprint = folder_fingerprint(settings.models_dir)
        self._catalogued = catalogued(settings.models_dir)

    def load_all(self) -> None:
        """Load and warm every pulled model, linked models after those they link to."""
        with self._lock:
            slots = list(self._slots.items())
        self._load_slots(slots)

    def _load_slots(self, slots: Iterable[tuple[str, _Slot]]) -> None:
        in_order = sorted(slots, key=lambda item: load_rank(item[1].task or ""))
        for name, slot in in_order:
            with self._load_lock:
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

    def reload(self) -> list[str]:
        """Rescan the folder; models newly pulled or added (or whose failed file was replaced)
        start loading in a thread of their own. Returns their names; the models already
        loading or serving are left as they are. A folder that cannot be read is a
        ``ReloadError`` and changes nothing."""
        with self._reload_lock:
            self._fingerprint = folder_fingerprint(self.settings.models_dir)
            self._catalogued = catalogued(self.settings.models_dir)
            try:
                entries = scan_repository(self.settings.models_dir)
            except RepositoryError as error:
                raise ReloadError(f"the models folder was not reloaded: {error}") from error
            with self._lock:
                old = self._slots
                slots: dict[str, _Slot] = {}
                fresh: list[tuple[str, _Slot]] = []
                for entry in entries:
                    slot = old.get(entry.name)
                    if slot is None or _replaceable(slot, entry):
                        slot = _first_slot(entry, late=True)
                        if slot.status == LOADING:
                            fresh.append((entry.name, slot))
                    slots[entry.name] = slot
                # A folder removed while its model serves keeps serving until the restart.
                slots.update({n: s for n, s in old.items() if n not in slots and s.pipeline})
                self._slots = slots
        if fresh:
            logger.info("reload: loading %s", ", ".join(name for name, _ in fresh))
            threading.Thread(
                target=self._load_slots, args=(fresh,), name="model-reloader", daemon=True
            ).start()
        return [name for name, _ in fresh]

    def watch(self, stop: threading.Event, interval_s: float) -> None:
        """Until ``stop`` is set, reload whenever the folder's listing (names, file sizes and
        times) changes; cheap, since only directory entries are read between changes."""
        while not stop.wait(interval_s):
            if folder_fingerprint(self.settings.models_dir) == self._fingerprint:
                continue
            try:
                self.reload()
            except ReloadError as error:
                logger.error("%s", error)

    def _load(self, entry: ModelEntry) -> tuple[Pipeline, ModelSession]:
        config_providers = entry.config.runtime.providers if entry.config else None
        session = BatchingSession(entry.model_path, self.settings, providers=config_providers)
        spec = entry.resolve(session.signature())
        pipeline = served_task(spec.task, entry.name).pipeline.load(
            LoadedModel(entry.name, spec, session, self)
        )
        with session.warming():
            pipeline.warm_up()
        return pipeline, session

    def status(self) -> dict[str, str]:
        """Model name -> loading | ready | not pulled | error: <why>."""
        with self._lock:
            return {name: slot.status for name, slot in self._slots.items()}

    @property
    def ready(self) -> bool:
        """True when every model pulled at start-up is loaded and warmed.

        A folder whose ONNX file was never pulled is listed (status ``not pulled``) but does not
        hold readiness back: the bundled repository ships configs for optional models too. Nor
        does a model added by :meth:`reload`: the instance serves while it loads.
        """
        with self._lock:
            statuses = [s.status for s in self._slots.values() if not s.late or s.pipeline]
        pulled = [status for status in statuses if status != NOT_PULLED]
        return bool(pulled) and all(status == READY for status in pulled)

    def get(self, kind: type[P], name: str | None = None) -> P:
        """The ready model ``name`` serving ``kind.task``; by default the first of that task."""
        with self._lock:
            slots = dict(self._slots)
        task = kind.task
        serving = [n for n, slot in slots.items() if slot.task == task]
        if name is None:
            if not serving:
                raise UnknownModelError(f"no model serves task {task!r}")
            installed = [n for n in serving if slots[n].status != NOT_PULLED]
            name = (installed or serving)[0]
        slot = slots.get(name)
        if slot is None and name in self._catalogued:
            raise _not_installed(name)
        if slot is None or slot.task not in (task, None):
            listed = ", ".join(n for n in serving if slots[n].status != NOT_PULLED) or "none"
            raise UnknownModelError(f"no {task} model named {name!r}; {task} models: {listed}")
        _check_ready(name, slot)
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
        if slot is None and name in self._catalogued:
            raise _not_installed(name)
        if slot is None:
            raise UnknownModelError(
                f"no model named {name!r}; models: {', '.join(names) or 'none'}"
            )
        _check_ready(name, slot)
        assert slot.session is not None  # a loaded slot has both
        return slot.session


def _check_ready(name: str, slot: _Slot) -> None:
    """Refuse a model that cannot answer: not installed (404, with the command that installs
    it), failed (503, no point retrying) or still loading (503, retry soon)."""
    if slot.pipeline is not None and slot.session is not None:
        return
    if slot.status == NOT_PULLED:
        raise _not_installed(name)
    if slot.status.startswith("error"):
        raise ModelFailedError(f"model {name!r} is not ready: {slot.status}")
    raise ModelNotReadyError(f"model {name!r} is not ready: {slot.status}")


def _not_installed(name: str) -> ModelNotInstalledError:
    return ModelNotInstalledError(
        f"model {name!r} is not installed: run `python -m service pull {name}` "
        "(the server picks it up without a restart)"
    )


def catalogued(models_dir: Path) -> frozenset[str]:
    """The names the folder's catalog.toml can pull (none without one, or an unreadable one:
    the scan reports that)."""
    path = models_dir / CATALOG_FILE
    try:
        return frozenset(load_catalog(path).models) if path.is_file() else frozenset()
    except RepositoryError:
        return frozenset()


def folder_fingerprint(models_dir: Path) -> frozenset[tuple[str, int, int]]:
    """Every entry one level into each model folder as (path, size, mtime_ns): changes when a
    file is pulled (renamed into place), replaced or removed, or a folder is added."""
    seen: set[tuple[str, int, int]] = set()
    try:
        folders = [f for f in models_dir.iterdir() if not f.name.startswith((".", "_"))]
        for folder in folders:
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if path.name.startswith("."):
                    continue  # a pull's temporary file, until it is renamed into place
                info = path.stat()
                seen.add((f"{folder.name}/{path.name}", info.st_size, info.st_mtime_ns))
    except OSError:  # the folder is being changed under us: the next poll sees it settled
        return frozenset(seen | {("", -1, -1)})
    return frozenset(seen)


def _file_stamp(entry: ModelEntry) -> tuple[int, int] | None:
    try:
        info = entry.model_path.stat()
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def _replaceable(slot: _Slot, entry: ModelEntry) -> bool:
    """A slot a rescan may replace: not pulled before, or failed and its file changed since."""
    if slot.status == NOT_PULLED:
        return True
    return slot.status.startswith("error") and _file_stamp(entry) != slot.stamp


def served_task(task: str, model: str) -> Task:
    """The task table's entry for ``task``; a task it lacks is refused, naming those served."""
    entry = TASKS.get(task)
    if entry is None:
        raise UnknownModelError(_unserved(task, model))
    return entry


def _first_slot(entry: ModelEntry, *, late: bool = False) -> _Slot:
    """A model as found on disk: loading if pulled, refused at once if model.toml names a
    task nobody serves (before its ONNX file costs a load)."""
    stamp = _file_stamp(entry)
    if entry.status != PRESENT:
        return _Slot(entry, entry.status, late=late, stamp=stamp)
    task = entry.config.task if entry.config else None
    if task is not None and task not in TASKS:
        status = f"error: {_unserved(task, f'{entry.name}/model.toml')}"
        return _Slot(entry, status, late=late, stamp=stamp)
    return _Slot(entry, LOADING, late=late, stamp=stamp)


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
