"""One onnxruntime session per model: honest providers, checked inputs, our own errors.

A ``ModelSession`` is shared by every request for its model: ``InferenceSession.run`` is safe
to call from several threads at once, and the session holds no per-request state.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from onnxruntime.capi import onnxruntime_pybind11_state as _ort_state

from service.repository.metadata import ModelSignature, TensorInfo
from service.runtime.cpu_runs import CpuRuns
from service.runtime.errors import (
    InferenceError,
    InputMismatchError,
    ModelLoadError,
    ProviderUnavailableError,
)
from service.runtime.providers import (
    CPU,
    ProviderOptions,
    check_fallback,
    choose_providers,
    provider_names,
)
from service.runtime.turns import cpu_turns
from service.settings import Settings
from service.threads import ThreadPlan

logger = logging.getLogger(__name__)

#: onnxruntime's exceptions: its pybind classes (InvalidProtobuf, NoSuchFile, Fail, ...) plus
#: the RuntimeError / ValueError its Python wrapper raises.
_ORT_ERRORS: tuple[type[Exception], ...] = (
    RuntimeError,
    ValueError,
    *(
        cls
        for cls in vars(_ort_state).values()
        if isinstance(cls, type) and issubclass(cls, Exception)
    ),
)

_GRAPH_OPTIMIZATION = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}

#: Casts ``run`` does itself rather than refuse: pipelines produce float32, and a float16
#: export (e.g. YOLOv5 ``--half``) takes the same values at half precision.
_IMPLICIT_CASTS = {(np.dtype("float32"), np.dtype("float16"))}


def cpu_runs(
    path: Path,
    settings: Settings,
    plan: ThreadPlan,
    shared: ort.InferenceSession | None = None,
) -> CpuRuns:
    """The runs of the CPU model ``path``: overlapping ones on ``shared`` (default: a session of
    its own with the plan's options), and a lone-run session where the plan gives a lone run
    more threads."""
    if shared is None:
        shared = load_session(path, session_options(settings, plan), [CPU])
    lone = None
    if plan.lone_runs:
        lone = load_session(path, session_options(settings, plan, lone=True), [CPU])
    return CpuRuns(shared, lone, cpu_turns(plan.inference_runs))


def load_session(
    path: Path, options: ort.SessionOptions, providers: Sequence[Any]
) -> ort.InferenceSession:
    """onnxruntime's session of ``path``; ModelLoadError, naming the file, where it refuses."""
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except _ORT_ERRORS as exc:
        raise ModelLoadError(f"{path}: onnxruntime cannot load this model: {exc}") from exc


_ARENA_LOCK = threading.Lock()
_arena_registered = False


def _register_shared_cpu_arena() -> None:
    """One CPU memory arena for every session of the process (onnxruntime's environment
    allocator), once: each session keeping an arena of its own peak made the lone-run sessions
    cost 133 MB for the four default models, the shared one 26 MB."""
    global _arena_registered
    with _ARENA_LOCK:
        if _arena_registered:
            return
        memory = ort.OrtMemoryInfo(
            "Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
        )
        ort.create_and_register_allocator(memory, ort.OrtArenaCfg(0, -1, -1, -1))
        _arena_registered = True


def session_options(
    settings: Settings, plan: ThreadPlan | None = None, *, lone: bool = False
) -> ort.SessionOptions:
    """Threads and spinning from ``plan`` (default: this machine's) for overlapping runs, or
    for a lone run's session (``lone``, see ``service.runtime.cpu_runs``); graph optimisation,
    memory arena and log level from the settings."""
    plan = plan if plan is not None else ThreadPlan.for_machine(settings)
    options = ort.SessionOptions()
    options.intra_op_num_threads = plan.lone_run_threads if lone else plan.intra_op_threads
    options.inter_op_num_threads = plan.inter_op_threads
    spinning = "1" if lone or plan.spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
    options.add_session_config_entry("session.inter_op.allow_spinning", spinning)
    if lone:  # no spinning between requests: an idle service keeps no core busy
        options.add_session_config_entry("session.force_spinning_stop", "1")
    options.graph_optimization_level = _GRAPH_OPTIMIZATION[settings.graph_optimization]
    options.enable_cpu_mem_arena = settings.enable_cpu_mem_arena
    if settings.enable_cpu_mem_arena:
        _register_shared_cpu_arena()
        options.add_session_config_entry("session.use_env_allocators", "1")
    options.log_severity_level = settings.ort_log_severity
    return options


class ModelSession:
    """One ONNX model loaded into onnxruntime, with the providers it really runs on.

    ``providers`` overrides ``settings.providers`` for this model (model.toml ``[runtime]``).
    Raises ModelLoadError (unreadable or invalid file, or an input the service cannot feed) and
    ProviderUnavailableError (``require_gpu`` and no GPU provider before or after creation).
    """

    def __init__(
        self, path: Path, settings: Settings, *, providers: Sequence[str] | None = None
    ) -> None:
        self.path = path
        self.providers_requested: tuple[str, ...] = tuple(providers or settings.providers)
        # A preference someone set (VISION_PROVIDERS, model.toml) is held to; the default one
        # names TensorRT and CUDA on every machine, so only those this build has can "fail".
        explicit = bool(providers) or "providers" in settings.model_fields_set
        plan = ThreadPlan.for_machine(settings)
        try:
            choices = choose_providers(
                self.providers_requested,
                ort.get_available_providers(),
                ProviderOptions.from_settings(settings),
                known=ort.get_all_providers(),
                require_gpu=settings.require_gpu,
            )
        except ProviderUnavailableError as exc:
            raise ProviderUnavailableError(f"{path}: {exc}") from None
        # The default logger prints what happens outside a session (e.g. provider set-up).
        ort.set_default_logger_severity(settings.ort_log_severity)
        self._session = load_session(path, session_options(settings, plan), choices)
        self.providers_used: tuple[str, ...] = tuple(self._session.get_providers())
        try:
            fallback = check_fallback(
                self.providers_requested if explicit else provider_names(choices),
                self.providers_used,
                require_gpu=settings.require_gpu,
            )
        except ProviderUnavailableError as exc:
            raise ProviderUnavailableError(f"{path}: {exc}") from None
        if fallback:
            logger.warning("%s: %s", path, fallback)
        # A GPU run keeps no CPU core busy; CPU runs take turns (see service.threads).
        self._cpu_runs: CpuRuns | None = None
        if self.provider == CPU:
            self._cpu_runs = cpu_runs(path, settings, plan, shared=self._session)
        self._warming = False
        self._signature = ModelSignature(
            inputs=tuple(_tensor_info(arg) for arg in self._session.get_inputs()),
            outputs=tuple(_tensor_info(arg) for arg in self._session.get_outputs()),
            metadata=dict(self._session.get_modelmeta().custom_metadata_map),
        )
        self.input_dtypes: dict[str, np.dtype[Any]] = {
            tensor.name: _feedable_dtype(tensor, path) for tensor in self._signature.inputs
        }

    @property
    def provider(self) -> str:
        """The provider onnxruntime puts first for this model (what answers report)."""
        return self.providers_used[0]

    def signature(self) -> ModelSignature:
        """Inputs, outputs (graph order) and custom metadata, for ``ModelEntry.resolve``."""
        return self._signature

    def run(self, inputs: NDArray[Any] | Mapping[str, NDArray[Any]]) -> list[NDArray[Any]]:
        """Run the model; one array for a single-input model, else a mapping name → array.

        Every input is checked against the graph first (InputMismatchError names the input,
        what it got and what the model wants); float32 is cast to float16 where the model
        wants float16. On the CPU, at most ``inference_runs`` runs (all models together) go
        at once, the others wait their turn, and a lone run uses every core
        (``service.runtime.cpu_runs``). onnxruntime failures become InferenceError.
        """
        feeds = {
            tensor.name: self._checked(tensor, array)
            for tensor, array in zip(self._signature.inputs, self._arrays(inputs), strict=True)
        }
        try:
            if self._cpu_runs is None:
                outputs: list[NDArray[Any]] = self._session.run(None, feeds)
            elif self._warming:
                outputs = self._cpu_runs.run_each(feeds)
            else:
                outputs = self._cpu_runs.run(feeds)
        except _ORT_ERRORS as exc:
            raise InferenceError(f"{self.path}: inference failed: {exc}") from exc
        return outputs

    @contextmanager
    def warming(self) -> Iterator[None]:
        """Within it, runs go to every session the model has (the lone-run one too), so that
        a pipeline's ``warm_up`` warms each; for a model no request reaches yet."""
        self._warming = True
        try:
            yield
        finally:
            self._warming = False

    def _arrays(self, inputs: NDArray[Any] | Mapping[str, NDArray[Any]]) -> list[object]:
        """The arrays in graph-input order; refuses missing or unknown input names."""
        names = [tensor.name for tensor in self._signature.inputs]
        if not isinstance(inputs, Mapping):
            if len(names) != 1:
                raise InputMismatchError(
                    f"{self.path}: the model takes {len(names)} inputs {names}; "
                    "pass a mapping of input name to array"
                )
            return [inputs]
        missing = [name for name in names if name not in inputs]
        unknown = [name for name in inputs if name not in names]
        if missing or unknown:
            raise InputMismatchError(
                f"{self.path}: inputs {sorted(inputs)} do not match the model's {names} "
                f"(missing {missing}, unknown {unknown})"
            )
        return [inputs[name] for name in names]

    def _checked(self, tensor: TensorInfo, array: object) -> NDArray[Any]:
        """``array`` as the model's input ``tensor`` takes it, or InputMismatchError."""
        where = f"{self.path}: input {tensor.name!r}"
        if not isinstance(array, np.ndarray):
            raise InputMismatchError(f"{where} must be a numpy array, got {type(array).__name__}")
        wanted = self.input_dtypes[tensor.name]
        if array.dtype != wanted:
            if (array.dtype, wanted) not in _IMPLICIT_CASTS:
                raise InputMismatchError(f"{where} wants dtype {wanted}, got {array.dtype}")
            array = array.astype(wanted)
        if array.ndim != len(tensor.shape):
            raise InputMismatchError(
                f"{where} wants rank {len(tensor.shape)} {list(tensor.shape)}, "
                f"got rank {array.ndim} {list(array.shape)}"
            )
        for axis, size in enumerate(array.shape):
            static = tensor.static_dim(axis)
            if static is not None and size != static:
                raise InputMismatchError(
                    f"{where} wants shape {list(tensor.shape)}, got {list(array.shape)} "
                    f"(axis {axis}: {size} instead of {static})"
                )
        return array


def _tensor_info(arg: Any) -> TensorInfo:
    """onnxruntime's ``NodeArg`` → TensorInfo (shape entries: int, symbolic name or None)."""
    return TensorInfo(name=arg.name, shape=tuple(arg.shape or ()), dtype=arg.type)


def _feedable_dtype(tensor: TensorInfo, path: Path) -> np.dtype[Any]:
    """The numpy dtype to feed ``tensor``; ModelLoadError for inputs numpy cannot express."""
    dtype = tensor.numpy_dtype
    if dtype is None:
        raise ModelLoadError(
            f"{path}: input {tensor.name!r} has type {tensor.dtype}, which the service cannot feed"
        )
    return dtype
