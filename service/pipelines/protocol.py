"""The one lifecycle every model follows: ``load`` from a loaded model, ``warm_up``, then its
own typed entry point (``run`` with each task's signature; ``embed`` for the face embedder),
with ``info`` saying what ``GET /models`` shows.

The registry only ever speaks this protocol; routes ask it for a concrete pipeline class
(``models.get(Detector, name)``) and get that class back, typed. A new task is one pipeline
module plus one line in :data:`service.pipelines.tasks.TASKS`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol, Self, TypeVar

from service.pipelines.results import ModelInfo
from service.repository.spec import ModelSpec
from service.runtime.session import ModelSession

if TYPE_CHECKING:
    from service.pipelines.runner import Runner


class Pipeline(Protocol):
    """A served model: the task it serves, what it is, and how it gets ready."""

    task: ClassVar[str]

    @property
    def info(self) -> ModelInfo: ...

    @classmethod
    def load(cls, model: LoadedModel) -> Self:
        """The pipeline over a loaded session (may run it, e.g. to detect an output layout)."""
        ...

    def warm_up(self) -> None:
        """One full run at the input size, so the first request pays no lazy set-up."""
        ...


P = TypeVar("P", bound=Pipeline)


class ModelLookup(Protocol):
    """Ready models by pipeline class and name: what routes (and linked models) look up."""

    def get(self, kind: type[P], name: str | None = None) -> P:
        """The ready model ``name`` of ``kind.task`` (default: the first of that task)."""
        ...


class Models(ModelLookup, Protocol):
    """The whole model registry as the API uses it (the tests' fake registry is one too)."""

    def load_all(self) -> None:
        """Load and warm every pulled model; slow, so it runs off the request path."""
        ...

    def status(self) -> dict[str, str]:
        """Model name -> loading | ready | not pulled | error: <why>."""
        ...

    @property
    def ready(self) -> bool:
        """True when every pulled model is loaded and warmed."""
        ...

    def describe(self) -> list[dict[str, object]]:
        """What GET /models reports, for every model including those not ready."""
        ...

    def session(self, name: str) -> ModelSession:
        """The ready model ``name``'s session, for raw tensors in and out (the Open Inference
        Protocol routes); unknown (UnknownModelError) and not ready (ModelNotReadyError) as
        :meth:`get` refuses them."""
        ...

    def reload(self) -> list[str]:
        """Pick up models pulled or added since start-up, loading them off the request path;
        the names that started loading."""
        ...

    def watch(self, stop: threading.Event, interval_s: float) -> None:
        """Until ``stop`` is set, :meth:`reload` whenever the models folder changes."""
        ...


@dataclass(frozen=True)
class LoadedModel:
    """What the registry hands a pipeline class: its resolved spec and session, and the
    other models (a style transformer links to its predictor)."""

    name: str
    spec: ModelSpec
    session: ModelSession
    models: ModelLookup


def model_info(
    name: str,
    spec: ModelSpec,
    runner: Runner,
    *,
    layout: str | None = None,
    thresholds: Mapping[str, float] | None = None,
    resamples: bool = True,
) -> ModelInfo:
    """A pipeline's :class:`ModelInfo` from its spec and the session it runs on;
    ``resamples=False`` for pipelines that resize with a filter of their own, not the spec's."""
    return ModelInfo(
        name=name,
        task=spec.task,
        provider=runner.providers_used[0],
        providers_requested=tuple(runner.providers_requested),
        providers_used=tuple(runner.providers_used),
        input_size=spec.input.size,
        layout=layout,
        labels_count=len(spec.labels),
        thresholds=dict(thresholds or {}),
        interpolation=spec.input.interpolation if resamples else None,
    )
