"""``/docs`` (Swagger UI) and ``/redoc`` with their scripts served from this process.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so on an offline machine, in a
container without egress or behind a strict proxy they render blank. The ``fastapi-offline``
wheel carries the same files (Swagger UI: Apache-2.0, ReDoc: MIT); they are served from its
package folder under ``/docs-assets``. Like ``/openapi.json``, the pages hold no data, so they
load without the API key; Swagger's "Authorize" sends it with the calls made from the page.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_PREFIX = "/docs-assets"
OPEN_PATHS = (DOCS_URL, REDOC_URL, ASSETS_PREFIX, "/openapi.json")
# Nothing from elsewhere, even what the bundles would fetch on their own (ReDoc's Redocly logo
# from its CDN): the browser refuses it instead of waiting for a network that may not exist.
# Both pages start from an inline script and inject styles; ReDoc runs a blob: worker.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
)


def assets_dir() -> Path:
    """The folder of ``swagger-ui-bundle.js``, ``swagger-ui.css``, ``redoc.standalone.js``."""
    return Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI) -> None:
    """Add the two pages and their assets; create ``app`` with ``docs_url=None, redoc_url=None``."""
    openapi_url = app.openapi_url or "/openapi.json"
    app.mount(ASSETS_PREFIX, StaticFiles(directory=assets_dir()), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _local_only(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=f"{app.title} - Swagger UI",
                oauth2_redirect_url=f"{DOCS_URL}/oauth2-redirect",
                swagger_js_url=f"{ASSETS_PREFIX}/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSETS_PREFIX}/swagger-ui.css",
                swagger_favicon_url=f"{ASSETS_PREFIX}/favicon.png",
            )
        )

    @app.get(f"{DOCS_URL}/oauth2-redirect", include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _local_only(
            get_redoc_html(
                openapi_url=openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{ASSETS_PREFIX}/redoc.standalone.js",
                redoc_favicon_url=f"{ASSETS_PREFIX}/favicon.png",
                with_google_fonts=False,
            )
        )


def _local_only(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page
