"""/docs and /redoc render in the offline headless Chromium with every request to elsewhere
refused, Swagger's "Authorize" offers the key, and a keyed server is scraped the way
Prometheus scrapes (real server on loopback)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.e2e.conftest import LiveServer
from tests.e2e.test_browser import DESKTOP, TIMEOUT_MS, chromium
from tests.e2e.tiny_server import tiny_models, tiny_server
from tests.unit.service.api.test_docs_and_keys import KEY, PROMETHEUS_HEADERS

__all__ = ["chromium"]  # the module-scoped browser fixture, shared with the page's tests


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    work = tmp_path_factory.mktemp("docs-server")
    models = tiny_models(work / "models", "colours")
    with tiny_server(models, work, {"VISION_API_KEY": KEY}) as server:
        yield server


@pytest.fixture
def offline_page(chromium: Browser, keyed_server: LiveServer) -> Iterator[tuple[Page, list[str]]]:
    """A page that can reach the server only; every other request is aborted and listed."""
    context = chromium.new_context(viewport=DESKTOP, base_url=keyed_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    elsewhere: list[str] = []

    def only_loopback(route: Route) -> None:
        if route.request.url.startswith(f"{keyed_server.url}/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    try:
        yield context.new_page(), elsewhere
    finally:
        context.close()


def test_swagger_ui_renders_offline_and_offers_the_key(
    offline_page: tuple[Page, list[str]],
) -> None:
    page, elsewhere = offline_page
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Vision service")
    expect(page.locator(".opblock-summary-path", has_text="/detect/image")).to_be_visible()
    page.get_by_role("button", name="Authorize").first.click()
    expect(page.locator(".auth-container").first).to_contain_text("X-API-Key")
    assert elsewhere == []


def test_redoc_renders_offline(offline_page: tuple[Page, list[str]]) -> None:
    page, elsewhere = offline_page
    page.goto("/redoc")
    expect(page.locator("h1").first).to_contain_text("Vision service")
    assert elsewhere == []


def test_prometheus_scrapes_with_its_bearer_token(keyed_server: LiveServer) -> None:
    scraped = httpx.get(f"{keyed_server.url}/metrics", headers=PROMETHEUS_HEADERS)

    assert scraped.status_code == 200, scraped.text
    assert "# TYPE vision_requests_total counter" in scraped.text
    assert "_created" not in scraped.text
    assert httpx.get(f"{keyed_server.url}/metrics").status_code == 401


def test_the_pages_need_no_key_but_the_api_does(keyed_server: LiveServer) -> None:
    for path in ("/docs", "/redoc", "/openapi.json", "/docs-assets/swagger-ui.css"):
        assert httpx.get(f"{keyed_server.url}{path}").status_code == 200, path
    assert httpx.get(f"{keyed_server.url}/models").status_code == 401
