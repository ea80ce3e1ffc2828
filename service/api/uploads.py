"""Getting image bytes out of a request: multipart file parts, or JSON with base64 strings.

Routes read the body themselves (not through FastAPI parameters) so the size limit applies to
the raw stream and every malformed body gets a 400 that says which fields were expected.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from service.api.errors import FieldProblem, MalformedRequestError, UnsupportedMediaTypeError

IMAGE_FIELD = "image"
SUBJECT_FIELD = "subject"
MULTIPART = "multipart/form-data"
JSON = "application/json"
_DATA_URL = re.compile(r"^data:(?P<type>[^,;]*)(?P<params>(;[^,;]*)*),", re.IGNORECASE)


async def read_image(request: Request) -> bytes:
    """The bytes of the one image a route reads, from field ``image``."""
    return (await read_images(request, (IMAGE_FIELD,)))[IMAGE_FIELD]


async def read_images(
    request: Request, names: Sequence[str], optional: Sequence[str] = ()
) -> dict[str, bytes]:
    """One image per name in ``names``, each from the multipart part or JSON key of that name;
    those in ``optional`` only when the request has them."""
    media_type = _media_type(request)
    if media_type == MULTIPART:
        return await _from_multipart(request, names, optional)
    if _is_json(media_type):
        # Parsing and base64 of up to max_body_bytes: off the event loop, so probes stay fast.
        return await run_in_threadpool(_from_json, await request.body(), names, optional)
    raise _unsupported(media_type, names)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type == JSON or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _unsupported(media_type: str, names: Sequence[str]) -> UnsupportedMediaTypeError:
    return UnsupportedMediaTypeError(
        f"Content-Type {media_type or '(none)'} is not accepted; send {MULTIPART} with "
        f"{_fields(names)} as parts (images as file parts), or {JSON} with {_fields(names)} "
        "as strings (images in base64)"
    )


@dataclass(frozen=True)
class Enrolment:
    """What ``POST /faces`` carries: a subject name and its images, named for error messages
    (``image[0]``, ``image[1]``, ...)."""

    subject: str
    images: dict[str, bytes]


async def read_enrolment(request: Request, *, max_images: int) -> Enrolment:
    """``subject`` and 1..``max_images`` ``image`` parts (multipart), or the same as JSON
    (``{"subject": ..., "image": base64 | [base64, ...]}``)."""
    media_type = _media_type(request)
    if media_type == MULTIPART:
        subject, images = await _enrolment_from_multipart(request, max_images)
    elif _is_json(media_type):
        subject, images = await run_in_threadpool(
            _enrolment_from_json, await request.body(), max_images
        )
    else:
        raise _unsupported(media_type, (SUBJECT_FIELD, IMAGE_FIELD))
    return Enrolment(subject=subject, images=images)


async def _enrolment_from_multipart(
    request: Request, max_images: int
) -> tuple[str, dict[str, bytes]]:
    try:
        async with request.form(max_files=max_images + 1, max_fields=32) as form:
            subjects = form.getlist(SUBJECT_FIELD)
            if len(subjects) != 1:
                raise _enrolment_error(SUBJECT_FIELD, _count_problem(len(subjects), list(form)))
            subject = subjects[0]
            if not isinstance(subject, str):
                raise _enrolment_error(SUBJECT_FIELD, "must be a text field, not a file part")
            parts = form.getlist(IMAGE_FIELD)
            _check_image_count(len(parts), max_images, list(form))
            images: dict[str, bytes] = {}
            for i, part in enumerate(parts):
                if not isinstance(part, UploadFile):
                    raise _enrolment_error(
                        f"{IMAGE_FIELD}[{i}]", "must be a file part (with a filename)"
                    )
                images[f"{IMAGE_FIELD}[{i}]"] = await part.read()
            return subject, images
    except StarletteHTTPException as exc:
        raise MalformedRequestError(f"the multipart body cannot be parsed: {exc.detail}") from None


def _enrolment_from_json(body: bytes, max_images: int) -> tuple[str, dict[str, bytes]]:
    payload = _json_object(body, (SUBJECT_FIELD, IMAGE_FIELD))
    subject = payload.get(SUBJECT_FIELD)
    if not isinstance(subject, str):
        problem = (
            "is missing" if subject is None else f"must be a string, not {type(subject).__name__}"
        )
        raise _enrolment_error(SUBJECT_FIELD, problem)
    value = payload.get(IMAGE_FIELD)
    values = value if isinstance(value, list) else [] if value is None else [value]
    _check_image_count(len(values), max_images, list(payload))
    images: dict[str, bytes] = {}
    for i, item in enumerate(values):
        name = f"{IMAGE_FIELD}[{i}]"
        if not isinstance(item, str):
            raise _enrolment_error(name, f"must be a base64 string, not {type(item).__name__}")
        images[name] = decode_base64(item, name)
    return subject, images


def _check_image_count(count: int, max_images: int, present: list[str]) -> None:
    if count == 0:
        raise _enrolment_error(IMAGE_FIELD, _count_problem(0, present))
    if count > max_images:
        raise _enrolment_error(IMAGE_FIELD, f"has {count} images; at most {max_images} per request")


def _enrolment_error(name: str, problem: str) -> MalformedRequestError:
    return _field_error(name, problem, (SUBJECT_FIELD, IMAGE_FIELD))


async def _from_multipart(
    request: Request, names: Sequence[str], optional: Sequence[str] = ()
) -> dict[str, bytes]:
    try:
        async with request.form(max_files=len(names) + 8, max_fields=32) as form:
            images: dict[str, bytes] = {}
            for name in (*names, *optional):
                parts = form.getlist(name)
                if not parts and name in optional:
                    continue
                if len(parts) != 1:
                    raise _field_error(name, _count_problem(len(parts), list(form.keys())), names)
                part = parts[0]
                if not isinstance(part, UploadFile):
                    raise _field_error(
                        name,
                        f"must be a file part (with a filename), e.g. curl -F {name}=@photo.jpg",
                        names,
                    )
                images[name] = await part.read()
            return images
    except StarletteHTTPException as exc:  # Starlette's report of a malformed multipart body
        raise MalformedRequestError(f"the multipart body cannot be parsed: {exc.detail}") from None


def _json_object(body: bytes, names: Sequence[str]) -> dict[str, Any]:
    try:
        payload: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedRequestError(f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # ~1,000 nested arrays in 2 kB; json.loads gives up by recursing
        raise MalformedRequestError(
            "the JSON body is nested too deeply; send a flat object of base64 strings"
        ) from None
    if not isinstance(payload, dict):
        raise MalformedRequestError(
            f"the JSON body must be an object with {_fields(names)}, not {type(payload).__name__}"
        )
    return payload


def _from_json(body: bytes, names: Sequence[str], optional: Sequence[str] = ()) -> dict[str, bytes]:
    payload = _json_object(body, names)
    images: dict[str, bytes] = {}
    for name in (*names, *optional):
        if name not in payload:
            if name in optional:
                continue
            raise _field_error(name, _count_problem(0, list(payload)), names)
        value = payload[name]
        if not isinstance(value, str):
            raise _field_error(
                name, f"must be a base64 string or data URL, not {type(value).__name__}", names
            )
        images[name] = decode_base64(value, name)
    return images


def decode_base64(text: str, name: str) -> bytes:
    """Standard or URL-safe base64, padded or not, line-wrapped or not, or a base64 data URL."""
    match = _DATA_URL.match(text)
    if match:
        if ";base64" not in match.group("params").lower():
            raise _field_error(name, "is a data URL without ;base64 (use data:...;base64,...)")
        text = text[match.end() :]
    compact = "".join(text.split())
    if "-" in compact or "_" in compact:
        compact = compact.replace("-", "+").replace("_", "/")
    compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _field_error(name, f"is not valid base64 ({exc})") from None


def _count_problem(count: int, present: list[str]) -> str:
    if count == 0:
        seen = ", ".join(repr(key) for key in present[:10]) or "none"
        return f"is missing (fields present: {seen})"
    return f"must appear once, found {count} times"


def _field_error(
    name: str, problem: str, expected: Sequence[str] | None = None
) -> MalformedRequestError:
    wanted = f"; expected {_fields(expected)}" if expected else ""
    return MalformedRequestError(
        f"field {name!r} {problem}{wanted}",
        errors=[FieldProblem("body", name, problem)],
    )


def _fields(names: Sequence[str]) -> str:
    return " and ".join(repr(name) for name in names)


_BASE64_IMAGE = {
    "type": "string",
    "description": "base64 image bytes, or a data URL (data:image/jpeg;base64,...)",
}
_FILE = {"type": "string", "format": "binary"}


def image_request_body(names: Sequence[str] = (IMAGE_FIELD,)) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for routes that read images with ``read_images``."""
    return _request_body(
        multipart={name: _FILE for name in names},
        json={name: _BASE64_IMAGE for name in names},
    )


def enrolment_request_body() -> dict[str, Any]:
    """OpenAPI ``requestBody`` of ``POST /faces`` (see ``read_enrolment``)."""
    subject = {"type": "string", "minLength": 1, "maxLength": 128}
    many = "One or more images (at most VISION_MAX_ENROL_IMAGES); each one's largest face."
    return _request_body(
        multipart={
            SUBJECT_FIELD: subject,
            IMAGE_FIELD: {"type": "array", "items": _FILE, "description": many},
        },
        json={
            SUBJECT_FIELD: subject,
            IMAGE_FIELD: {
                "oneOf": [_BASE64_IMAGE, {"type": "array", "items": _BASE64_IMAGE}],
                "description": many,
            },
        },
    )


def _request_body(*, multipart: dict[str, Any], json: dict[str, Any]) -> dict[str, Any]:
    def schema(properties: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "required": list(properties), "properties": properties}

    return {
        "requestBody": {
            "required": True,
            "content": {
                MULTIPART: {"schema": schema(multipart)},
                JSON: {"schema": schema(json)},
            },
        }
    }
