"""The task table: which pipeline class serves each task, and what it needs first.

Registering a task is one line here, next to the import of its module; the registry, ``GET
/models`` and model.toml's ``task`` key all read this table and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.pipelines.classifier import Classifier
from service.pipelines.detector import Detector, FaceDetector
from service.pipelines.embedder import FaceEmbedder
from service.pipelines.protocol import Pipeline
from service.pipelines.style_transfer import StylePredictor, StyleTransfer
from service.pipelines.stylizer import Stylizer


@dataclass(frozen=True)
class Task:
    """A task's pipeline class; ``after``: tasks whose models must be ready before it loads
    (a style transformer links to its predictor)."""

    pipeline: type[Pipeline]
    after: tuple[str, ...] = ()


TASKS: dict[str, Task] = {
    Detector.task: Task(Detector),
    FaceDetector.task: Task(FaceDetector),
    Classifier.task: Task(Classifier),
    FaceEmbedder.task: Task(FaceEmbedder),
    Stylizer.task: Task(Stylizer),
    StylePredictor.task: Task(StylePredictor),
    StyleTransfer.task: Task(StyleTransfer, after=(StylePredictor.task,)),
}


def load_rank(task: str) -> int:
    """How many tasks must load before ``task`` (0: none), so loading in rank order always
    finds a linked model ready."""
    entry = TASKS.get(task)
    if entry is None:
        return 0
    return max((1 + load_rank(before) for before in entry.after), default=0)
