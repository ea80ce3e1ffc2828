"""Dynamic batching: concurrent requests of one model coalesced into one onnxruntime run.

As Triton's dynamic batcher does: the oldest waiting request waits at most ``max_wait_s`` from
its arrival for companions of the same shape and dtype, up to ``max_batch`` rows in all; the
batch runs once and each caller gets its own rows of every output back. Only models whose single
input and every output share one symbolic first axis (an export with ``dynamic=True``) are
batched, and only requests that already fit the graph's static axes: a malformed request runs
alone and gets its own error, never its companions'. An error in a batched run reaches every
caller in it; :meth:`DynamicBatcher.close` fails whoever still waits.

One batch runs at a time per model, in the thread of one of its callers; requests that arrive
while it runs form the next batch.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from service.repository.metadata import ModelSignature
from service.runtime.errors import InferenceError
from service.runtime.session import ModelSession
from service.settings import Settings

Outputs = list[NDArray[Any]]
RunBatch = Callable[[NDArray[Any]], Outputs]


class BatcherClosedError(InferenceError):
    """The model's batcher was closed (the process is stopping) before this request ran."""


@dataclass(eq=False)  # identity: the queue removes this request, not an equal-looking one
class _Request:
    array: NDArray[Any]
    future: Future[Outputs] = field(default_factory=Future)
    arrived: float = field(default_factory=time.monotonic)

    @property
    def key(self) -> tuple[tuple[int, ...], str]:
        """Requests batch together only when everything but the batch axis is equal."""
        return self.array.shape[1:], self.array.dtype.str

    @property
    def rows(self) -> int:
        return int(self.array.shape[0])


class DynamicBatcher:
    """Coalesces :meth:`submit` calls from many threads into runs of ``run``.

    It has no thread of its own: a caller that finds no batch in progress leads. It gathers the
    oldest request's batch, runs it in its own thread and answers every caller in it; then a
    waiting caller leads the next one. A lone request thus runs in its caller's thread, with no
    hand-off to wait for. ``max_batch`` bounds the rows of one run (a single request larger
    than it runs alone); ``max_wait_s`` bounds how long a request waits, from its arrival, for
    companions (0: only those already queued, which arrived during the previous run).
    """

    def __init__(self, run: RunBatch, *, max_batch: int, max_wait_s: float, name: str) -> None:
        if max_batch < 1 or max_wait_s < 0:
            raise ValueError(
                f"max_batch must be >= 1 and max_wait_s >= 0, got {max_batch}, {max_wait_s}"
            )
        self._run = run
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._name = name
        self._changed = threading.Condition()
        self._queue: deque[_Request] = deque()
        self._leading = False
        self._closed = False

    def submit(self, array: NDArray[Any]) -> Outputs:
        """Run ``array`` (batch axis first) in the next batch of its shape; its outputs' rows,
        or the batch's error. BatcherClosedError once :meth:`close` was called."""
        request = _Request(array)
        with self._changed:
            if self._closed:
                raise BatcherClosedError(f"{self._name}: the batcher is closed")
            self._queue.append(request)
            self._changed.notify_all()  # a leader gathering companions may want this one
        while not request.future.done():
            batch = self._lead_or_wait(request)
            if batch:
                try:
                    self._execute(batch)
                finally:
                    with self._changed:
                        self._leading = False
                        self._changed.notify_all()
        return request.future.result()

    def close(self) -> None:
        """Fail every request still queued; a batch in progress finishes. Later submissions
        are refused."""
        with self._changed:
            self._closed = True
            for request in self._queue:
                request.future.set_exception(
                    BatcherClosedError(f"{self._name}: closed before this request ran")
                )
            self._queue.clear()
            self._changed.notify_all()

    def _lead_or_wait(self, request: _Request) -> list[_Request]:
        """Wait while another caller leads; then, unless ``request`` was answered meanwhile,
        lead: the oldest request's batch, taken off the queue (empty if closed meanwhile)."""
        with self._changed:
            while self._leading and not request.future.done():
                self._changed.wait()
            if request.future.done():
                return []
            # Not answered and nobody leading: ``request`` is still queued, so the queue is not
            # empty. The wait counts from the oldest's arrival: it may have queued behind a run.
            self._leading = True
            deadline = self._queue[0].arrived + self.max_wait_s
            batch = self._companions()
            while sum(r.rows for r in batch) < self.max_batch:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
                if self._closed:  # close() answered everything queued
                    self._leading = False
                    self._changed.notify_all()
                    return []
                batch = self._companions()
            for taken in batch:
                self._queue.remove(taken)
            return batch

    def _companions(self) -> list[_Request]:
        """The oldest request, then queued requests of its key in order while rows fit."""
        first = self._queue[0]
        batch, rows = [first], first.rows
        for request in list(self._queue)[1:]:
            if request.key == first.key and rows + request.rows <= self.max_batch:
                batch.append(request)
                rows += request.rows
        return batch

    def _execute(self, batch: list[_Request]) -> None:
        """Run one batch and answer each of its callers with its rows, or the batch's error."""
        try:
            arrays = [request.array for request in batch]
            stacked = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
            outputs = self._run(stacked)
            for output in outputs:
                if output.shape[:1] != stacked.shape[:1]:
                    raise InferenceError(
                        f"{self._name}: output of shape {list(output.shape)} is not batch-major "
                        f"for a batch of {stacked.shape[0]}"
                    )
        except BaseException as error:  # each caller gets the batch's error as its own
            for request in batch:
                request.future.set_exception(error)
            return
        start = 0
        for request in batch:
            stop = start + request.rows
            request.future.set_result([output[start:stop] for output in outputs])
            start = stop


