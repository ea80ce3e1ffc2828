"""`detection` must stay installable and importable alone: numpy and the standard library."""

import subprocess
import sys

FORBIDDEN = ("onnxruntime", "fastapi", "PIL", "pydantic", "starlette", "uvicorn", "service", "onnx")


def test_import_detection_loads_no_web_or_runtime_module() -> None:
    code = (
        "import sys, detection, detection.anchors, detection.layouts, detection.decoders\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
