"""Request bodies byte for byte as the DeepStack clients build them, written out by hand.

Frigate's ``deepstack`` detector, deepstack-python (Home Assistant's integrations) and
deepstack-sdk all post with ``requests``: text fields first in the order of their ``data``
dict, then the files; a file given as bare bytes gets ``filename`` = its field name and no
Content-Type of its own. Blue Iris (as Blue Iris-compatible servers read it) sends
``min_confidence`` first, then ``image`` as a named JPEG file. Node-RED's
node-red-contrib-deepstack builds its body with the ``form-data`` package in the order it
appends: the image first, then ``min_confidence``, then ``api_key``: after the image.
"""

from __future__ import annotations

from dataclasses import dataclass

BOUNDARY = "9a1c4f0e8b7d4e2f8c6b5a4d3e2f1a0b"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
URLENCODED = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Part:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    def encode(self) -> bytes:
        disposition = f'Content-Disposition: form-data; name="{self.name}"'
        if self.filename is not None:
            disposition += f'; filename="{self.filename}"'
        head = disposition + "\r\n"
        if self.content_type is not None:
            head += f"Content-Type: {self.content_type}\r\n"
        return f"--{BOUNDARY}\r\n{head}\r\n".encode() + self.data + b"\r\n"


def text(name: str, value: str) -> Part:
    return Part(name, value.encode())


def requests_file(name: str, data: bytes) -> Part:
    """What ``requests`` makes of ``files={name: data}``: filename = name, no type."""
    return Part(name, data, filename=name)


def body(*parts: Part) -> bytes:
    return b"".join(part.encode() for part in parts) + f"--{BOUNDARY}--\r\n".encode()


def body_with_boundary(encoded: bytes, boundary: str) -> bytes:
    """``encoded`` as it would be with another boundary (requests picks a random one)."""
    return encoded.replace(BOUNDARY.encode(), boundary.encode())


def frigate(jpeg: bytes, api_key: str = "") -> bytes:
    """frigate/detectors/plugins/deepstack.py: data={"api_key": key}, files={"image": jpeg}."""
    return body(text("api_key", api_key), requests_file("image", jpeg))


def deepstack_python(
    image: bytes, api_key: str = "", min_confidence: float = 0.45, **data: str
) -> bytes:
    """deepstack-python 0.9 ``process_image``: the call's data (``userid`` on register), then
    api_key and min_confidence, then files={"image": bytes}."""
    fields = [text(k, v) for k, v in data.items()]
    fields += [text("api_key", api_key), text("min_confidence", str(min_confidence))]
    return body(*fields, requests_file("image", image))


def deepstack_sdk_register(userid: str, images: dict[str, bytes]) -> bytes:
    """deepstack-sdk 0.2.1 ``registerFace``: api_key None is left out by requests; one file
    part per image named ``image<uuid4>``."""
    files = [requests_file(name, data) for name, data in images.items()]
    return body(text("userid", userid), *files)


def blue_iris(
    jpeg: bytes, min_confidence: str = "0.4", filename: str = "Cam1.20240105_083000.jpg"
) -> bytes:
    return body(
        text("min_confidence", min_confidence),
        Part("image", jpeg, filename=filename, content_type="image/jpeg"),
    )


def node_red(jpeg: bytes, api_key: str, min_confidence: str = "0.45") -> bytes:
    """node-red-contrib-deepstack ``objectDetection``: form.append('image', image, {filename:
    'image.jpg'}), then min_confidence, then api_key when one is configured."""
    return body(
        Part("image", jpeg, filename="image.jpg", content_type="image/jpeg"),
        text("min_confidence", min_confidence),
        text("api_key", api_key),
    )
