"""The browser page: ``GET /`` serves ``service/static/index.html`` and ``/ui/*`` its scripts (ES
modules, ``app.js`` the entry; served with a JavaScript type, as modules need) and style sheet.
Plain files, no build step, nothing loaded from elsewhere (the Content-Security-Policy says so),
and no API key needed to load them: the page asks for the key itself.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
ASSETS_PREFIX = "/ui"
# Everything from this origin only; blob: for the photos the user picks.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def install_page(app: FastAPI) -> None:
    """Add ``GET /`` and the ``/ui`` assets to ``app``, outside the OpenAPI schema."""

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(
            STATIC_DIR / "index.html",
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
            },
        )

    app.mount(ASSETS_PREFIX, StaticFiles(directory=STATIC_DIR), name="ui")
