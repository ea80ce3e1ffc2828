"""Provider choice and fallback detection, as pure functions over fake onnxruntime answers.

No GPU is needed (or used): availability lists are made up, which is how the GPU paths are tested.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from service.runtime.errors import ProviderUnavailableError
from service.runtime.providers import (
    ProviderChoice,
    ProviderOptions,
    check_fallback,
    choose_providers,
)
from service.settings import Settings

TRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"
DEFAULT = [TRT, CUDA, CPU]
KNOWN = [TRT, CUDA, "OpenVINOExecutionProvider", "AzureExecutionProvider", CPU]
CPU_BUILD = ["AzureExecutionProvider", CPU]
GPU_BUILD = [TRT, CUDA, CPU]


def names(choices: list[ProviderChoice]) -> list[str]:
    return [c if isinstance(c, str) else c[0] for c in choices]


def test_gpu_build_keeps_the_preferred_order_with_device_options() -> None:
    choices = choose_providers(DEFAULT, GPU_BUILD, known=KNOWN)
    assert choices == [
        (TRT, {"device_id": "0", "trt_fp16_enable": "False"}),
        (CUDA, {"device_id": "0"}),
        CPU,
    ]


def test_cpu_build_leaves_only_cpu() -> None:
    assert choose_providers(DEFAULT, CPU_BUILD, known=KNOWN) == [CPU]


def test_tensorrt_without_cuda_in_the_build() -> None:
    assert names(choose_providers(DEFAULT, [TRT, CPU], known=KNOWN)) == [TRT, CPU]


def test_the_users_order_wins_over_availability_order() -> None:
    assert names(choose_providers([CPU, CUDA], GPU_BUILD, known=KNOWN)) == [CPU, CUDA]


def test_repeated_names_are_asked_for_once() -> None:
    assert names(choose_providers([CUDA, CPU, CUDA], GPU_BUILD, known=KNOWN)) == [CUDA, CPU]


def test_unknown_name_is_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="service.runtime.providers"):
        choices = choose_providers(["CudaProvider", CUDA, CPU], GPU_BUILD, known=KNOWN)
    assert names(choices) == [CUDA, CPU]
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "'CudaProvider'" in caplog.records[0].getMessage()


def test_known_but_absent_provider_is_not_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="service.runtime.providers"):
        choose_providers(DEFAULT, CPU_BUILD, known=KNOWN)
    assert caplog.records == []


def test_nothing_preferred_available_falls_back_to_cpu() -> None:
    assert choose_providers([CUDA], CPU_BUILD, known=KNOWN) == [CPU]


def test_nothing_usable_at_all_raises() -> None:
    with pytest.raises(ProviderUnavailableError, match="none of the preferred"):
        choose_providers([CUDA], ["AzureExecutionProvider"], known=KNOWN)


def test_require_gpu_raises_when_only_cpu_remains() -> None:
    with pytest.raises(ProviderUnavailableError, match="require_gpu") as info:
        choose_providers(DEFAULT, CPU_BUILD, known=KNOWN, require_gpu=True)
    assert CUDA in str(info.value)  # says what was asked for


def test_require_gpu_raises_when_the_user_prefers_only_cpu() -> None:
    with pytest.raises(ProviderUnavailableError):
        choose_providers([CPU], GPU_BUILD, known=KNOWN, require_gpu=True)


def test_require_gpu_is_satisfied_by_any_gpu_provider() -> None:
    assert names(choose_providers(DEFAULT, [TRT, CPU], known=KNOWN, require_gpu=True)) == [
        TRT,
        CPU,
    ]


def test_options_pass_through_to_cuda_and_tensorrt(tmp_path: Path) -> None:
    options = ProviderOptions(
        device_id=1,
        trt_engine_cache_dir=tmp_path,
        trt_fp16=True,
        cuda={"cudnn_conv_algo_search": "HEURISTIC"},
        tensorrt={"trt_fp16_enable": "False", "trt_max_workspace_size": "1073741824"},
    )
    choices = choose_providers(DEFAULT, GPU_BUILD, options, known=KNOWN)
    assert choices == [
        (
            TRT,
            {
                "device_id": "1",
                "trt_fp16_enable": "False",  # the explicit option overrides trt_fp16
                "trt_engine_cache_enable": "True",
                "trt_engine_cache_path": str(tmp_path),
                "trt_max_workspace_size": "1073741824",
            },
        ),
        (CUDA, {"device_id": "1", "cudnn_conv_algo_search": "HEURISTIC"}),
        CPU,
    ]


def test_trt_fp16_setting_enables_fp16_engines() -> None:
    (trt,) = choose_providers([TRT], GPU_BUILD, ProviderOptions(trt_fp16=True), known=KNOWN)
    assert trt == (TRT, {"device_id": "0", "trt_fp16_enable": "True"})


def test_options_come_from_settings(tmp_path: Path) -> None:
    settings = Settings(
        device_id=2,
        trt_engine_cache_dir=tmp_path,
        trt_fp16=True,
        cuda_options={"a": "1"},
        tensorrt_options={"b": "2"},
    )
    assert ProviderOptions.from_settings(settings) == ProviderOptions(
        device_id=2,
        trt_engine_cache_dir=tmp_path,
        trt_fp16=True,
        cuda={"a": "1"},
        tensorrt={"b": "2"},
    )


def test_no_fallback_when_everything_requested_is_used() -> None:
    assert check_fallback(DEFAULT, GPU_BUILD) is None
    assert check_fallback([CPU], [CPU]) is None


def test_fallback_to_cpu_names_what_was_lost() -> None:
    message = check_fallback(DEFAULT, [CPU])
    assert message is not None
    assert TRT in message and CUDA in message and "CPU" in message


def test_partial_fallback_says_where_it_runs() -> None:
    message = check_fallback(DEFAULT, [CUDA, CPU])
    assert message is not None
    assert TRT in message and f"running on {CUDA}" in message


def test_require_gpu_turns_a_cpu_fallback_into_an_error() -> None:
    with pytest.raises(ProviderUnavailableError, match="require_gpu"):
        check_fallback(DEFAULT, [CPU], require_gpu=True)


def test_require_gpu_accepts_a_partial_fallback_that_is_still_on_gpu() -> None:
    assert check_fallback(DEFAULT, [CUDA, CPU], require_gpu=True) is not None
