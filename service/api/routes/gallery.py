"""The face gallery: enrol (``POST /faces``), list, delete. One stored embedding per uploaded
image, each with its own id — never averaged, never overwritten."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from service.api.context import Context
from service.api.face_schemas import (
    EnrolledFace,
    EnrolResponse,
    GalleryResponse,
    StoredFace,
    SubjectOut,
)
from service.api.face_work import (
    DetectorName,
    EmbedderName,
    analyse_uploads,
    enrol_faces,
    face_analyzer,
    face_timings,
)
from service.api.query import refuse_unknown_query
from service.api.routes.responses import INFERENCE_ERRORS, problem_responses
from service.api.schemas import Box, ModelRef
from service.api.server_timing import Clock
from service.api.uploads import enrolment_request_body, read_enrolment
from service.faces import validate_subject

router = APIRouter(tags=["face gallery"])


@router.post(
    "/faces",
    status_code=201,
    response_model=EnrolResponse,
    responses=INFERENCE_ERRORS,
    openapi_extra=enrolment_request_body(),
    summary="Enrol a subject's faces (one stored face per image)",
    dependencies=[Depends(refuse_unknown_query)],
)
async def enrol(
    request: Request,
    context: Context,
    clock: Clock,
    model: EmbedderName = None,
    detector: DetectorName = None,
) -> EnrolResponse:
    """The largest face of each image is stored under ``subject`` (created if new, added to
    otherwise). Every image must hold a face, else nothing is stored (422 naming the image)."""
    analyzer = face_analyzer(context, request, detector, model)
    enrolment = await read_enrolment(request, max_images=context.settings.max_enrol_images)
    subject = validate_subject(enrolment.subject)
    analysed = await analyse_uploads(context, analyzer, enrolment.images, clock, one_face_each=True)
    records = await enrol_faces(context, analyzer, subject, analysed.largest_faces())
    timings = face_timings(context, analyzer, analysed, clock)
    return EnrolResponse(
        subject=subject,
        faces=[EnrolledFace(face_id=r.face_id, box=Box.of(r.box)) for r in records],
        model=ModelRef.of(analyzer.embedder.info),
        timings_ms=timings,
    )


@router.get("/faces", response_model=GalleryResponse, summary="List enrolled subjects")
async def list_faces(context: Context) -> GalleryResponse:
    subjects = context.gallery.subjects()
    return GalleryResponse(
        subjects=[
            SubjectOut(subject=subject, faces=[StoredFace.of(record) for record in records])
            for subject, records in subjects.items()
        ]
    )


@router.delete(
    "/faces/{subject}",
    status_code=204,
    responses=problem_responses(401, 404),
    summary="Delete a subject and all its faces",
)
async def delete_subject(subject: str, context: Context) -> Response:
    await run_in_threadpool(context.gallery.delete_subject, subject)
    return Response(status_code=204)


@router.delete(
    "/faces/{subject}/{face_id}",
    status_code=204,
    responses=problem_responses(401, 404),
    summary="Delete one face of a subject",
)
async def delete_face(subject: str, face_id: str, context: Context) -> Response:
    await run_in_threadpool(context.gallery.delete_face, subject, face_id)
    return Response(status_code=204)
