"""Reading what DeepStack clients post: text fields and file parts of any name.

Clients send ``multipart/form-data`` (images), ``application/x-www-form-urlencoded`` (face
list and delete) or no body at all; unknown fields are ignored. The body is parsed once per
request: the key check of the compat router (``key``) parses it when the key may be in a form
field, and the route's ``read_form`` then gets that same form.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser
from starlette.requests import Request

from service.api.context import Context
from service.api.errors import (
    FieldProblem,
    InvalidParameterError,
    MalformedRequestError,
    UnsupportedMediaTypeError,
)
from service.api.uploads import IMAGE_FIELD, MULTIPART

URLENCODED = "application/x-www-form-urlencoded"
FORM_TYPES = (MULTIPART, URLENCODED)
_MAX_FIELDS = 64
_PARSED = "deepstack_form"  # the request.state attribute that keeps the parsed form
_NAMELESS = "\x00nameless"  # what a part without a name is called until it is dropped

FieldWatcher = Callable[[str, str], None]
"""Called with each text field's name and value as soon as the field has arrived."""


def _ignore(name: str, value: str) -> None:
    """No one to tell: the route's own parse, with no key to look for."""


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


def form_media_type(request: Request) -> str:
    """The Content-Type without its parameters, lower case; "" when there is none."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_form(request: Request, context: Context) -> DeepStackForm:
    """The route's form: the one the key check parsed, if it did (a body streams in once)."""
    parsed: DeepStackForm | None = getattr(request.state, _PARSED, None)
    return parsed if parsed is not None else await parse_form(request, context)


DeepStackFormDep = Annotated[DeepStackForm, Depends(read_form)]


async def parse_form(
    request: Request, context: Context, on_field: FieldWatcher = _ignore
) -> DeepStackForm:
    """Parse the body (bounded by the body-size limit) and keep it for ``read_form``."""
    media_type = form_media_type(request)
    if media_type and media_type not in FORM_TYPES:
        raise UnsupportedMediaTypeError(
            f"Content-Type {media_type} is not accepted here; send {MULTIPART} "
            f"(images as file parts) or {URLENCODED}"
        )
    try:
        data = await _form_data(request, media_type, context, on_field)
    except MultiPartException as exc:  # Starlette's report of a malformed body
        raise MalformedRequestError(f"the form body cannot be parsed: {exc.message}") from None
    try:
        form = await _collect(data)
    finally:
        await data.close()
    setattr(request.state, _PARSED, form)
    return form


async def _form_data(
    request: Request, media_type: str, context: Context, on_field: FieldWatcher
) -> FormData:
    """What ``request.form()`` gives, but telling ``on_field`` of each multipart text field
    while the rest of the body has yet to come."""
    if media_type == MULTIPART:
        max_files = context.settings.max_enrol_images
        return await _WatchedMultiPart(request, on_field, max_files=max_files).parse()
    if media_type == URLENCODED:  # small: all of it is read before any field is seen
        data = await FormParser(request.headers, request.stream(), max_fields=_MAX_FIELDS).parse()
        for name, value in data.multi_items():
            _tell(on_field, name, value)
        return data
    return FormData()


class _WatchedMultiPart(MultiPartParser):
    """Starlette's multipart parser, calling ``on_field`` the moment a text part ends: an
    exception it raises stops the parse there, before the rest of the body is read."""

    def __init__(self, request: Request, on_field: FieldWatcher, *, max_files: int) -> None:
        super().__init__(
            request.headers, request.stream(), max_files=max_files, max_fields=_MAX_FIELDS
        )
        self._on_field = on_field

    def on_headers_finished(self) -> None:
        """A part without ``name`` gets a placeholder one (Starlette refuses it), so that
        ``_collect`` can drop it."""
        part = self._current_part
        if b"name" not in parse_options_header(part.content_disposition)[1]:
            disposition = part.content_disposition or b"form-data"
            part.content_disposition = disposition + b'; name="%s"' % _NAMELESS.encode()
        super().on_headers_finished()

    def on_part_end(self) -> None:
        super().on_part_end()
        if self.items[-1][0] != _NAMELESS:
            _tell(self._on_field, *self.items[-1])


def _tell(on_field: FieldWatcher, name: str, value: str | UploadFile) -> None:
    if isinstance(value, str):  # a text field, not a file part
        on_field(name, value)


async def _collect(data: FormData) -> DeepStackForm:
    fields: dict[str, str] = {}
    files: list[tuple[str, bytes]] = []
    for name, value in data.multi_items():
        if name == _NAMELESS:
            continue
        if isinstance(value, UploadFile):
            files.append((name, await value.read()))
        else:
            fields[name] = value
    return DeepStackForm(fields=fields, files=files)


def _field_error(name: str, problem: str) -> MalformedRequestError:
    return MalformedRequestError(f"{name}: {problem}", errors=[FieldProblem("body", name, problem)])
