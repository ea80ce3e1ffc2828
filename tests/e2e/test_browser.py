"""The browser page at ``/`` in real Chromium — Debian's ``/usr/bin/chromium``, headless, driven by
Playwright, no browser download — against the real service on loopback with the default models.

What the page shows is compared with what the JSON API answers for the same image and
parameters. Each tab is photographed at 1280x800 and 360x740 into ``docs/screenshots/`` (the
README shows them), as palette PNGs of at most 300 kB.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import STYLE_MODELS, LiveServer, StartServer, server_starter
from tests.e2e.corpus import MAX_BODY_BYTES
from tests.e2e.test_service import CATS

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=360, height=740)
MAX_SCREENSHOT_BYTES = 300_000
TIMEOUT_MS = 30_000  # two shared CPU cores: inference may queue behind other tests
KEY_STORE = "vision-service.api-key"


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        why = f"{CHROMIUM} is absent: apt-get install chromium (.ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def open_page(chromium: Browser, url: str) -> Iterator[tuple[Page, list[str]]]:
    """The page at ``url``/ in a fresh browser context; yields it with the list of every URL it
    requested. Afterwards: no script error (thrown or logged), and nothing fetched from anywhere
    else."""
    context = chromium.new_context(viewport=DESKTOP, base_url=url)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    requested: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))

    # A module that fails to load is only a console error. The browser also logs each answer
    # of 4xx or 5xx ("Failed to load resource"), which the page shows itself: those may stay.
    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    page.on("console", console)
    page.goto("/")
    try:
        yield page, requested
    finally:
        context.close()
    assert errors == []
    assert [u for u in requested if not u.startswith((f"{url}/", "blob:", "data:"))] == []


@contextmanager
def ready_page(chromium: Browser, url: str) -> Iterator[Page]:
    with open_page(chromium, url) as (page, _):
        # Installed models only: "4 models ready", never "4 of 13" counting unpulled folders.
        status = re.compile(r"^\d+ models? ready( · on .+)?$")
        expect(page.locator("#service-status")).to_have_text(status)
        yield page


@contextmanager
def page_and_client(chromium: Browser, server: LiveServer) -> Iterator[tuple[Page, httpx.Client]]:
    """The page of ``server``, ready, and an API client of the same server."""
    with (
        ready_page(chromium, server.url) as page,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        yield page, client


@pytest.fixture
def page(chromium: Browser, live_server: LiveServer) -> Iterator[Page]:
    with ready_page(chromium, live_server.url) as page:
        yield page


@pytest.fixture
def own_server(start_server: StartServer) -> Iterator[LiveServer]:
    """A server of its own: its gallery (a file per server) holds what this test enrols only."""
    with start_server() as server:
        yield server


def boxes_drawn(page: Page, overlay: str) -> list[list[float]]:
    """``[x1, y1, x2, y2]`` of every box rectangle in an overlay, in image pixels."""
    rects = page.locator(f"{overlay} g.box > rect:first-child")
    corners = []
    for rect in rects.all():
        x, y, w, h = (float(rect.get_attribute(k) or "nan") for k in ("x", "y", "width", "height"))
        corners.append([x, y, x + w, y + h])
    return corners


def box_corners(item: dict[str, Any]) -> list[float]:
    return [item["box"][k] for k in ("x1", "y1", "x2", "y2")]


def assert_overlay_covers_image(page: Page, image: str, overlay: str) -> None:
    """The overlay sits exactly on the displayed picture, whatever size it is shown at."""
    shown = page.locator(image).bounding_box()
    drawn = page.locator(overlay).bounding_box()
    assert shown and drawn and shown["width"] > 50
    for key in ("x", "y", "width", "height"):
        assert drawn[key] == pytest.approx(shown[key], abs=1.0), (key, shown, drawn)


def photograph(
    page: Page,
    name: str,
    scroll_to: str | None = None,
    overlays: Sequence[tuple[str, str]] = (),
    phone_scroll_to: str | None = None,
) -> None:
    """Screenshots of the viewport at desktop and phone size, as small palette PNGs; at each
    size the ``(image, overlay)`` pairs are checked to line up. The phone shot scrolls to
    ``phone_scroll_to`` where given."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        target = (viewport is PHONE and phone_scroll_to) or scroll_to
        if target:
            page.locator(target).evaluate("node => node.scrollIntoView()")
        else:
            page.locator("body").evaluate("() => window.scrollTo(0, 0)")
        for image, overlay in overlays:
            assert_overlay_covers_image(page, image, overlay)
        shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
        assert shot.size == (viewport["width"], viewport["height"])
        path = SCREENSHOTS / f"{name}-{viewport['width']}x{viewport['height']}.png"
        palette = shot.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        palette.save(path, optimize=True)
        assert path.stat().st_size <= MAX_SCREENSHOT_BYTES, (path, path.stat().st_size)
    page.set_viewport_size(DESKTOP)


