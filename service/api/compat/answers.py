"""The JSON bodies of the DeepStack / CodeProject.AI ``/v1/vision`` routes.

Field names are DeepStack's (``x_min``, ``userid``) and CodeProject.AI's (``inferenceMs``,
``moduleId``), because the clients index them by name. Coordinates are integer pixels of the
upright original image, as DeepStack gave them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from service.api.schemas import TimingsMs
from service.pipelines.results import ModelInfo

_PROVIDER_SUFFIX = "ExecutionProvider"


class Succeeded(BaseModel):
    """What every successful answer starts with; also the whole of a delete's answer."""

    success: bool = True
    code: int = 200


class Envelope(Succeeded):
    """What every model's answer carries besides its payload (CodeProject.AI's names)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    command: str
    module_id: str = Field(description="The model that answered (see GET /models).")
    execution_provider: str = Field(
        description="What onnxruntime really ran it on: CPU, CUDA, Tensorrt, ..."
    )
    inference_ms: int = Field(description="Model run(s), milliseconds.")
    process_ms: int = Field(description="Decode, pre- and post-processing and inference.")

    @staticmethod
    def about(model: ModelInfo, command: str, timings: TimingsMs) -> dict[str, object]:
        """The envelope's fields for an answer by ``model``."""
        provider = model.provider.removesuffix(_PROVIDER_SUFFIX) or model.provider
        return {
            "command": command,
            "module_id": model.name,
            "execution_provider": provider,
            "inference_ms": round(timings.inference),
            "process_ms": round(timings.total),
        }


class Corners(BaseModel):
    x_min: int
    y_min: int
    x_max: int
    y_max: int

    @staticmethod
    def of(box: tuple[float, float, float, float]) -> dict[str, int]:
        """The nearest whole pixels; boxes come clipped to the image, so these stay in it."""
        x1, y1, x2, y2 = box
        return {
            "x_min": round(x1),
            "y_min": round(y1),
            "x_max": round(x2),
            "y_max": round(y2),
        }


class ObjectPrediction(Corners):
    label: str
    confidence: float


class DetectionAnswer(Envelope):
    predictions: list[ObjectPrediction] = Field(description="Best first (Frigate relies on it).")
    count: int


class FacePrediction(Corners):
    confidence: float = Field(description="The face detector's score.")


class FaceDetectionAnswer(Envelope):
    predictions: list[FacePrediction] = Field(description="Best first.")
    count: int


class RecognizedPrediction(Corners):
    userid: str = Field(description='The registered userid, or "unknown".')
    confidence: float = Field(
        description="Match confidence, 0.5 at the embedder's calibrated cosine threshold "
        '(see the README); 0 for "unknown".'
    )


class RecognitionAnswer(Envelope):
    predictions: list[RecognizedPrediction] = Field(description="Every face, largest first.")
    count: int


class RegisterAnswer(Envelope):
    message: str = "face added"


class FaceListAnswer(Succeeded):
    faces: list[str] = Field(description="Every registered userid.")


class MatchAnswer(Envelope):
    similarity: float = Field(description="The two largest faces' match confidence (0-1).")


class ModelListAnswer(Succeeded):
    models: list[str] = Field(description="Detectors that /v1/vision/custom/{model} serves.")


class DeepStackError(BaseModel):
    """Every failure on these routes, with the HTTP status also in ``code``."""

    success: bool = False
    error: str
    code: int
