"""CompreFace's recognition service on our gallery: examples (faces), subjects, recognize.

A CompreFace "example" is one of our stored faces (``image_id`` is its ``face_id``) and a
CompreFace subject is our gallery subject, so ``/faces``, ``/v1/vision/face`` and these routes
see the same people. ``recognize`` answers the nearest subjects *whatever their similarity*,
as CompreFace does (its clients threshold it themselves); our own ``/recognize-face`` keeps
the honest ``subject: null`` below the threshold.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from service.api.compat.confidence import confidence_of
from service.api.compreface.answers import (
    Deleted,
    Example,
    ExamplePage,
    RecognitionAnswer,
    RecognizedFace,
    Subject,
    SubjectList,
    SubjectName,
    Updated,
)
from service.api.compreface.faces import (
    FILE,
    Options,
    execution_ms,
    faces_of,
    plugins_versions,
)
from service.api.context import AppContext, Context
from service.api.errors import FieldProblem, MalformedRequestError
from service.api.face_work import enrol_faces, search_gallery
from service.api.server_timing import Clock
from service.api.uploads import image_request_body, read_images
from service.faces import UnknownFaceError, UnknownSubjectError, validate_subject

router = APIRouter(prefix="/recognition")
SubjectQuery = Annotated[str, Query(min_length=1, max_length=512)]
_DECLARED = "compreface_subjects"  # app.state: subjects added without a face yet


@router.post(
    "/faces",
    response_model=Example,
    status_code=201,
    summary="Add an example (face) of a subject",
    openapi_extra=image_request_body([FILE]),
)
async def add_example(
    request: Request, context: Context, clock: Clock, options: Options, subject: SubjectQuery
) -> Example:
    """Multipart ``file`` or JSON ``{"file": base64}``; the largest face scoring at least
    ``det_prob_threshold`` is stored as one face of ``subject``."""
    name = validate_subject(subject)
    image = (await read_images(request, [FILE]))[FILE]
    analyzer, found = await faces_of(
        context, request, clock, FILE, image, options, largest_only=True
    )
    (record,) = await enrol_faces(context, analyzer, name, found.faces)
    _declared(request).discard(name)
    return Example(image_id=record.face_id, subject=record.subject)


@router.get("/faces", response_model=ExamplePage, summary="List examples, page by page")
async def list_examples(
    context: Context,
    page: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    size: Annotated[int, Query(ge=1, le=10_000)] = 20,
    subject: Annotated[str | None, Query(max_length=512)] = None,
) -> ExamplePage:
    examples = [
        Example(image_id=face.face_id, subject=name)
        for name, faces in context.gallery.subjects().items()
        if not subject or name == subject
        for face in faces
    ]
    return ExamplePage(
        faces=examples[page * size : (page + 1) * size],
        page_number=page,
        page_size=size,
        total_pages=math.ceil(len(examples) / size),
        total_elements=len(examples),
    )


@router.delete("/faces", response_model=Deleted, summary="Delete a subject's examples (all)")
async def delete_examples(
    context: Context, subject: Annotated[str | None, Query(max_length=512)] = None
) -> Deleted:
    """Without ``subject``, every example of every subject, as CompreFace does."""
    names = [subject] if subject else list(context.gallery.subjects())
    return Deleted(deleted=sum([await _delete_subject(context, name) for name in names]))


@router.post("/faces/delete", response_model=list[Example], summary="Delete examples by id")
async def delete_examples_by_id(
    context: Context, image_ids: Annotated[list[str], Body(max_length=10_000)]
) -> list[Example]:
    """Ids that do not exist are ignored; the answer lists the examples deleted."""
    stored = {f.face_id: f for faces in context.gallery.subjects().values() for f in faces}
    deleted = []
    for image_id in dict.fromkeys(image_ids):  # each id once, in the order sent
        record = stored.get(image_id)
        if record is not None:
            await _delete_face(context, record.subject, image_id)
            deleted.append(Example(image_id=image_id, subject=record.subject))
    return deleted


@router.delete("/faces/{image_id}", response_model=Example, summary="Delete one example")
async def delete_example(context: Context, image_id: str) -> Example:
    record = context.gallery.face(image_id)
    if record is None:
        raise UnknownFaceError(f"no example with image_id {image_id[:80]!r}")
    await _delete_face(context, record.subject, image_id)
    return Example(image_id=image_id, subject=record.subject)


@router.get(
    "/faces/{image_id}/img",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
    summary="The example's aligned face crop (PNG), when crops are kept",
)
async def example_image(context: Context, image_id: str) -> Response:
    if context.gallery.face(image_id) is None:
        raise UnknownFaceError(f"no example with image_id {image_id[:80]!r}")
    crop = await run_in_threadpool(context.gallery.crop, image_id)
    if crop is None:
        raise UnknownFaceError(
            f"example {image_id!r} has no stored image: crops are kept only with "
            "VISION_GALLERY_KEEP_CROPS=true, from the enrolment on"
        )
    return Response(crop, media_type="image/png")


@router.post(
    "/recognize",
    response_model=RecognitionAnswer,
    response_model_exclude_none=True,
    openapi_extra=image_request_body([FILE]),
    summary="The nearest subjects of every face (no threshold: the client decides)",
)
async def recognize(
    request: Request,
    context: Context,
    clock: Clock,
    options: Options,
    prediction_count: Annotated[int, Query(ge=1, le=1000)] = 1,
) -> RecognitionAnswer:
    image = (await read_images(request, [FILE]))[FILE]
    analyzer, found = await faces_of(context, request, clock, FILE, image, options)
    tau = analyzer.embedder.threshold
    matches = await search_gallery(
        context, analyzer, found.faces, threshold=tau, top_k=prediction_count
    )
    spent = execution_ms(found, options)
    result = [
        RecognizedFace(
            **RecognizedFace.fields(face, options.landmarks, spent),
            subjects=[
                Subject(subject=c.subject, similarity=round(confidence_of(c.similarity, tau), 5))
                for c in match.candidates
            ],
        )
        for face, match in zip(found.faces, matches, strict=True)
    ]
    return RecognitionAnswer(result=result, plugins_versions=plugins_versions(analyzer, options))


# -- subjects -------------------------------------------------------------------------------


@router.get("/subjects", response_model=SubjectList, summary="Every subject")
@router.get("/subjects/", response_model=SubjectList, include_in_schema=False)
async def list_subjects(request: Request, context: Context) -> SubjectList:
    enrolled = list(context.gallery.subjects())
    return SubjectList(subjects=enrolled + sorted(_declared(request) - set(enrolled)))


@router.post("/subjects", response_model=SubjectName, status_code=201, summary="Add a subject")
async def add_subject(request: Request, body: Annotated[dict[str, Any], Body()]) -> SubjectName:
    """A subject without faces lives in memory only until its first example (CompreFace
    creates subjects with their first example anyway)."""
    name = validate_subject(_subject_field(body))
    _declared(request).add(name)
    return SubjectName(subject=name)


@router.put("/subjects/{subject}", response_model=Updated, summary="Rename (or merge) a subject")
async def rename_subject(
    request: Request, context: Context, subject: str, body: Annotated[dict[str, Any], Body()]
) -> Updated:
    new = validate_subject(_subject_field(body))
    declared = _declared(request)
    if subject in declared:
        declared.discard(subject)
        declared.add(new)
        return Updated(updated=True)
    await run_in_threadpool(context.gallery.rename_subject, subject, new)
    return Updated(updated=True)


@router.delete("/subjects/{subject}", response_model=SubjectName, summary="Delete a subject")
async def delete_subject(request: Request, context: Context, subject: str) -> SubjectName:
    declared = _declared(request)
    if subject in declared:
        declared.discard(subject)
        return SubjectName(subject=subject)
    await run_in_threadpool(context.gallery.delete_subject, subject)
    return SubjectName(subject=subject)


@router.delete("/subjects", response_model=Deleted, summary="Delete every subject")
async def delete_all_subjects(request: Request, context: Context) -> Deleted:
    names = list(context.gallery.subjects())
    for name in names:
        await _delete_subject(context, name)
    declared = _declared(request)
    count = len(names) + len(declared)
    declared.clear()
    return Deleted(deleted=count)


def _subject_field(body: dict[str, Any]) -> str:
    value = body.get("subject")
    if not isinstance(value, str):
        problem = 'send {"subject": "<name>"}'
        raise MalformedRequestError(problem, errors=[FieldProblem("body", "subject", problem)])
    return value


def _declared(request: Request) -> set[str]:
    state = request.app.state
    if not hasattr(state, _DECLARED):
        setattr(state, _DECLARED, set())
    declared: set[str] = getattr(state, _DECLARED)
    return declared


async def _delete_subject(context: AppContext, subject: str) -> int:
    """How many faces it had; 0 for an unknown subject (CompreFace: nothing to delete)."""
    try:
        count: int = await run_in_threadpool(context.gallery.delete_subject, subject)
    except UnknownSubjectError:
        return 0
    return count


async def _delete_face(context: AppContext, subject: str, face_id: str) -> None:
    await run_in_threadpool(context.gallery.delete_face, subject, face_id)