def upload(page: Page, field: str, *photos: Path) -> None:
    page.set_input_files(field, list(photos))


def settled(page: Page, result: str, state: str = "done") -> None:
    expect(page.locator(result)).to_have_attribute("data-state", state)


def error_next_to(page: Page, field: str) -> Any:
    """The error message of the form field that holds ``field``."""
    return page.locator(f".field:has({field}) > .error")


# ---------------------------------------------------------------- detect


def detect_on_page(page: Page, photo: Path) -> list[list[float]]:
    """Upload ``photo`` in the Detect tab; the boxes drawn once the answer is in."""
    upload(page, "#detect-image", photo)
    settled(page, "#detect-result")
    return boxes_drawn(page, "#detect-overlay")


def detect_by_api(client: httpx.Client, photo: Path, **query: str) -> dict[str, Any]:
    files = {"image": (photo.name, photo.read_bytes(), "image/jpeg")}
    answer: dict[str, Any] = client.post("/detect", params=query, files=files).json()
    return answer


def test_detect_draws_one_box_per_detection_of_the_api(
    page: Page, client: httpx.Client, images_dir: Path
) -> None:
    bus = images_dir / "ul_bus.jpg"
    drawn = detect_on_page(page, bus)
    query = {name: page.input_value(f"#detect-{name}") for name in ("model", "confidence", "iou")}
    answer = detect_by_api(client, bus, **query)
    detections = answer["detections"]

    assert len(drawn) == len(detections) > 0
    for corners, detection in zip(drawn, detections, strict=True):
        assert corners == pytest.approx(box_corners(detection), abs=0.01)
    labels = page.locator("#detect-table tbody tr td:nth-child(2)").all_inner_texts()
    assert [label.strip() for label in labels] == [d["label"] for d in detections]
    assert "bus" in labels and labels.count("person") >= 3
    meta = page.locator("#detect-meta")
    expect(meta).to_contain_text(answer["model"]["provider"])
    expect(meta).to_contain_text(re.compile(r"inference [0-9.]+ · postprocess [0-9.]+ · total"))
    photograph(page, "detect", overlays=[("#detect-img", "#detect-overlay")])


def test_the_confidence_slider_queries_again(
    page: Page, client: httpx.Client, images_dir: Path
) -> None:
    bus = images_dir / "ul_bus.jpg"
    before = len(detect_on_page(page, bus))

    page.locator("#detect-confidence").fill("0.9")
    expect(page.locator("#detect-overlay")).to_have_attribute("data-confidence", "0.9")
    expect(page.locator("#detect-confidence-value")).to_have_text("0.9")
    after = len(boxes_drawn(page, "#detect-overlay"))
    answer = detect_by_api(client, bus, confidence="0.9", iou=page.input_value("#detect-iou"))
    assert 0 < after == len(answer["detections"]) < before

    page.locator("#detect-confidence").press("ArrowLeft")  # keyboard: one step down
    expect(page.locator("#detect-overlay")).to_have_attribute("data-confidence", "0.85")


# ---------------------------------------------------------------- masks, rotated boxes, poses

