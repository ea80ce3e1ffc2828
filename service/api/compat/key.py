"""The API key of the DeepStack routes, checked once for all of them by their router.

DeepStack clients send the key as an ``api_key`` form field (Frigate, deepstack-python,
deepstack-sdk, Node-RED's node-red-contrib-deepstack) or, with this service, in the
``X-API-Key`` header. The limits middleware cannot read a form, so it leaves ``/v1/`` to
``require_key``, a dependency of the compat router: a route added there cannot be left open,
whatever parameters it takes.

Without the header, refusing costs as little as the body allows: a body that is not a form
cannot hold the field and is refused unread; a wrong or empty ``api_key`` field stops the
upload the moment that field has arrived. A multipart body without any ``api_key`` field is
read to its end (within the body limit) before the 401, because the field may come after the
image: DeepStack's own server reads the whole form for it, and node-red-contrib-deepstack
appends it after the image and ``min_confidence``.
"""

from __future__ import annotations

from starlette.requests import Request

from service.api.compat.form import FORM_TYPES, form_media_type, parse_form
from service.api.context import Context
from service.api.errors import UnauthorizedError
from service.api.limits import API_KEY_HEADER, check_key

API_KEY_FIELD = "api_key"
_MISSING = (
    f"this service requires an API key: the {API_KEY_HEADER} header or the "
    f"{API_KEY_FIELD} form field"
)


async def require_key(request: Request, context: Context) -> None:
    """401 unless the header, or else every ``api_key`` form field, holds the key."""
    configured = context.settings.api_key
    if not configured:
        return
    key = configured.get_secret_value().encode()
    header = request.headers.get(API_KEY_HEADER)
    if header is not None:
        check_key(header.encode("latin-1"), key, f"the {API_KEY_HEADER} header")
        return
    if form_media_type(request) not in FORM_TYPES:
        raise UnauthorizedError(_MISSING)  # no form field can carry it: refused unread
    field = _KeyField(key)
    await parse_form(request, context, on_field=field.check)
    if not field.seen:
        raise UnauthorizedError(_MISSING)


class _KeyField:
    """Checks each ``api_key`` field as it arrives and remembers whether one was sent."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.seen = False

    def check(self, name: str, value: str) -> None:
        if name != API_KEY_FIELD:
            return
        if not value:  # Frigate's default when no key is configured there
            raise UnauthorizedError(_MISSING)
        check_key(value.encode(), self._key, f"the {API_KEY_FIELD} form field")
        self.seen = True
