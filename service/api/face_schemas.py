"""Response bodies of the face routes: verification, enrolment, the gallery, recognition."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.api.schemas import Box, ModelRef, TimingsMs
from service.faces import FaceRecord, GalleryMatch
from service.pipelines.faces import FoundFace


class FaceOut(BaseModel):
    """A face as the detector found it, in the upright image's pixels."""

    box: Box
    confidence: float | None = Field(description="Detector score; null for aligned crops.")
    landmarks: list[list[float]] | None = Field(
        description="Five [x, y]: eyes, nose tip, mouth corners (from the subject's view: "
        "right eye first); null for aligned crops."
    )

    @classmethod
    def of(cls, face: FoundFace) -> FaceOut:
        landmarks = face.landmarks.tolist() if face.landmarks is not None else None
        return cls(box=Box.of(face.box), confidence=face.confidence, landmarks=landmarks)


class VerifyResponse(BaseModel):
    verified: bool = Field(description="similarity >= threshold: the same person.")
    similarity: float = Field(description="Cosine similarity of the two embeddings, -1 to 1.")
    threshold: float
    metric: Literal["cosine"] = "cosine"
    faces: list[FaceOut] = Field(description="The face compared in image1, then image2.")
    model: ModelRef = Field(description="The face-embedding model.")
    detector: ModelRef | None = Field(description="The face detector; null with detect=false.")
    timings_ms: TimingsMs


class EnrolledFace(BaseModel):
    face_id: str
    box: Box = Field(description="Where the face was in the uploaded image.")


class EnrolResponse(BaseModel):
    subject: str
    faces: list[EnrolledFace] = Field(description="One per uploaded image, in upload order.")
    model: ModelRef
    timings_ms: TimingsMs


class StoredFace(BaseModel):
    face_id: str
    model: str = Field(description="The embedder whose embedding is stored.")
    box: Box
    created_at: float = Field(description="Seconds since the Unix epoch.")

    @classmethod
    def of(cls, record: FaceRecord) -> StoredFace:
        return cls(
            face_id=record.face_id,
            model=record.model,
            box=Box.of(record.box),
            created_at=record.created_at,
        )


class SubjectOut(BaseModel):
    subject: str
    faces: list[StoredFace]


class GalleryResponse(BaseModel):
    subjects: list[SubjectOut]


class Candidate(BaseModel):
    subject: str
    similarity: float = Field(description="Best cosine over the subject's stored faces.")


class RecognizedFace(FaceOut):
    subject: str | None = Field(description="The match, or null when none reaches threshold.")
    similarity: float | None = Field(description="The best candidate's; null: empty gallery.")
    candidates: list[Candidate]

    @classmethod
    def matched(cls, face: FoundFace, match: GalleryMatch) -> RecognizedFace:
        found = FaceOut.of(face)
        return cls(
            box=found.box,
            confidence=found.confidence,
            landmarks=found.landmarks,
            subject=match.subject,
            similarity=match.similarity,
            candidates=[
                Candidate(subject=c.subject, similarity=c.similarity) for c in match.candidates
            ],
        )


class RecognizeResponse(BaseModel):
    faces: list[RecognizedFace] = Field(description="Every face found, largest first.")
    threshold: float
    model: ModelRef
    detector: ModelRef
    timings_ms: TimingsMs
