"""The JSON bodies of the CompreFace routes, field for field as CompreFace answers them.

Boxes are integer pixels with the detector's ``probability``; ``similarity`` is on
CompreFace's 0-1 scale (``service.api.compat.confidence``: 0.5 at the embedder's calibrated
cosine threshold), rounded to 5 decimals as CompreFace rounds it.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from service.pipelines.faces import FoundFace

Point = list[int]


class Box(BaseModel):
    probability: float = Field(description="The face detector's score.")
    x_min: int
    y_min: int
    x_max: int
    y_max: int


class Subject(BaseModel):
    subject: str
    similarity: float = Field(description="0-1; 0.5 at the calibrated cosine threshold.")


class FoundFaceAnswer(BaseModel):
    """A face of a detection answer; ``landmarks`` with ``face_plugins=landmarks`` only,
    ``execution_time`` (milliseconds) with ``status=true`` only."""

    box: Box
    landmarks: list[Point] | None = None
    execution_time: dict[str, float] | None = None

    @staticmethod
    def fields(face: FoundFace, landmarks: bool, execution_ms: float | None) -> dict[str, object]:
        x1, y1, x2, y2 = face.box
        fields: dict[str, object] = {
            "box": Box(
                probability=round(face.confidence or 1.0, 5),
                x_min=round(x1),
                y_min=round(y1),
                x_max=round(x2),
                y_max=round(y2),
            )
        }
        if landmarks and face.landmarks is not None:
            fields["landmarks"] = [[round(float(x)), round(float(y))] for x, y in face.landmarks]
        if execution_ms is not None:
            fields["execution_time"] = {"total": round(execution_ms, 1)}
        return fields


class RecognizedFace(FoundFaceAnswer):
    subjects: list[Subject] = Field(description="The nearest subjects, best first.")


class MatchedFace(FoundFaceAnswer):
    similarity: float


class Verification(BaseModel):
    source_image_face: FoundFaceAnswer
    face_matches: list[MatchedFace] = Field(description="Every target face, best first.")


class DetectionAnswer(BaseModel):
    result: list[FoundFaceAnswer]
    plugins_versions: dict[str, str] | None = None


class RecognitionAnswer(BaseModel):
    result: list[RecognizedFace]
    plugins_versions: dict[str, str] | None = None


class VerificationAnswer(BaseModel):
    result: list[Verification]
    plugins_versions: dict[str, str] | None = None


class Example(BaseModel):
    image_id: str
    subject: str


class ExamplePage(BaseModel):
    faces: list[Example]
    page_number: int
    page_size: int
    total_pages: int
    total_elements: int


class Deleted(BaseModel):
    deleted: int


class SubjectName(BaseModel):
    subject: str


class SubjectList(BaseModel):
    subjects: list[str]


class Updated(BaseModel):
    updated: bool


class CompreFaceError(BaseModel):
    message: str
    code: int