# Ultralytics' segment, OBB and pose exports (none is in the default set), each dropped into a
# models folder as a user would: <name>/model.onnx, no model.toml.
SHAPE_MODELS = ("yolov8n_seg", "yolov8n_obb", "yolov8n_pose")
# Ultralytics' kpt_skeleton of the 17 COCO keypoints, 1-based as it writes it.
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8]]
COCO_SKELETON += [[7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
VISIBLE = 0.5  # a keypoint scored below this is not drawn, nor its limbs
TRUNCATED = "truncated: more candidates than NMS takes; raise confidence"


@pytest.fixture(scope="module")
def shapes_server(
    oracle_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    models = tmp_path_factory.mktemp("shape-models")
    for name in SHAPE_MODELS:
        onnx = oracle_dir / "exports" / "models" / f"{name}.onnx"
        if not onnx.is_file():
            pytest.skip(f"{onnx} is absent")
        (models / name).mkdir()
        (models / name / "model.onnx").symlink_to(onnx)
    with server_starter(models, tmp_path_factory)() as server:
        yield server


def attributes_drawn(page: Page, selector: str, *names: str) -> list[list[str]]:
    """The attributes ``names`` of every element of ``selector``, in document order."""
    script = "(nodes, names) => nodes.map(n => names.map(name => n.getAttribute(name)))"
    found: list[list[str]] = page.locator(selector).evaluate_all(script, list(names))
    return found


def polygons_drawn(page: Page, selector: str) -> list[list[list[float]]]:
    """The ``[x, y]`` points of every SVG polygon of ``selector``."""
    return [
        [[float(v) for v in pair.split(",")] for pair in points.split()]
        for (points,) in attributes_drawn(page, selector, "points")
    ]


def numbers_drawn(page: Page, selector: str, *names: str) -> list[list[float]]:
    return [[float(v) for v in values] for values in attributes_drawn(page, selector, *names)]


def keypoints_shown(detection: dict[str, Any]) -> tuple[list[list[float]], list[list[float]]]:
    """The ``[x, y]`` of the keypoints to draw, and ``[x1, y1, x2, y2]`` of the limbs."""
    points = detection.get("keypoints") or []
    shown = [len(p) < 3 or p[2] >= VISIBLE for p in points]
    limbs = [(a - 1, b - 1) for a, b in COCO_SKELETON] if len(points) == 17 else []
    return (
        [p[:2] for p, show in zip(points, shown, strict=True) if show],
        [[*points[a][:2], *points[b][:2]] for a, b in limbs if shown[a] and shown[b]],
    )


def test_detect_draws_masks_rotated_boxes_and_skeletons(
    chromium: Browser, shapes_server: LiveServer, oracle_dir: Path
) -> None:
    with page_and_client(chromium, shapes_server) as (page, client):
        shapes_round(page, client, oracle_dir / "exports" / "images" / "fr_two_people.jpg")


def shapes_round(page: Page, client: httpx.Client, photo: Path) -> None:
    """Each shape model on ``photo``: what is drawn is what the API answers for the same query;
    an answer that says ``truncated`` is shown as such."""
    upload(page, "#detect-image", photo)
    for name in SHAPE_MODELS:
        page.select_option("#detect-model", name)
        settled(page, "#detect-result")
        query = {key: page.input_value(f"#detect-{key}") for key in ("model", "confidence", "iou")}
        assert query["model"] == name
        answer = detect_by_api(client, photo, **query)
        detections = answer["detections"]
        assert len(detections) > 0, name
        overlay = "#detect-overlay"
        expect(page.locator(f"{overlay} g.box text")).to_have_count(len(detections))
        masks = [d["mask"]["polygon"] for d in detections if (d.get("mask") or {}).get("polygon")]
        # Drawn as the JSON numbers are written: the same floats, exactly.
        assert polygons_drawn(page, f"{overlay} > g.masks > polygon.mask") == masks
        rotated = [d["rotated_box"]["polygon"] for d in detections if d.get("rotated_box")]
        outlines = f"{overlay} g.box > polygon.rotated:first-child"
        assert polygons_drawn(page, outlines) == rotated
        boxes = [box_corners(d) for d in detections if not d.get("rotated_box")]
        drawn = boxes_drawn(page, overlay)
        assert len(drawn) == len(boxes)
        for corners, box in zip(drawn, boxes, strict=True):
            assert corners == pytest.approx(box, abs=0.01)
        shown = [keypoints_shown(d) for d in detections]
        points = [point for some, _ in shown for point in some]
        limbs = [limb for _, some in shown for limb in some]
        circles = numbers_drawn(page, f"{overlay} g.box > circle.point", "cx", "cy")
        assert circles == points
        lines = numbers_drawn(page, f"{overlay} g.box > line.limb", "x1", "y1", "x2", "y2")
        assert lines == limbs
        shapes = page.locator("#detect-table tbody td:nth-child(5)").all_inner_texts()
        meta = page.locator("#detect-meta").inner_text()
        assert (TRUNCATED in meta) == answer["truncated"]
        if name == "yolov8n_seg":
            assert all(d.get("mask") for d in detections) and masks and set(shapes) == {"mask"}
            fill = page.locator(f"{overlay} polygon.mask").first
            assert fill.evaluate("p => getComputedStyle(p).fillOpacity") == "0.35"
        elif name == "yolov8n_obb":
            assert len(rotated) == len(detections) and boxes == []
            assert all(re.fullmatch(r"rotated -?\d+°", shape) for shape in shapes), shapes
        else:
            assert all(len(d["keypoints"]) == 17 for d in detections) and limbs
            assert set(shapes) == {"17 keypoints"}

    # The service truncates only past 30 000 candidates: the page is given such an answer.
    query["confidence"] = "0.3"
    answer = {**detect_by_api(client, photo, **query), "truncated": True}
    page.route(re.compile(r"/detect\?"), lambda route: route.fulfill(json=answer))
    page.locator("#detect-confidence").fill(query["confidence"])
    expect(page.locator("#detect-overlay")).to_have_attribute("data-confidence", "0.3")
    expect(page.locator("#detect-meta")).to_contain_text(f" px · {TRUNCATED} · ")


# ---------------------------------------------------------------- classify


def test_classify_shows_a_cat_first(page: Page, images_dir: Path) -> None:
    page.get_by_role("tab", name="Classify").click()
    upload(page, "#classify-image", images_dir / "chelsea.jpg")
    settled(page, "#classify-result")

    labels = page.locator("#classify-list .label").all_inner_texts()
    assert len(labels) == 5 and labels[0] in CATS
    assert page.locator("#classify-list .bar").count() == 5
    photograph(page, "classify")


def test_an_image_can_be_dropped_or_pasted(page: Page, images_dir: Path) -> None:
    photo = list((images_dir / "chelsea.jpg").read_bytes())
    make = "bytes => { const t = new DataTransfer(); t.items.add(new File([new Uint8Array(bytes)], 'chelsea.jpg', {type: 'image/jpeg'})); return t; }"
    page.get_by_role("tab", name="Classify").click()
    page.locator(".field:has(#classify-image)").dispatch_event(
        "drop", {"dataTransfer": page.evaluate_handle(make, photo)}
    )
    settled(page, "#classify-result")
    assert page.locator("#classify-list .label").first.inner_text() in CATS

    page.get_by_role("tab", name="Detect").click()
    page.locator("body").evaluate(
        "(body, t) => body.dispatchEvent(new ClipboardEvent('paste', {clipboardData: t, bubbles: true}))",
        page.evaluate_handle(make, photo),
    )
    settled(page, "#detect-result")
    expect(page.locator("#detect-table tbody")).to_contain_text("cat")


# ---------------------------------------------------------------- errors and keyboard


def test_problems_are_shown_next_to_the_image_control(
    page: Page, tmp_path: Path, images_dir: Path
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a picture\n")
    upload(page, "#detect-image", text)
    message = error_next_to(page, "#detect-image")
    expect(message).to_be_visible()
    expect(message).to_have_text(re.compile(r"^Image cannot be decoded: image: not an image"))
    assert boxes_drawn(page, "#detect-overlay") == []

    oversized = tmp_path / "huge.jpg"
    oversized.write_bytes((images_dir / "ul_bus.jpg").read_bytes().ljust(MAX_BODY_BYTES + 1))
    upload(page, "#detect-image", oversized)
    expect(message).to_have_text(re.compile(r"^Request body too large: .*VISION_MAX_BODY_BYTES"))

    upload(page, "#detect-image", images_dir / "ul_bus.jpg")  # a good image clears it
    settled(page, "#detect-result")
    expect(message).to_be_hidden()


def test_the_tabs_work_from_the_keyboard(page: Page) -> None:
    detect_tab = page.get_by_role("tab", name="Detect")
    detect_tab.focus()
    page.keyboard.press("ArrowRight")

    expect(page.get_by_role("tab", name="Classify")).to_be_focused()
    expect(page.get_by_role("tab", name="Classify")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tabpanel", name="Classify")).to_be_visible()
    expect(page.locator("#panel-detect")).to_be_hidden()
    page.keyboard.press("End")
    expect(page.get_by_role("tabpanel", name="Style")).to_be_visible()
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_role("tabpanel", name="Faces")).to_be_visible()
    page.keyboard.press("Home")
    expect(page.get_by_role("tabpanel", name="Detect")).to_be_visible()
    for label in ("Detector", "Image", "Confidence", "NMS IoU"):  # every control is labelled
        expect(page.get_by_role("tabpanel", name="Detect").get_by_label(label)).to_be_visible()


# ---------------------------------------------------------------- faces


def test_verify_says_same_person_or_different(page: Page, images_dir: Path) -> None:
    page.get_by_role("tab", name="Faces").click()
    upload(page, "#verify-image1", images_dir / "fr_obama1.jpg")
    upload(page, "#verify-image2", images_dir / "fr_obama2.jpg")
    settled(page, "#verify-result")

    verdict = page.locator("#verify-verdict")
    expect(verdict).to_have_text(re.compile(r"^Same person: similarity 0\.\d+ ≥ threshold"))
    for n in (1, 2):
        overlay = f"#verify-img{n} + svg"
        assert len(boxes_drawn(page, overlay)) == 1
        assert page.locator(f"{overlay} circle.point").count() == 5
    pairs = [(f"#verify-img{n}", f"#verify-img{n} + svg") for n in (1, 2)]
    photograph(page, "faces-verify", overlays=pairs)

    upload(page, "#verify-image2", images_dir / "fr_biden1.jpg")
    expect(verdict).to_have_text(re.compile(r"^Different people: similarity -?0\.\d+ < threshold"))

    upload(page, "#verify-image2", images_dir / "chelsea.jpg")  # a cat: no face
    expect(error_next_to(page, "#verify-image2")).to_have_text(re.compile(r"image2: no face found"))
    expect(error_next_to(page, "#verify-image1")).to_be_hidden()


def test_enrol_recognise_delete_round_trip(
    chromium: Browser, own_server: LiveServer, images_dir: Path
) -> None:
    with page_and_client(chromium, own_server) as (page, client):
        gallery_round_trip(page, client, images_dir)


def gallery_round_trip(page: Page, client: httpx.Client, images_dir: Path) -> None:
    subject = "Barack Obama"
    page.get_by_role("tab", name="Faces").click()
    settled(page, "#gallery")
    expect(page.locator("#gallery-empty")).to_have_text("No subjects enrolled yet.")
    page.get_by_label("Subject name").fill(subject)
    upload(page, "#enrol-images", images_dir / "fr_obama1.jpg", images_dir / "fr_obama3.jpg")
    page.get_by_role("button", name="Enrol").click()

    entry = page.locator(f'#gallery-list li[data-subject="{subject}"]')
    expect(entry).to_contain_text("2 faces")
    listed = {s["subject"]: s["faces"] for s in client.get("/faces").json()["subjects"]}
    shown_ids = entry.locator("li[data-face-id]").evaluate_all(
        "rows => rows.map(row => row.dataset.faceId)"
    )
    assert sorted(shown_ids) == sorted(face["face_id"] for face in listed[subject])

    upload(page, "#recognize-image", images_dir / "fr_obama_and_biden.jpg")
    settled(page, "#recognize-result")
    labels = page.locator("#recognize-overlay text").all_text_contents()
    assert len([label for label in labels if label.startswith(subject)]) == 1
    others = [label for label in labels if not label.startswith(subject)]
    assert len(others) >= 1 and set(others) == {"unknown"}  # Biden and co., never enrolled
    who = page.locator("#recognize-table tbody td:nth-child(2)").all_inner_texts()
    assert who.count(subject) == 1
    photograph(
        page,
        "faces-gallery",
        scroll_to="#gallery-title",
        overlays=[("#recognize-img", "#recognize-overlay")],
    )

    first_id = shown_ids[0]
    page.get_by_role("button", name=f"Delete face {first_id} of {subject}").click()
    expect(entry).to_contain_text("1 face")
    listed = {s["subject"]: s["faces"] for s in client.get("/faces").json()["subjects"]}
    assert [face["face_id"] for face in listed[subject]] == [i for i in shown_ids if i != first_id]

    page.get_by_role("button", name=f"Delete subject {subject} and all their faces").click()
    expect(entry).to_have_count(0)
    expect(page.locator("#gallery-empty")).to_be_visible()
    assert subject not in {s["subject"] for s in client.get("/faces").json()["subjects"]}


# ---------------------------------------------------------------- the API key


def test_with_an_api_key_the_page_asks_for_it_once(
    chromium: Browser, start_server: StartServer, images_dir: Path
) -> None:
    key = "correct horse battery staple"
    with (
        start_server(VISION_API_KEY=key) as server,
        open_page(chromium, server.url) as (
            page,
            requested,
        ),
    ):
        panel = page.locator("#key-panel")
        expect(panel).to_be_visible()
        expect(page.locator("#key-message")).to_have_text(
            "Missing or wrong API key: this service requires the X-API-Key header"
        )
        expect(page.get_by_label("API key (sent as the X-API-Key header)")).to_be_focused()
        upload(page, "#detect-image", images_dir / "ul_bus.jpg")
        expect(error_next_to(page, "#detect-image")).to_have_text(
            re.compile(r"^Missing or wrong API key: ")
        )

        page.get_by_label("API key (sent as the X-API-Key header)").fill("wrong")
        page.get_by_role("button", name="Use this key").click()
        expect(page.locator("#key-message")).to_contain_text("does not hold a valid key")
        expect(panel).to_be_visible()

        page.get_by_label("API key (sent as the X-API-Key header)").fill(key)
        page.get_by_role("button", name="Use this key").click()
        expect(page.locator("#service-status")).to_contain_text("models ready")
        expect(panel).to_be_hidden()
        assert len(detect_on_page(page, images_dir / "ul_bus.jpg")) > 0

        page.reload()  # kept for the tab: no second question
        expect(page.locator("#service-status")).to_contain_text("models ready")
        expect(panel).to_be_hidden()
        stored = page.locator("body").evaluate(f"() => sessionStorage.getItem('{KEY_STORE}')")
        assert stored == key
        assert not [url for url in requested if "horse" in url or "wrong" in url]


# ---------------------------------------------------------------- style


@pytest.fixture(scope="module")
def style_server(start_style_server: StartServer) -> Iterator[LiveServer]:
    """A server that also has the style models, which the default set leaves out."""
    with start_style_server() as server:
        yield server


@pytest.fixture
def style_page(chromium: Browser, style_server: LiveServer) -> Iterator[Page]:
    """The Style tab, its 26 built-in styles shown."""
    with ready_page(chromium, style_server.url) as page:
        page.get_by_role("tab", name="Style").click()
        expect(page.locator("#style-tiles input")).to_have_count(26)
        yield page


def stylised_size(page: Page) -> tuple[int, int]:
    """The natural size of the stylised picture shown once the answer is in."""
    settled(page, "#style-result")
    shown = page.locator("#style-output-img")
    expect(shown).to_be_visible()
    expect(shown).to_have_attribute("src", re.compile(r"^blob:"))
    width, height = shown.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    return int(width), int(height)


def test_the_style_tab_says_when_the_style_models_are_not_pulled(page: Page) -> None:
    page.get_by_role("tab", name="Style").click()
    notice = page.locator("#style-missing")
    expect(notice).to_contain_text("Built-in styles are unavailable (multistyle26: not pulled)")
    expect(notice).to_contain_text("Style pictures are unavailable (arbitrary_predict: not pulled")
    expect(notice).to_contain_text(f"python -m service pull {' '.join(STYLE_MODELS)}")
    for source in ("one built-in style", "a mix of built-in styles", "a style picture"):
        expect(page.get_by_label(source)).to_be_disabled()
    expect(page.locator("#style-tiles input")).to_have_count(0)


def test_stylize_with_a_built_in_style_and_a_mix(style_page: Page, images_dir: Path) -> None:
    page = style_page
    chelsea = images_dir / "chelsea.jpg"
    width, height = Image.open(chelsea).size
    expect(page.locator("#style-missing")).to_be_hidden()
    previews = page.locator("#style-tiles img").evaluate_all("imgs => imgs.map(i => i.src)")
    assert len(previews) == 26
    assert all(src.startswith("data:image/jpeg;base64,") for src in previews)

    page.get_by_label("Style 19", exact=True).check()
    expect(page.locator("#style-style")).to_have_value("19")
    upload(page, "#style-image", chelsea)
    assert stylised_size(page) == (width, height)
    meta = page.locator("#style-meta")
    shown = f"{width}\N{MULTIPLICATION SIGN}{height} px"
    expect(meta).to_contain_text(f"{shown} image/jpeg in style 19, strength 1 · ")
    stages = r"multistyle26 on \w+ · decode [0-9.]+ · preprocess [0-9.]+ · inference [0-9.]+"
    expect(meta).to_contain_text(re.compile(stages + r" · postprocess [0-9.]+ · encode [0-9.]+"))

    page.get_by_label("a mix of built-in styles").check()
    page.get_by_label("Style 7", exact=True).check()  # a checkbox now: 19 stays
    expect(page.locator("#style-style")).to_have_value("7:0.5,19:0.5")
    expect(meta).to_contain_text("in style 7:0.5,19:0.5, strength 1 · ")
    assert stylised_size(page) == (width, height)

    page.locator("#style-strength").press("ArrowLeft")  # keyboard: one step down
    expect(page.locator("#style-strength-value")).to_have_text("0.95")
    page.get_by_label("Answer as").select_option("png")
    expect(meta).to_contain_text(f"{shown} image/png in style 7:0.5,19:0.5, strength 0.95")
    photograph(page, "style", scroll_to="nav.tabs", phone_scroll_to="#style-builtin")


def test_a_style_picture_and_readable_problems(
    style_page: Page, images_dir: Path, tmp_path: Path
) -> None:
    page = style_page
    chelsea = images_dir / "chelsea.jpg"
    width, height = Image.open(chelsea).size
    page.get_by_label("a style picture").check()
    expect(page.locator("#style-builtin")).to_be_hidden()
    upload(page, "#style-image", chelsea)  # no style picture yet: nothing is asked
    upload(page, "#style-picture", images_dir / "coffee.jpg")
    assert stylised_size(page) == (width, height)
    meta = page.locator("#style-meta")
    expect(meta).to_contain_text("in the style of coffee.jpg")
    expect(meta).to_contain_text("arbitrary_transform on ")

    text = tmp_path / "notes.txt"
    text.write_text("not a picture\n")
    upload(page, "#style-picture", text)
    expect(error_next_to(page, "#style-picture")).to_have_text(
        re.compile(r"^Image cannot be decoded: style_image: not an image")
    )
    expect(error_next_to(page, "#style-image")).to_be_hidden()
    expect(page.locator("#style-output-img")).to_be_hidden()

    page.get_by_label("one built-in style").check()
    style = page.get_by_label("Style: an index, or a mix")
    style.fill("26")
    style.press("Tab")
    expect(error_next_to(page, "#style-style")).to_have_text(
        re.compile(r"^Invalid parameter: style: style 26 is outside 0\.\.25")
    )
    style.fill("3")
    max_side = page.get_by_label("Longest side, px")
    max_side.fill("99999")
    max_side.press("Tab")
    expect(error_next_to(page, "#style-max-side")).to_have_text(
        re.compile(r"^Invalid parameter: max_side: 99999 is over this service's limit of \d+")
    )
    expect(error_next_to(page, "#style-style")).to_be_hidden()
    max_side.fill("300")
    max_side.press("Tab")
    assert max(stylised_size(page)) == 300
    expect(error_next_to(page, "#style-max-side")).to_be_hidden()
