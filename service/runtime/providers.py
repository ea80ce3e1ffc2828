"""Which onnxruntime execution providers a session asks for, and whether it got them.

Both functions are pure (they take onnxruntime's answers as arguments), so provider choice is
tested over fake availability lists on any machine. ``choose_providers`` runs before a session
is created; ``check_fallback`` after, on what ``InferenceSession.get_providers()`` reports,
because onnxruntime silently drops a provider it cannot initialise (e.g. TensorRT libraries
missing) and the service must say so.

Start-up stays quiet where nothing is wrong: the default preference asks for TensorRT and CUDA
first, so on a CPU-only onnxruntime build their absence is expected and only logged at INFO.
A warning means something a person should look at: a GPU provider this build *has* that failed
to initialise, or one named explicitly (``VISION_PROVIDERS``, model.toml) that the build lacks.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from service.runtime.errors import ProviderUnavailableError
from service.settings import Settings

logger = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"

#: Providers that run a model on a GPU; ``require_gpu`` is satisfied by any of them.
GPU_PROVIDERS = frozenset(
    {
        TENSORRT,
        "NvTensorRTRTXExecutionProvider",
        CUDA,
        "ROCMExecutionProvider",
        "MIGraphXExecutionProvider",
        "DmlExecutionProvider",
        "WebGpuExecutionProvider",
    }
)

#: What ``onnxruntime.InferenceSession(providers=...)`` accepts: a name, or a name and options.
ProviderChoice = str | tuple[str, dict[str, str]]


@dataclass(frozen=True)
class ProviderOptions:
    """The settings that become CUDA / TensorRT provider options."""

    device_id: int = 0
    trt_engine_cache_dir: Path | None = None
    trt_fp16: bool = False
    cuda: Mapping[str, str] = field(default_factory=dict)
    tensorrt: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> ProviderOptions:
        return cls(
            device_id=settings.device_id,
            trt_engine_cache_dir=settings.trt_engine_cache_dir,
            trt_fp16=settings.trt_fp16,
            cuda=dict(settings.cuda_options),
            tensorrt=dict(settings.tensorrt_options),
        )


def choose_providers(
    preferred: Sequence[str],
    available: Collection[str],
    options: ProviderOptions | None = None,
    *,
    known: Collection[str],
    require_gpu: bool = False,
) -> list[ProviderChoice]:
    """The providers to create a session with: ``preferred`` filtered by ``available``, in order.

    ``available`` is ``onnxruntime.get_available_providers()`` (this build), ``known`` is
    ``onnxruntime.get_all_providers()`` (every name onnxruntime has): a preferred name that is
    not even known is a typo and is dropped with a warning. When nothing preferred is available
    the CPU provider is used, since onnxruntime always has it; with ``require_gpu`` a choice
    without a GPU provider raises ProviderUnavailableError instead.
    """
    options = options or ProviderOptions()
    chosen: list[str] = []
    for name in dict.fromkeys(preferred):  # drops repeats, keeps order
        if name in available:
            chosen.append(name)
        elif name not in known:
            logger.warning(
                "ignoring %r: onnxruntime knows no execution provider by that name", name
            )
        else:
            logger.info("%s is not available in this onnxruntime build", name)
    if not chosen and CPU in available:
        chosen.append(CPU)
    if require_gpu and not GPU_PROVIDERS.intersection(chosen):
        raise ProviderUnavailableError(
            f"require_gpu is set but no GPU execution provider is available: preferred "
            f"{list(preferred)}, available in this onnxruntime build {sorted(available)}"
        )
    if not chosen:
        raise ProviderUnavailableError(
            f"none of the preferred execution providers {list(preferred)} is available "
            f"(available: {sorted(available)})"
        )
    return [_with_options(name, options) for name in chosen]


def _with_options(name: str, options: ProviderOptions) -> ProviderChoice:
    """Attach device, engine-cache and fp16 options to the providers that take them."""
    if name == CUDA:
        return name, {"device_id": str(options.device_id), **options.cuda}
    if name == TENSORRT:
        trt = {"device_id": str(options.device_id), "trt_fp16_enable": str(options.trt_fp16)}
        if options.trt_engine_cache_dir is not None:
            trt["trt_engine_cache_enable"] = "True"
            trt["trt_engine_cache_path"] = str(options.trt_engine_cache_dir)
        return name, {**trt, **options.tensorrt}
    return name


def provider_names(choices: Sequence[ProviderChoice]) -> list[str]:
    """The names of ``choose_providers``' answer, without their options."""
    return [choice if isinstance(choice, str) else choice[0] for choice in choices]


def check_fallback(
    requested: Sequence[str], used: Sequence[str], *, require_gpu: bool = False
) -> str | None:
    """Compare the providers asked for with those a session really uses (``get_providers()``).

    Returns a warning naming every requested non-CPU provider that is not in use (None when all
    are), or raises ProviderUnavailableError when ``require_gpu`` is set and no GPU provider is
    in use. Pass a person's own preference as ``requested``, but for the default one only the
    providers this build has (``provider_names(choose_providers(...))``): the default names
    TensorRT and CUDA everywhere, and a CPU-only build lacking them is no fault.
    """
    if require_gpu and not GPU_PROVIDERS.intersection(used):
        raise ProviderUnavailableError(
            f"require_gpu is set but onnxruntime runs this model on {list(used)} "
            f"(requested {list(requested)})"
        )
    missing = [name for name in dict.fromkeys(requested) if name != CPU and name not in used]
    if not missing:
        return None
    running_on = used[0] if used else CPU
    if running_on == CPU:
        return (
            f"FALLBACK TO CPU: requested {', '.join(missing)} but onnxruntime runs this model "
            f"on {CPU} only"
        )
    return f"requested {', '.join(missing)} but not in use; running on {running_on}"
