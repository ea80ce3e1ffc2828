"""The JSON/base64 example of docs/api.md, run as written (bash, base64, curl) against the
real service: a photo's base64 is longer than one command-line argument may be, so the
example must pipe it (``curl -d "$(base64 …)"`` fails with "Argument list too long")."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import LiveServer

EXAMPLE = re.compile(r"<!-- base64-example -->\n```\n\$ (.+?)\n```\n<!-- /base64-example -->", re.S)


def test_the_base64_example_runs_and_finds_the_bus(
    live_server: LiveServer, images_dir: Path
) -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl is needed to run the documented example (apt-get install curl)")
    found = EXAMPLE.search((REPO_ROOT / "docs" / "api.md").read_text())
    assert found, "docs/api.md lost its marked base64 example"
    command = found.group(1).replace("http://127.0.0.1:8000", live_server.url)
    command = command.replace("../shared/images", str(images_dir))
    ran = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)

    assert ran.returncode == 0, ran.stderr
    answer = json.loads(ran.stdout)
    assert "bus" in [d["label"] for d in answer["detections"]]
