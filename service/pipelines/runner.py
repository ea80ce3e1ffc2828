"""The one thing pipelines need from the runtime: run a tensor, say where it ran."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from numpy.typing import NDArray


class Runner(Protocol):
    """An inference session (service.runtime) as pipelines see it."""

    @property
    def providers_used(self) -> Sequence[str]: ...

    def run(self, inputs: NDArray[Any]) -> list[NDArray[Any]]: ...