def batch_axis(signature: ModelSignature) -> str | None:
    """The symbolic first axis shared by the single input and every output, if there is one:
    only then are rows independent and can be split back per request."""
    if len(signature.inputs) != 1 or not signature.outputs:
        return None
    dims = [t.shape[0] if t.shape else None for t in (*signature.inputs, *signature.outputs)]
    first = dims[0]
    if not isinstance(first, str) or not first or any(dim != first for dim in dims):
        return None
    return first


class BatchingSession(ModelSession):
    """A :class:`ModelSession` whose well-formed single-input runs go through a
    :class:`DynamicBatcher` when ``settings.batch_max`` > 1 and the model has a batch axis."""

    def __init__(self, path: Path, settings: Settings, **options: Any) -> None:
        super().__init__(path, settings, **options)
        self.batcher: DynamicBatcher | None = None
        if settings.batch_max > 1 and batch_axis(self.signature()) is not None:
            self.batcher = DynamicBatcher(
                partial(ModelSession.run, self),
                max_batch=settings.batch_max,
                max_wait_s=settings.batch_wait_ms / 1000,
                name=str(path),
            )

    def run(self, inputs: NDArray[Any] | Mapping[str, NDArray[Any]]) -> Outputs:
        """As :meth:`ModelSession.run`; batched with concurrent requests of the same shape."""
        batcher = self.batcher
        if batcher is None or (array := self._batchable(inputs)) is None:
            return super().run(inputs)
        return batcher.submit(array)

    def close(self) -> None:
        """Stop batching (queued requests fail with BatcherClosedError); runs go direct after."""
        batcher, self.batcher = self.batcher, None
        if batcher is not None:
            batcher.close()

    def _batchable(self, inputs: NDArray[Any] | Mapping[str, NDArray[Any]]) -> NDArray[Any] | None:
        """The input array if it fits the graph exactly (dtype, rank, static axes), else None:
        anything else runs alone so that its InputMismatchError is its own."""
        (tensor,) = self.signature().inputs
        array = inputs.get(tensor.name) if isinstance(inputs, Mapping) else inputs
        if isinstance(inputs, Mapping) and len(inputs) != 1:
            return None
        if not isinstance(array, np.ndarray) or array.dtype != self.input_dtypes[tensor.name]:
            return None
        if array.ndim != len(tensor.shape) or array.shape[0] < 1:
            return None
        for axis, size in enumerate(array.shape):
            static = tensor.static_dim(axis)
            if static is not None and size != static:
                return None
        return array
