"""Reading what DeepStack clients post: text fields, file parts of any name, and the API key.

Clients send ``multipart/form-data`` (images), ``application/x-www-form-urlencoded`` (face
list and delete) or no body at all; unknown fields are ignored. The key may come in the
``X-API-Key`` header, which the limits middleware has already checked, or as an ``api_key``
form field, checked here: the middleware lets ``/v1/`` requests without the header through
to these routes for that.
"""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from service.api.context import Context
from service.api.errors import (
    FieldProblem,
    InvalidParameterError,
    MalformedRequestError,
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from service.api.limits import API_KEY_HEADER

API_KEY_FIELD = "api_key"
IMAGE_FIELD = "image"
_FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
_MAX_FIELDS = 64


@dataclass(frozen=True)
class DeepStackForm:
    """The text fields (last value of each name) and the file parts, in the order sent."""

    fields: dict[str, str]
    files: list[tuple[str, bytes]]

    def text(self, name: str) -> str | None:
        return self.fields.get(name)

    def image(self, name: str = IMAGE_FIELD) -> bytes:
        """The one file part called ``name``; DeepStack's own wording when there is none."""
        parts = [data for part, data in self.files if part == name]
        if len(parts) == 1:
            return parts[0]
        if parts:
            raise _field_error(name, f"must be sent once, found {len(parts)} file parts")
        if name in self.fields:
            raise _field_error(name, "must be a file part (with a filename), not a text field")
        sent = ", ".join(repr(part) for part, _ in self.files) or "none"
        raise _field_error(name, f"No valid image file found (file parts sent: {sent})")

    def images(self) -> dict[str, bytes]:
        """Every file part, whatever its name (``image``, ``image1``, ``image<uuid>``), named
        uniquely for error messages."""
        if not self.files:
            raise _field_error(IMAGE_FIELD, "No valid image file found: send one or more files")
        return {f"{name}[{i}]": data for i, (name, data) in enumerate(self.files)}

    def probability(self, name: str) -> float | None:
        """A 0-1 number field such as ``min_confidence``; absent or empty: None."""
        text = (self.text(name) or "").strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not 0.0 <= value <= 1.0:
            problem = f"must be a number from 0 to 1 (got {text[:40]!r})"
            raise InvalidParameterError(
                f"{name} {problem}", errors=[FieldProblem("body", name, problem)]
            )
        return value


async def read_form(request: Request, context: Context) -> DeepStackForm:
    """Parse the body (bounded by the body-size limit) and check the key if one is set."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type and media_type not in _FORM_TYPES:
        raise UnsupportedMediaTypeError(
            f"Content-Type {media_type} is not accepted here; send multipart/form-data "
            "(images as file parts) or application/x-www-form-urlencoded"
        )
    form = await _parse(request, max_files=context.settings.max_enrol_images)
    expected = context.settings.api_key
    if expected is not None:
        _authorize(request, form, expected.get_secret_value())
    return form


DeepStackFormDep = Annotated[DeepStackForm, Depends(read_form)]


async def _parse(request: Request, *, max_files: int) -> DeepStackForm:
    fields: dict[str, str] = {}
    files: list[tuple[str, bytes]] = []
    try:
        async with request.form(max_files=max_files, max_fields=_MAX_FIELDS) as form:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    files.append((name, await value.read()))
                else:
                    fields[name] = value
    except StarletteHTTPException as exc:  # Starlette's report of a malformed body
        raise MalformedRequestError(f"the form body cannot be parsed: {exc.detail}") from None
    return DeepStackForm(fields=fields, files=files)


def _authorize(request: Request, form: DeepStackForm, expected: str) -> None:
    if API_KEY_HEADER in request.headers:
        return  # the limits middleware has already checked the header
    given = form.text(API_KEY_FIELD)
    if not given:
        raise UnauthorizedError(
            f"this service requires an API key: the {API_KEY_HEADER} header or the "
            f"{API_KEY_FIELD} form field"
        )
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise UnauthorizedError(f"the {API_KEY_FIELD} given is not a valid key")


def _field_error(name: str, problem: str) -> MalformedRequestError:
    return MalformedRequestError(f"{name}: {problem}", errors=[FieldProblem("body", name, problem)])
