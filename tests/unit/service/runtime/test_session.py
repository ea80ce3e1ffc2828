"""ModelSession over tiny graphs built in the tests: loading, input checks, providers, logging.

This machine's onnxruntime is a CPU build; the GPU paths are covered in test_providers.py as
pure functions. Here, where a test needs "CUDA requested but not usable", availability is faked.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from service import threads
from service.repository.metadata import TensorInfo
from service.runtime.errors import (
    InferenceError,
    InputMismatchError,
    ModelLoadError,
    ProviderUnavailableError,
)
from service.runtime.session import ModelSession, session_options
from service.settings import Settings
from tests.onnx_graphs import build, identity_model, save, sum_model, tensor

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"


@pytest.fixture
def cpu_settings() -> Settings:
    return Settings(providers=[CPU])


@pytest.fixture
def static_path(tmp_path: Path) -> Path:
    return save(identity_model([1, 3, 4, 4]), tmp_path / "static.onnx")


@pytest.fixture
def static_session(static_path: Path, cpu_settings: Settings) -> ModelSession:
    return ModelSession(static_path, cpu_settings)


def fake_availability(monkeypatch: pytest.MonkeyPatch, available: list[str]) -> None:
    monkeypatch.setattr(ort, "get_available_providers", lambda: available)


# -- loading -------------------------------------------------------------------------------


def test_bad_bytes_are_a_load_error_naming_the_file(tmp_path: Path, cpu_settings: Settings) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"<html>not a model</html>")
    with pytest.raises(ModelLoadError, match=r"broken\.onnx"):
        ModelSession(path, cpu_settings)


def test_missing_file_is_a_load_error(tmp_path: Path, cpu_settings: Settings) -> None:
    with pytest.raises(ModelLoadError, match=r"absent\.onnx"):
        ModelSession(tmp_path / "absent.onnx", cpu_settings)


def test_an_input_numpy_cannot_express_is_refused_at_load(
    tmp_path: Path, cpu_settings: Settings
) -> None:
    path = save(identity_model([2], np.dtype(object), input_name="text"), tmp_path / "s.onnx")
    with pytest.raises(ModelLoadError, match=r"'text'.*tensor\(string\)"):
        ModelSession(path, cpu_settings)


def test_signature_reports_inputs_outputs_and_metadata(
    tmp_path: Path, cpu_settings: Settings
) -> None:
    metadata = {"names": "{0: 'cat', 1: 'dog'}", "stride": "32"}
    model = identity_model(["batch", 3, 8, 8], input_name="images", output_name="out")
    path = save(
        build(model.graph.node, model.graph.input, model.graph.output, metadata=metadata),
        tmp_path / "m.onnx",
    )
    signature = ModelSession(path, cpu_settings).signature()
    assert signature.inputs == (TensorInfo("images", ("batch", 3, 8, 8), "tensor(float)"),)
    assert signature.outputs == (TensorInfo("out", ("batch", 3, 8, 8), "tensor(float)"),)
    assert dict(signature.metadata) == metadata


# -- providers -----------------------------------------------------------------------------


def test_runs_on_cpu_here(static_session: ModelSession) -> None:
    assert static_session.providers_used == (CPU,)
    assert static_session.provider == CPU
    assert static_session.providers_requested == (CPU,)


def test_per_model_providers_override_the_settings(static_path: Path) -> None:
    session = ModelSession(static_path, Settings(providers=[CUDA, CPU]), providers=[CPU])
    assert session.providers_requested == (CPU,)


def test_cuda_missing_from_the_build_is_a_visible_warning(
    static_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fake_availability(monkeypatch, [CPU])
    with caplog.at_level(logging.WARNING, logger="service.runtime.session"):
        session = ModelSession(static_path, Settings(providers=[CUDA, CPU]))
    assert session.providers_used == (CPU,)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert CUDA in record.getMessage() and "static.onnx" in record.getMessage()


@pytest.mark.skipif(
    CUDA in ort.get_available_providers(), reason="CUDA is usable here, so nothing falls back"
)
@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")
@pytest.mark.parametrize("providers", [[CUDA, CPU], None], ids=["set", "default"])
def test_fallback_is_read_back_from_the_session(
    static_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    providers: list[str] | None,
) -> None:
    """onnxruntime is asked for CUDA (faked as available) and silently runs on CPU instead:
    loud whether someone set the providers or left the default (which TensorRT leads, absent
    from this build: that absence is no failure, so the warning does not name it)."""
    fake_availability(monkeypatch, [CUDA, CPU])
    settings = Settings(providers=providers) if providers else Settings()
    with caplog.at_level(logging.WARNING, logger="service.runtime"):
        session = ModelSession(static_path, settings)
    assert session.providers_used == (CPU,)
    (record,) = caplog.records
    assert "FALLBACK TO CPU" in record.getMessage() and CUDA in record.getMessage()
    assert "Tensorrt" not in record.getMessage()


def test_require_gpu_without_gpu_is_an_error_naming_the_model(
    static_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_availability(monkeypatch, [CPU])
    with pytest.raises(ProviderUnavailableError, match=r"static\.onnx.*require_gpu"):
        ModelSession(static_path, Settings(require_gpu=True))


@pytest.mark.skipif(
    CUDA in ort.get_available_providers(), reason="CUDA is usable here, so nothing falls back"
)
@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")
def test_require_gpu_fails_when_the_session_fell_back(
    static_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_availability(monkeypatch, [CUDA, CPU])
    with pytest.raises(ProviderUnavailableError, match=r"runs this model on \['CPU"):
        ModelSession(static_path, Settings(providers=[CUDA, CPU], require_gpu=True))


# -- session options -----------------------------------------------------------------------


def test_session_options_follow_the_settings() -> None:
    options = session_options(
        Settings(
            intra_op_threads=2,
            inter_op_threads=1,
            graph_optimization="basic",
            enable_cpu_mem_arena=False,
            ort_log_severity=4,
        )
    )
    assert options.intra_op_num_threads == 2
    assert options.inter_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert options.enable_cpu_mem_arena is False
    assert options.log_severity_level == 4


SPINNING = ("session.intra_op.allow_spinning", "session.inter_op.allow_spinning")


@pytest.mark.parametrize(("spinning", "entry"), [(False, "0"), (True, "1")])
def test_spinning_setting_becomes_both_config_entries(spinning: bool, entry: str) -> None:
    options = session_options(Settings(ort_spinning=spinning))
    assert [options.get_session_config_entry(key) for key in SPINNING] == [entry, entry]


def test_automatic_threads_are_the_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: 3)
    options = session_options(Settings())
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    lone = session_options(Settings(), lone=True)
    assert (lone.intra_op_num_threads, lone.inter_op_num_threads) == (3, 1)


def test_the_sessions_are_created_with_the_thread_settings(
    static_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What onnxruntime itself holds, not what we passed: the sessions' own options."""
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    session = ModelSession(static_path, Settings(providers=[CPU]))
    runs = session._cpu_runs
    assert runs is not None and runs.lone is not None
    shared = runs.shared.get_session_options()
    assert (shared.intra_op_num_threads, shared.inter_op_num_threads) == (1, 1)
    assert [shared.get_session_config_entry(key) for key in SPINNING] == ["0", "0"]
    lone = runs.lone.get_session_options()
    assert (lone.intra_op_num_threads, lone.inter_op_num_threads) == (2, 1)
    assert [lone.get_session_config_entry(key) for key in SPINNING] == ["1", "1"]
    assert lone.get_session_config_entry("session.force_spinning_stop") == "1"


