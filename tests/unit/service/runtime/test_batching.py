"""DynamicBatcher and BatchingSession: what is batched with what, what each caller gets back.

The batcher tests drive a fake run function whose first batch is held on an event, so that the
requests queued meanwhile (and so the next batch) are known exactly; no test times anything.
The session tests run a tiny convolution graph with a dynamic batch axis.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from onnx import helper, numpy_helper

from service.repository.metadata import ModelSignature, TensorInfo
from service.runtime.batching import (
    BatcherClosedError,
    BatchingSession,
    DynamicBatcher,
    batch_axis,
)
from service.runtime.errors import InferenceError, InputMismatchError
from service.runtime.session import ModelSession
from service.settings import Settings
from tests.onnx_graphs import build, identity_model, save, sum_model, tensor

CPU = "CPUExecutionProvider"
HANG_GUARD_S = 30.0  # only so that a broken batcher fails the test instead of hanging it


class HeldRun:
    """A run function that doubles its input, records each batch, and holds the first batch
    until released, so that whatever is submitted meanwhile queues up."""

    def __init__(self) -> None:
        self.batches: list[NDArray[Any]] = []
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, batch: NDArray[Any]) -> list[NDArray[Any]]:
        self.batches.append(batch.copy())
        if len(self.batches) == 1:
            self.started.set()
            assert self.release.wait(HANG_GUARD_S)
        return [batch * 2, batch.sum(axis=tuple(range(1, batch.ndim)))]


class Recorded:
    """``run`` with the rows of every batch it was given recorded in ``sizes``."""

    def __init__(self, run: Callable[[NDArray[Any]], list[NDArray[Any]]]) -> None:
        self.run = run
        self.sizes: list[int] = []

    def __call__(self, batch: NDArray[Any]) -> list[NDArray[Any]]:
        self.sizes.append(len(batch))
        return self.run(batch)


def echo(batch: NDArray[Any]) -> list[NDArray[Any]]:
    return [batch]


@pytest.fixture
def held() -> HeldRun:
    return HeldRun()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(32) as executor:
        yield executor


def rows(value: float, count: int = 1, shape: tuple[int, ...] = (2,)) -> NDArray[np.float32]:
    return np.full((count, *shape), value, dtype=np.float32)


def hold_leader(
    batcher: DynamicBatcher, held: HeldRun, pool: ThreadPoolExecutor
) -> Future[list[NDArray[Any]]]:
    """A first request leading a batch that is held, so later submissions queue."""
    first = pool.submit(batcher.submit, rows(-1))
    assert held.started.wait(HANG_GUARD_S)
    return first


def queue_up(
    batcher: DynamicBatcher,
    pool: ThreadPoolExecutor,
    arrays: list[NDArray[Any]],
) -> list[Future[list[NDArray[Any]]]]:
    """Submit ``arrays`` in this order, each one queued before the next is submitted."""
    futures = []
    for count, array in enumerate(arrays, start=1):
        futures.append(pool.submit(batcher.submit, array))
        wait_until(partial(queued, batcher, count))
    return futures


def queued(batcher: DynamicBatcher, count: int) -> bool:
    return len(batcher._queue) == count


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.001)


# -- the batcher -----------------------------------------------------------------------------


def test_requests_queued_during_a_run_form_the_next_batch_in_order(
    held: HeldRun, pool: ThreadPoolExecutor
) -> None:
    batcher = DynamicBatcher(held, max_batch=8, max_wait_s=0, name="m")
    first = hold_leader(batcher, held, pool)
    futures = queue_up(batcher, pool, [rows(1), rows(2, count=2), rows(3)])
    held.release.set()

    assert len(first.result(HANG_GUARD_S)[0]) == 1
    results = [future.result(HANG_GUARD_S) for future in futures]
    assert [batch.shape[0] for batch in held.batches] == [1, 4]
    np.testing.assert_array_equal(held.batches[1][:, 0], [1, 2, 2, 3])
    for value, count, (doubled, sums) in zip([1, 2, 3], [1, 2, 1], results, strict=True):
        np.testing.assert_array_equal(doubled, rows(2 * value, count))
        np.testing.assert_array_equal(sums, np.full(count, 2 * value, dtype=np.float32))
    batcher.close()


def test_mixed_shapes_and_dtypes_are_never_batched_together(
    held: HeldRun, pool: ThreadPoolExecutor
) -> None:
    batcher = DynamicBatcher(held, max_batch=8, max_wait_s=0, name="m")
    hold_leader(batcher, held, pool)
    arrays: list[NDArray[Any]] = [
        rows(1),
        rows(2, shape=(3,)),
        rows(3),
        rows(4).astype(np.float64),
        rows(5),
    ]
    futures = queue_up(batcher, pool, arrays)
    held.release.set()

    for array, future in zip(arrays, futures, strict=True):
        np.testing.assert_array_equal(future.result(HANG_GUARD_S)[0], array * 2)
    later = [(batch.shape, batch.dtype.name, batch[:, 0].tolist()) for batch in held.batches[1:]]
    assert later == [
        ((3, 2), "float32", [1, 3, 5]),  # the oldest's companions, skipping other shapes
        ((1, 3), "float32", [2]),
        ((1, 2), "float64", [4]),
    ]
    batcher.close()


def test_max_batch_bounds_the_rows_of_every_run(held: HeldRun, pool: ThreadPoolExecutor) -> None:
    batcher = DynamicBatcher(held, max_batch=3, max_wait_s=0, name="m")
    hold_leader(batcher, held, pool)
    counts = [1, 2, 2, 1, 5, 1]  # 5 is more than max_batch: it runs alone
    futures = queue_up(batcher, pool, [rows(i, count) for i, count in enumerate(counts)])
    held.release.set()

    for i, (count, future) in enumerate(zip(counts, futures, strict=True)):
        np.testing.assert_array_equal(future.result(HANG_GUARD_S)[0], rows(2 * i, count))
    assert [batch[:, 0].tolist() for batch in held.batches[1:]] == [
        [0, 1, 1],  # 1 + 2 rows; the next 2 would make 5
        [2, 2, 3],
        [4, 4, 4, 4, 4],
        [5],
    ]
    batcher.close()


def test_a_lone_request_runs_once_max_wait_has_passed(pool: ThreadPoolExecutor) -> None:
    run = Recorded(echo)
    batcher = DynamicBatcher(run, max_batch=8, max_wait_s=0.05, name="m")
    (out,) = pool.submit(batcher.submit, rows(7)).result(HANG_GUARD_S)
    np.testing.assert_array_equal(out, rows(7))
    assert run.sizes == [1]
    batcher.close()


def test_the_oldest_request_waits_for_companions_until_the_batch_is_full(
    pool: ThreadPoolExecutor,
) -> None:
    run = Recorded(echo)
    # A wait far longer than the guard: only a full batch can let these requests run.
    batcher = DynamicBatcher(run, max_batch=2, max_wait_s=3600, name="m")
    futures = [pool.submit(batcher.submit, rows(v)) for v in (1, 2)]
    for value, future in zip((1, 2), futures, strict=True):
        np.testing.assert_array_equal(future.result(HANG_GUARD_S)[0], rows(value))
    assert run.sizes == [2]
    batcher.close()


def test_an_error_in_a_batch_reaches_every_caller_in_it(pool: ThreadPoolExecutor) -> None:
    held = HeldRun()

    def failing(batch: NDArray[Any]) -> list[NDArray[Any]]:
        outputs = held(batch)
        if len(held.batches) == 2:
            raise InferenceError("boom")
        return outputs

    batcher = DynamicBatcher(failing, max_batch=8, max_wait_s=0, name="m")
    first = hold_leader(batcher, held, pool)
    futures = queue_up(batcher, pool, [rows(1), rows(2), rows(3)])
    held.release.set()

    first.result(HANG_GUARD_S)  # the batch before is not affected
    for future in futures:
        with pytest.raises(InferenceError, match="boom"):
            future.result(HANG_GUARD_S)
    assert len(held.batches) == 2
    np.testing.assert_array_equal(batcher.submit(rows(4))[0], rows(8))  # and it serves on
    batcher.close()


def test_systemexit_in_a_run_reaches_its_caller_and_the_batcher_serves_on() -> None:
    def exiting_once(batch: NDArray[Any]) -> list[NDArray[Any]]:
        if batch[0, 0] == 1:
            raise SystemExit(1)
        return [batch]

    batcher = DynamicBatcher(exiting_once, max_batch=8, max_wait_s=0, name="m")
    with pytest.raises(SystemExit):
        batcher.submit(rows(1))
    np.testing.assert_array_equal(batcher.submit(rows(2))[0], rows(2))


def test_outputs_without_the_batch_axis_fail_every_caller(pool: ThreadPoolExecutor) -> None:
    batcher = DynamicBatcher(lambda batch: [batch[:1]], max_batch=8, max_wait_s=0, name="m")
    with pytest.raises(InferenceError, match="not batch-major"):
        batcher.submit(rows(1, count=2))
    batcher.close()


def test_close_fails_the_waiting_requests_and_lets_the_running_batch_finish(
    held: HeldRun, pool: ThreadPoolExecutor
) -> None:
    batcher = DynamicBatcher(held, max_batch=8, max_wait_s=0, name="m")
    first = hold_leader(batcher, held, pool)
    futures = queue_up(batcher, pool, [rows(1), rows(2)])

    batcher.close()
    for future in futures:
        with pytest.raises(BatcherClosedError):
            future.result(HANG_GUARD_S)
    with pytest.raises(BatcherClosedError):
        batcher.submit(rows(3))
    held.release.set()
    np.testing.assert_array_equal(first.result(HANG_GUARD_S)[0], rows(-2))
    assert len(held.batches) == 1


def test_close_wakes_a_request_waiting_for_companions(pool: ThreadPoolExecutor) -> None:
    batcher = DynamicBatcher(echo, max_batch=8, max_wait_s=3600, name="m")
    waiting = pool.submit(batcher.submit, rows(1))
    wait_until(lambda: len(batcher._queue) == 1)  # queued: waiting for companions for an hour
    batcher.close()
    with pytest.raises(BatcherClosedError):
        waiting.result(HANG_GUARD_S)


def test_many_threads_get_their_own_results_none_lost(pool: ThreadPoolExecutor) -> None:
    seen_rows: list[int] = []

    def run(batch: NDArray[Any]) -> list[NDArray[Any]]:
        seen_rows.append(len(batch))
        return [batch + 0.5]

    batcher = DynamicBatcher(run, max_batch=4, max_wait_s=0.001, name="m")
    values = range(400)
    results = list(pool.map(lambda v: batcher.submit(rows(v, count=1 + v % 2)), values))
    for value, (out,) in zip(values, results, strict=True):
        np.testing.assert_array_equal(out, rows(value + 0.5, count=1 + value % 2))
    assert sum(seen_rows) == sum(1 + v % 2 for v in values)
    assert max(seen_rows) <= 4
    batcher.close()


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        DynamicBatcher(echo, max_batch=0, max_wait_s=0, name="m")


# -- which models batch ----------------------------------------------------------------------


def signature(inputs: list[tuple[Any, ...]], outputs: list[tuple[Any, ...]]) -> ModelSignature:
    return ModelSignature(
        inputs=tuple(TensorInfo(f"i{n}", shape, "tensor(float)") for n, shape in enumerate(inputs)),
        outputs=tuple(
            TensorInfo(f"o{n}", shape, "tensor(float)") for n, shape in enumerate(outputs)
        ),
        metadata={},
    )


@pytest.mark.parametrize(
    ("inputs", "outputs", "axis"),
    [
        ([("batch", 3, "h", "w")], [("batch", 84, "anchors")], "batch"),
        ([(1, 3, 640, 640)], [(1, 84, 8400)], None),  # a static export
        ([("N", 3, 8, 8)], [("N", 4), ("M", 2)], None),  # an output of another length
        ([("N", 3, 8, 8)], [(12800, 1)], None),  # SCRFD-like: rows are not per image
        ([(None, 3, 8, 8)], [(None, 4)], None),  # unknown, not named: no proof they agree
        ([("N", 3), ("N", 3)], [("N", 3)], None),  # two inputs
    ],
)
def test_batch_axis_needs_one_symbol_shared_by_the_input_and_every_output(
    inputs: list[tuple[Any, ...]], outputs: list[tuple[Any, ...]], axis: str | None
) -> None:
    assert batch_axis(signature(inputs, outputs)) == axis


# -- the session -----------------------------------------------------------------------------


def conv_model() -> Any:
    """3x3 convolution + ReLU and a global average pool, batch axis ``n``."""
    weights = np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32)
    return build(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["y"]),
            helper.make_node("GlobalAveragePool", ["y"], ["pooled"]),
        ],
        [tensor("x", ["n", 3, 8, 8])],
        [tensor("y", ["n", 4, 8, 8]), tensor("pooled", ["n", 4, 1, 1])],
        initializers=[numpy_helper.from_array(weights, "w")],
    )


@pytest.fixture
def conv_path(tmp_path: Path) -> Path:
    return save(conv_model(), tmp_path / "conv.onnx")


def settings(batch_max: int, wait_ms: float = 1.0) -> Settings:
    return Settings(providers=[CPU], batch_max=batch_max, batch_wait_ms=wait_ms)


def images(count: int) -> list[NDArray[np.float32]]:
    rng = np.random.default_rng(1)
    return [rng.normal(size=(1, 3, 8, 8)).astype(np.float32) for _ in range(count)]


def test_batched_outputs_equal_unbatched_ones_bit_for_bit(
    conv_path: Path, pool: ThreadPoolExecutor
) -> None:
    # Exact equality, not a tolerance: onnxruntime's CPU convolution computes each image of a
    # batch with the same kernel and the same summation order as that image alone.
    direct = ModelSession(conv_path, settings(1))
    batching = BatchingSession(conv_path, settings(8))
    assert batching.batcher is not None
    batching.batcher.close()
    # An hour's wait: only full batches of 8 can run, so every answer below is a batched one.
    run = Recorded(partial(ModelSession.run, batching))
    batching.batcher = DynamicBatcher(run, max_batch=8, max_wait_s=3600, name="conv")
    inputs = images(64)
    batched = list(pool.map(batching.run, inputs))
    assert run.sizes == [8] * 8
    for array, outputs in zip(inputs, batched, strict=True):
        for got, want in zip(outputs, direct.run(array), strict=True):
            assert got.shape == want.shape
            np.testing.assert_array_equal(got, want)
    batching.close()


def test_a_mapping_feed_is_batched_like_an_array(conv_path: Path) -> None:
    session = BatchingSession(conv_path, settings(4))
    (array,) = images(1)
    np.testing.assert_array_equal(session.run({"x": array})[1], session.run(array)[1])
    session.close()


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((1, 3, 8, 9), dtype=np.float32),  # a static axis off
        np.zeros((1, 3, 8, 8), dtype=np.float64),  # another dtype
        np.zeros((3, 8, 8), dtype=np.float32),  # no batch axis
        [[0.0]],  # not an array
    ],
)
def test_a_malformed_request_runs_alone_and_gets_the_sessions_own_error(
    conv_path: Path, bad: Any
) -> None:
    session = BatchingSession(conv_path, settings(4))
    with pytest.raises(InputMismatchError) as batched_error:
        session.run(bad)
    with pytest.raises(InputMismatchError) as direct_error:
        ModelSession(conv_path, settings(1)).run(bad)
    assert str(batched_error.value) == str(direct_error.value)
    session.close()


def test_after_close_runs_go_straight_to_onnxruntime(conv_path: Path) -> None:
    session = BatchingSession(conv_path, settings(4))
    session.close()
    assert session.batcher is None
    (array,) = images(1)
    np.testing.assert_array_equal(
        session.run(array)[0], ModelSession(conv_path, settings(1)).run(array)[0]
    )


@pytest.mark.parametrize(
    ("model", "batch_max"),
    [
        (conv_model(), 1),  # off by the setting
        (identity_model([1, 3, 4, 4]), 8),  # static batch axis
        (sum_model(["n", 3]), 8),  # two inputs
    ],
)
def test_no_batcher_when_off_or_the_model_cannot_batch(
    tmp_path: Path, model: Any, batch_max: int
) -> None:
    session = BatchingSession(save(model, tmp_path / "m.onnx"), settings(batch_max))
    assert session.batcher is None
