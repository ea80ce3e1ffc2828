"""Run by tests/e2e/test_generated_client.py inside a throwaway venv, with the client that
openapi-python-client generated from the live /openapi.json on the path as
``vision_service_client``: typed calls, the key passed through the client's security scheme.

Argument: base URL, API key, a PNG file. Prints one JSON line of what came back.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vision_service_client import AuthenticatedClient
from vision_service_client.api.deep_stack_code_project_ai import detection_v1_vision_detection_post
from vision_service_client.api.detection import detect_detect_post, detect_image_detect_image_post
from vision_service_client.api.face_gallery import list_faces_faces_get
from vision_service_client.models import (
    CompatDetectionAnswer,
    DeepStackForm,
    DetectDetectPostFilesBody,
    DetectImageDetectImagePostFilesBody,
    DetectResponse,
    GalleryResponse,
)
from vision_service_client.types import File

url, key, png = sys.argv[1], sys.argv[2], Path(sys.argv[3])


def picture() -> File:
    return File(payload=png.open("rb"), file_name=png.name, mime_type="image/png")


# The APIKeyHeader scheme (X-API-Key): the one every keyed family takes, DeepStack's too.
client = AuthenticatedClient(base_url=url, token=key, prefix="", auth_header_name="X-API-Key")
found = detect_detect_post.sync(
    client=client, body=DetectDetectPostFilesBody(image=picture()), conf=0.5
)
assert isinstance(found, DetectResponse), found
drawn = detect_image_detect_image_post.sync(
    client=client, body=DetectImageDetectImagePostFilesBody(image=picture())
)
assert isinstance(drawn, File), drawn
gallery = list_faces_faces_get.sync(client=client)
assert isinstance(gallery, GalleryResponse), gallery
deepstack = detection_v1_vision_detection_post.sync(
    client=client, body=DeepStackForm(image=picture())
)
assert isinstance(deepstack, CompatDetectionAnswer), deepstack
keyless = AuthenticatedClient(base_url=url, token="wrong", prefix="", auth_header_name="X-API-Key")
refused = detect_detect_post.sync_detailed(
    client=keyless, body=DetectDetectPostFilesBody(image=picture())
)
print(
    json.dumps(
        {
            "labels": [d.label for d in found.detections],
            "model": found.model.name,
            "jpeg": drawn.payload.read()[:3].hex(),
            "subjects": len(gallery.subjects),
            "deepstack": [p.label for p in deepstack.predictions],
            "refused": int(refused.status_code),
        }
    )
)