def test_no_lone_run_session_when_it_would_get_no_more_threads(
    static_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    session = ModelSession(static_path, Settings(providers=[CPU], lone_run_threads=1))
    assert session._cpu_runs is not None and session._cpu_runs.lone is None


def test_warming_runs_every_session(static_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    session = ModelSession(static_path, Settings(providers=[CPU]))
    runs = session._cpu_runs
    assert runs is not None and runs.lone is not None
    seen: list[str] = []
    for name in ("shared", "lone"):
        real = getattr(runs, name)
        monkeypatch.setattr(runs, name, _Named(real, name, seen))
    x = np.arange(48, dtype=np.float32).reshape(1, 3, 4, 4)
    with session.warming():
        (warm,) = session.run(x)
    assert sorted(seen) == ["lone", "shared"]
    seen.clear()
    (out,) = session.run(x)  # nothing else running: the lone-run session alone
    assert seen == ["lone"]
    assert np.array_equal(warm, x) and np.array_equal(out, x)


class _Named:
    """An onnxruntime session that notes its name in ``seen`` on every run."""

    def __init__(self, session: Any, name: str, seen: list[str]) -> None:
        self._session, self._name, self._seen = session, name, seen

    def run(self, *args: Any) -> Any:
        self._seen.append(self._name)
        return self._session.run(*args)


class _Overlap:
    """A stand-in for onnxruntime's run that counts how many calls are inside it at once."""

    def __init__(self, wait_for: int) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self.most = 0
        self._together = threading.Barrier(wait_for, timeout=0.5)

    def run(self, *_: Any) -> list[np.ndarray]:
        with self._lock:
            self._inside += 1
            self.most = max(self.most, self._inside)
        with contextlib.suppress(threading.BrokenBarrierError):
            self._together.wait()  # the allowed number can all be inside at once
        time.sleep(0.01)  # and one too many would get in meanwhile
        with self._lock:
            self._inside -= 1
        return []


@pytest.mark.parametrize("runs", [1, 3])
def test_cpu_runs_take_turns_across_sessions(
    tmp_path: Path, runs: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``inference_concurrency`` bounds runs of every session together, and lets that many in."""
    settings = Settings(providers=[CPU], inference_concurrency=runs)
    fake = _Overlap(wait_for=runs)
    sessions = [
        ModelSession(save(identity_model([1, 3, 4, 4]), tmp_path / f"{i}.onnx"), settings)
        for i in range(2)
    ]
    for session in sessions:  # the shared and the lone-run session alike
        assert session._cpu_runs is not None
        monkeypatch.setattr(session._cpu_runs, "shared", fake)
        monkeypatch.setattr(session._cpu_runs, "lone", fake)
    x = np.zeros((1, 3, 4, 4), np.float32)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda i: sessions[i % 2].run(x), range(12)))
    assert fake.most == runs


def test_log_severity_silences_onnxruntime_warnings(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """An unused initializer (as in UltraFace) makes onnxruntime print a warning at load."""
    model = identity_model([2])
    unused = numpy_helper.from_array(np.zeros(3, np.float32), "unused_weight")
    path = save(
        build(model.graph.node, model.graph.input, model.graph.output, initializers=[unused]),
        tmp_path / "noisy.onnx",
    )
    capfd.readouterr()
    ModelSession(path, Settings(providers=[CPU], ort_log_severity=2))
    assert "unused_weight" in capfd.readouterr().err  # the warning exists at warning level
    ModelSession(path, Settings(providers=[CPU], ort_log_severity=3))
    assert "unused_weight" not in capfd.readouterr().err


# -- running -------------------------------------------------------------------------------


def test_run_returns_the_outputs(static_session: ModelSession) -> None:
    x = np.arange(48, dtype=np.float32).reshape(1, 3, 4, 4)
    (y,) = static_session.run(x)
    np.testing.assert_array_equal(y, x)


def test_non_contiguous_input_is_accepted(tmp_path: Path, cpu_settings: Settings) -> None:
    session = ModelSession(save(identity_model([1, 4, 3]), tmp_path / "t.onnx"), cpu_settings)
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 4).transpose(0, 2, 1)
    np.testing.assert_array_equal(session.run(x)[0], x)


@pytest.mark.parametrize(
    ("array", "pattern"),
    [
        (np.zeros((1, 3, 4, 4), np.int64), r"'x' wants dtype float32, got int64"),
        (np.zeros((1, 3, 4, 4), np.float64), r"wants dtype float32, got float64"),
        (np.zeros((3, 4, 4), np.float32), r"wants rank 4 .* got rank 3"),
        (np.zeros((1, 3, 4, 5), np.float32), r"axis 3: 5 instead of 4"),
        (np.zeros((2, 3, 4, 4), np.float32), r"axis 0: 2 instead of 1"),
        ([[0.0]], r"must be a numpy array, got list"),
    ],
)
def test_mismatched_input_is_refused_precisely(
    static_session: ModelSession, array: Any, pattern: str
) -> None:
    with pytest.raises(InputMismatchError, match=pattern):
        static_session.run(array)


def test_float16_model_takes_float32_at_half_precision(
    tmp_path: Path, cpu_settings: Settings
) -> None:
    session = ModelSession(
        save(identity_model([1, 5], np.float16), tmp_path / "half.onnx"), cpu_settings
    )
    assert session.signature().inputs[0].dtype == "tensor(float16)"
    assert session.input_dtypes == {"x": np.dtype(np.float16)}
    x = np.array([[0.1, 1.0 / 3.0, 2.5, 65504.0, -7.25]], np.float32)
    (y,) = session.run(x)
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y, x.astype(np.float16))


def test_dynamic_batch_runs_several_at_once(tmp_path: Path, cpu_settings: Settings) -> None:
    session = ModelSession(save(identity_model(["n", 2, 3]), tmp_path / "d.onnx"), cpu_settings)
    x = np.random.default_rng(0).random((5, 2, 3), dtype=np.float32)
    np.testing.assert_array_equal(session.run(x)[0], x)


def test_multi_input_model_takes_a_mapping(tmp_path: Path, cpu_settings: Settings) -> None:
    session = ModelSession(save(sum_model([2]), tmp_path / "sum.onnx"), cpu_settings)
    a, b = np.array([1.0, 2.0], np.float32), np.array([10.0, 20.0], np.float32)
    np.testing.assert_array_equal(session.run({"b": b, "a": a})[0], [11.0, 22.0])
    with pytest.raises(InputMismatchError, match="pass a mapping"):
        session.run(a)
    with pytest.raises(InputMismatchError, match=r"missing \['b'\], unknown \['c'\]"):
        session.run({"a": a, "c": b})


def test_onnxruntime_failure_is_an_inference_error(tmp_path: Path, cpu_settings: Settings) -> None:
    """Inputs that match the signature but break the graph: reshape 3 values into 2x2."""
    shape = numpy_helper.from_array(np.array([2, 2], np.int64), "shape")
    model = build(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])],
        [tensor("x", ["n"])],
        [tensor("y", [2, 2])],
        initializers=[shape],
    )
    session = ModelSession(save(model, tmp_path / "reshape.onnx"), cpu_settings)
    with pytest.raises(InferenceError, match=r"reshape\.onnx"):
        session.run(np.zeros(3, np.float32))


def test_concurrent_runs_each_get_their_own_answer(static_session: ModelSession) -> None:
    inputs = [np.full((1, 3, 4, 4), i, np.float32) for i in range(32)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        outputs = list(pool.map(lambda x: static_session.run(x)[0], inputs))
    for x, y in zip(inputs, outputs, strict=True):
        np.testing.assert_array_equal(y, x)


# -- quiet start-up ------------------------------------------------------------------------


def test_the_default_preference_on_a_cpu_only_build_is_quiet(
    static_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """TensorRT and CUDA come first by default; a build without them is no alarm."""
    fake_availability(monkeypatch, ["AzureExecutionProvider", CPU])
    with caplog.at_level(logging.WARNING, logger="service.runtime"):
        session = ModelSession(static_path, Settings())
    assert session.providers_used == (CPU,)
    assert session.providers_requested[0] == "TensorrtExecutionProvider"
    assert [r.getMessage() for r in caplog.records] == []


@pytest.mark.parametrize("arena", [True, False])
def test_sessions_draw_on_one_shared_arena_when_the_arena_is_on(arena: bool) -> None:
    """A model's lone-run session and every other model share one CPU arena, not one each."""
    for lone in (False, True):
        options = session_options(Settings(enable_cpu_mem_arena=arena), lone=lone)
        if arena:
            assert options.get_session_config_entry("session.use_env_allocators") == "1"
        else:
            with pytest.raises(RuntimeError, match="does not have configuration"):
                options.get_session_config_entry("session.use_env_allocators")


def test_two_sessions_of_a_model_on_the_shared_arena_answer_alike(static_path: Path) -> None:
    session = ModelSession(static_path, Settings(providers=[CPU], lone_run_threads=2))
    x = np.arange(48, dtype=np.float32).reshape(1, 3, 4, 4)
    runs = session._cpu_runs
    assert runs is not None and runs.lone is not None
    with session.warming():
        (first,) = session.run(x)
    (shared,) = runs.shared.run(None, {"x": x})
    (lone,) = runs.lone.run(None, {"x": x})
    assert np.array_equal(first, x) and np.array_equal(shared, x) and np.array_equal(lone, x)
