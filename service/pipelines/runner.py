"""The one thing pipelines need from the runtime: run a tensor, say where it ran."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from numpy.typing import NDArray


class Runner(Protocol):
    """An inference session (service.runtime.ModelSession) as pipelines see it."""

    @property
    def providers_requested(self) -> Sequence[str]: ...

    @property
    def providers_used(self) -> Sequence[str]: ...

    def run(self, inputs: NDArray[Any] | Mapping[str, NDArray[Any]]) -> list[NDArray[Any]]: ...
