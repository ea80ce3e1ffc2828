"""DeepStack face recognition on our gallery: register, recognize, list, delete, match.

A DeepStack ``userid`` is our gallery subject and each registered image one stored face, so
``/faces`` and ``/v1/vision/face/*`` see the same people. Matching is by cosine similarity
against the embedder's calibrated threshold, reported on DeepStack's 0-1 ``confidence`` scale
(``confidence``: the mapping and why); below the threshold a face is ``"unknown"``.
"""

from __future__ import annotations

from contextlib import suppress

import numpy as np
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from service.api.compat.answers import (
    Envelope,
    FaceListAnswer,
    MatchAnswer,
    RecognitionAnswer,
    RecognizedPrediction,
    RegisterAnswer,
    Succeeded,
)
from service.api.compat.confidence import confidence_of, cosine_for
from service.api.compat.detection import MIN_CONFIDENCE
from service.api.compat.form import DeepStackForm, DeepStackFormDep
from service.api.compat.responses import deepstack_post
from service.api.context import Context
from service.api.errors import FieldProblem, MalformedRequestError
from service.api.face_work import (
    analyse_uploads,
    enrol_faces,
    face_analyzer,
    face_timings,
    search_gallery,
)
from service.api.server_timing import Clock
from service.api.uploads import IMAGE_FIELD
from service.faces import UnknownSubjectError, validate_subject

router = APIRouter(prefix="/vision/face")
USERID = "userid"
UNKNOWN = "unknown"
MATCH_FIELDS = ("image1", "image2")


@deepstack_post(
    router,
    "/register",
    RegisterAnswer,
    "Register a person: userid + one or more image parts of any names",
)
async def register(
    request: Request, context: Context, clock: Clock, form: DeepStackFormDep
) -> RegisterAnswer:
    """The largest face of every image is stored as its own face of ``userid``; an image
    without a face stores nothing (422 naming it)."""
    analyzer = face_analyzer(context, request, None, None)
    subject = validate_subject(_userid(form))
    analysed = await analyse_uploads(context, analyzer, form.images(), clock, one_face_each=True)
    await enrol_faces(context, analyzer, subject, analysed.largest_faces())
    timings = face_timings(context, analyzer, analysed, clock)
    return RegisterAnswer(**Envelope.about(analyzer.embedder.info, "register-face", timings))


@deepstack_post(
    router,
    "/recognize",
    RecognitionAnswer,
    'Who is in the image? userid per face, "unknown" below the threshold',
)
async def recognize(
    request: Request, context: Context, clock: Clock, form: DeepStackFormDep
) -> RecognitionAnswer:
    """``min_confidence`` (0-1, on the scale of the answer's ``confidence``) replaces the
    embedder's calibrated threshold when given."""
    analyzer = face_analyzer(context, request, None, None)
    tau = analyzer.embedder.threshold
    wanted = form.probability(MIN_CONFIDENCE)
    cutoff = tau if wanted is None else cosine_for(wanted, tau)
    analysed = await analyse_uploads(context, analyzer, {IMAGE_FIELD: form.image()}, clock)
    faces = analysed.images[IMAGE_FIELD].faces
    matches = await search_gallery(context, analyzer, faces, threshold=cutoff, top_k=1)
    predictions = [
        RecognizedPrediction(
            **RecognizedPrediction.of(face.box),
            userid=match.subject or UNKNOWN,
            confidence=(
                confidence_of(match.similarity, tau)
                if match.subject is not None and match.similarity is not None
                else 0.0
            ),
        )
        for face, match in zip(faces, matches, strict=True)
    ]
    timings = face_timings(context, analyzer, analysed, clock)
    return RecognitionAnswer(
        **Envelope.about(analyzer.embedder.info, "recognize-face", timings),
        predictions=predictions,
        count=len(predictions),
    )


@deepstack_post(router, "/list", FaceListAnswer, "Every registered userid")
async def list_faces(context: Context) -> FaceListAnswer:
    return FaceListAnswer(faces=list(context.gallery.subjects()))


@deepstack_post(router, "/delete", Succeeded, "Delete a userid and all its faces")
async def delete_face(context: Context, form: DeepStackFormDep) -> Succeeded:
    """Idempotent, as DeepStack and CodeProject.AI answer it: an unknown userid is 200
    ``success: true`` too (Viseron deletes before it registers; deepstack-sdk raises on an
    error). The native ``DELETE /faces/{subject}`` keeps its 404."""
    with suppress(UnknownSubjectError):  # already gone: what the client asked for is true
        await run_in_threadpool(context.gallery.delete_subject, _userid(form))
    return Succeeded()


@deepstack_post(
    router, "/match", MatchAnswer, "How alike are the largest faces of image1 and image2?"
)
async def match(
    request: Request, context: Context, clock: Clock, form: DeepStackFormDep
) -> MatchAnswer:
    """``similarity`` on the recognition ``confidence`` scale: 0.5 at the calibrated
    threshold, so at or above 0.5 the two are the same person."""
    analyzer = face_analyzer(context, request, None, None)
    uploads = {name: form.image(name) for name in MATCH_FIELDS}
    analysed = await analyse_uploads(context, analyzer, uploads, clock, one_face_each=True)
    first, second = analysed.largest_faces()
    cosine = float(np.dot(first.embedding, second.embedding))
    timings = face_timings(context, analyzer, analysed, clock)
    return MatchAnswer(
        **Envelope.about(analyzer.embedder.info, "match-faces", timings),
        similarity=confidence_of(cosine, analyzer.embedder.threshold),
    )


def _userid(form: DeepStackForm) -> str:
    userid = form.text(USERID)
    if userid is None:
        problem = "user id not specified: send the userid form field"
        raise MalformedRequestError(problem, errors=[FieldProblem("body", USERID, problem)])
    return userid
