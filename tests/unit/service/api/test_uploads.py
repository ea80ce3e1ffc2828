"""How images arrive: 415 for other media types, 400 for malformed bodies, 422 for bad images."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.api.errors import MalformedRequestError
from service.api.uploads import decode_base64
from tests.unit.service.api.fakes import FakeDetector, encode

PROBLEM = "application/problem+json"


def assert_problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.mark.parametrize(
    "content_type", ["text/plain", "image/jpeg", "application/x-www-form-urlencoded", None]
)
def test_other_media_types_are_415_saying_what_is_accepted(
    client: TestClient, detector: FakeDetector, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/detect", content=encode(), headers=headers)

    body = assert_problem(response, 415)
    assert "multipart/form-data" in str(body["detail"])
    assert "application/json" in str(body["detail"])
    assert detector.calls == []


def test_wrong_field_name_is_400_naming_the_expected_and_present_fields(
    client: TestClient,
) -> None:
    response = client.post("/detect", files={"file": ("a.png", encode())})

    body = assert_problem(response, 400)
    assert "'image'" in str(body["detail"])
    assert "'file'" in str(body["detail"])
    errors = body["errors"]
    assert isinstance(errors, list)
    assert errors == [{"in": "body", "name": "image", "detail": errors[0]["detail"]}]


def test_image_sent_as_a_text_field_is_400(client: TestClient) -> None:
    response = client.post("/detect", data={"image": "not a file"}, files={"x": ("x", b"")})

    body = assert_problem(response, 400)
    assert "file part" in str(body["detail"])


def test_two_image_parts_are_400(client: TestClient) -> None:
    files = [("image", ("a.png", encode())), ("image", ("b.png", encode()))]
    response = client.post("/detect", files=files)

    assert "2 times" in str(assert_problem(response, 400)["detail"])


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--x\r\nnonsense"),  # no boundary parameter
        ("multipart/form-data; boundary=abc", b"garbage without any boundary"),
        ("application/json", b"{not json"),
        ("application/json", b"\xff\xfe\x00"),
        ("application/json", b'["image"]'),
        ("application/json", b'{"picture": "aGVsbG8="}'),
        ("application/json", b'{"image": 12}'),
        ("application/json", b'{"image": "***not base64***"}'),
        ("application/json", b'{"image": "data:image/png,plain-text-payload"}'),
        ("application/json", b""),
    ],
)
def test_malformed_bodies_are_400(client: TestClient, content_type: str, body: bytes) -> None:
    response = client.post("/detect", content=body, headers={"content-type": content_type})

    assert_problem(response, 400)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is text",
        b"<html><body>hi</body></html>",
        encode(fmt="PNG")[:60],
        encode(fmt="JPEG")[:100],
        bytes(range(256)) * 8,
    ],
    ids=["empty", "text", "html", "truncated-png", "truncated-jpeg", "random"],
)
def test_undecodable_images_are_422(
    client: TestClient, detector: FakeDetector, data: bytes
) -> None:
    response = client.post("/detect", files={"image": ("x.jpg", data)})

    body = assert_problem(response, 422)
    assert str(body["detail"]).startswith("image")
    assert detector.calls == []


def test_too_many_pixels_is_422(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_pixels=1000)
    response = client.post("/detect", files={"image": ("big.png", encode(40, 30))})

    body = assert_problem(response, 422)
    assert "1200" in str(body["detail"])


@pytest.mark.parametrize(
    ("fmt", "mode"), [("PNG", "RGBA"), ("PNG", "P"), ("GIF", "P"), ("BMP", "L")]
)
def test_odd_but_valid_images_are_answered(client: TestClient, fmt: str, mode: str) -> None:
    buffer = io.BytesIO()
    Image.new(mode, (13, 7)).save(buffer, format=fmt)
    response = client.post("/detect", files={"image": ("odd", buffer.getvalue())})

    assert response.status_code == 200
    assert response.json()["image"] == {"width": 13, "height": 7}


class TestDecodeBase64:
    PAYLOAD = bytes(range(250))  # contains the bytes that differ between the two alphabets

    def test_standard_urlsafe_unpadded_and_wrapped_all_decode(self) -> None:
        standard = base64.b64encode(self.PAYLOAD).decode()
        urlsafe = base64.urlsafe_b64encode(self.PAYLOAD).decode()
        assert "+" in standard and "-" in urlsafe
        wrapped = "\n".join(standard[i : i + 76] for i in range(0, len(standard), 76))
        for text in (standard, urlsafe, standard.rstrip("="), urlsafe.rstrip("="), wrapped):
            assert decode_base64(text, "image") == self.PAYLOAD

    def test_data_url_prefix_is_stripped(self) -> None:
        text = "data:image/png;charset=x;base64," + base64.b64encode(self.PAYLOAD).decode()
        assert decode_base64(text, "image") == self.PAYLOAD

    @pytest.mark.parametrize("text", ["abc$", "a", "data:image/png,abcd"])
    def test_invalid_is_refused_naming_the_field(self, text: str) -> None:
        with pytest.raises(MalformedRequestError) as caught:
            decode_base64(text, "image1")
        assert caught.value.errors[0].name == "image1"
