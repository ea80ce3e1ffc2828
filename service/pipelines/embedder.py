"""FaceEmbedder: align by 5 landmarks (or take an aligned crop), embed, L2-normalise."""

from __future__ import annotations

from typing import ClassVar, Self

import numpy as np
from numpy.typing import NDArray

from service.pipelines.alignment import ALIGNED_SIZE, align_face
from service.pipelines.preprocess import to_tensor
from service.pipelines.protocol import LoadedModel, model_info
from service.pipelines.resize import resize
from service.pipelines.results import Embedding, Timings
from service.pipelines.runner import Runner
from service.repository.spec import ModelSpec
from service.timing import StageClock


def l2_normalise(vector: NDArray[np.float32]) -> NDArray[np.float32]:
    """Unit length, so a dot product is the cosine similarity."""
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else vector.astype(np.float32)


class FaceEmbedder:
    """Unit-length face embeddings compared by cosine against ``threshold``."""

    task: ClassVar[str] = "face-embed"

    def __init__(self, name: str, spec: ModelSpec, runner: Runner) -> None:
        self.spec = spec
        self.runner = runner
        self.threshold = float(spec.similarity if spec.similarity is not None else 0.0)
        thresholds = {"similarity": spec.similarity} if spec.similarity is not None else {}
        self.info = model_info(name, spec, runner, thresholds=thresholds)

    @classmethod
    def load(cls, model: LoadedModel) -> Self:
        return cls(model.name, model.spec, model.session)

    def warm_up(self) -> None:
        self.embed(np.full((*self.spec.input.size, 3), 114, dtype=np.uint8), None)

    def embed(self, pixels: NDArray[np.uint8], landmarks: NDArray[np.floating] | None) -> Embedding:
        """Embed the face at ``landmarks``; None means ``pixels`` already is an aligned crop."""
        clock = StageClock()
        with clock.stage("preprocess"):
            aligned = (
                resize(pixels, (ALIGNED_SIZE, ALIGNED_SIZE), self.spec.input.interpolation)
                if landmarks is None
                else align_face(pixels, landmarks)
            )
            tensor = to_tensor(aligned, self.spec.input)
        with clock.stage("inference"):
            output = self.runner.run(tensor)[0]
        with clock.stage("postprocess"):
            vector = l2_normalise(np.asarray(output, dtype=np.float32).reshape(-1))
        return Embedding(vector=vector, aligned=aligned, timings=Timings.of(clock))
