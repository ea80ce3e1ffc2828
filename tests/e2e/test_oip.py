"""The Open Inference Protocol end to end: NVIDIA's tritonclient (HTTP and gRPC) against a
real ``python -m service serve`` with an API key, and the exact calls Ultralytics'
``TritonRemoteModel`` makes for ``YOLO("http://host:port/model")``, replayed without
Ultralytics on one of its own exports (``shared/oracle``)."""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from tritonclient.utils import InferenceServerException

from tests.e2e.conftest import LiveServer, free_port, server_starter

KEY = "e2e-oip-key"


def keyed() -> dict[str, str]:
    """The key as both clients send it (gRPC metadata keys are lower-case; HTTP ignores
    case). A new dict each call: tritonclient's HTTP ``infer`` adds its own headers to it."""
    return {"x-api-key": KEY}


ULTRALYTICS_EXPORT = "yolo11n_640"  # self-contained ONNX with Ultralytics' metadata


@dataclass(frozen=True)
class OipServer:
    server: LiveServer
    grpc_url: str

    @property
    def http_url(self) -> str:
        return self.server.url.removeprefix("http://")

    def model_file(self, name: str) -> Path:
        return self.server.models_dir / name / "model.onnx"


@pytest.fixture(scope="module")
def oip(
    e2e_models_dir: Path, oracle_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OipServer]:
    """yolox_nano (pulled) and an Ultralytics export, keyed, with gRPC on its own port."""
    models = tmp_path_factory.mktemp("oip-models")
    shutil.copytree(e2e_models_dir / "yolox_nano", models / "yolox_nano")
    (models / ULTRALYTICS_EXPORT).mkdir()
    shutil.copy(
        oracle_dir / "models" / f"{ULTRALYTICS_EXPORT}.onnx",
        models / ULTRALYTICS_EXPORT / "model.onnx",
    )
    grpc_port = free_port()
    start = server_starter(models, tmp_path_factory)
    with start(VISION_API_KEY=KEY, VISION_GRPC_PORT=str(grpc_port)) as server:
        yield OipServer(server, f"127.0.0.1:{grpc_port}")


def in_process(model: Path, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """onnxruntime alone, in this process, on the same file and input."""
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return session.run(None, inputs)


def yolox_input() -> np.ndarray:
    return np.random.default_rng(18).random((1, 3, 416, 416), dtype=np.float32)


def connect(oip: OipServer, transport: str) -> Any:
    """tritonclient's HTTP or gRPC client for the server."""
    if transport == "http":
        return triton_http.InferenceServerClient(oip.http_url)
    return triton_grpc.InferenceServerClient(oip.grpc_url)


@pytest.fixture(params=["http", "grpc"])
def client(request: pytest.FixtureRequest, oip: OipServer) -> Iterator[Any]:
    with connect(oip, request.param) as triton_client:
        yield triton_client


def module_of(client: Any) -> ModuleType:
    return triton_http if isinstance(client, triton_http.InferenceServerClient) else triton_grpc


def test_live_ready_and_metadata(client: Any) -> None:
    as_json = {} if module_of(client) is triton_http else {"as_json": True}

    assert client.is_server_live()  # no key: probes are open
    assert client.is_server_ready()
    assert client.is_model_ready("yolox_nano", headers=keyed())
    assert not client.is_model_ready("no_such_model", headers=keyed())
    server = client.get_server_metadata(headers=keyed(), **as_json)
    assert server["name"] == "vision-service"
    assert "binary_tensor_data" in server["extensions"]
    model = client.get_model_metadata("yolox_nano", headers=keyed(), **as_json)
    assert model["platform"] == "onnxruntime_onnx"
    assert [(t["name"], t["datatype"], [int(d) for d in t["shape"]]) for t in model["inputs"]] == [
        ("images", "FP32", [1, 3, 416, 416])
    ]
    assert [(t["name"], [int(d) for d in t["shape"]]) for t in model["outputs"]] == [
        ("output", [1, 3549, 85])
    ]


def test_without_the_key_only_the_probes_answer(client: Any) -> None:
    with pytest.raises(InferenceServerException) as refused:
        client.get_model_metadata("yolox_nano")

    assert refused.value.status() in ("401", "StatusCode.UNAUTHENTICATED")
    assert "X-API-Key".lower() in refused.value.message().lower()


@pytest.mark.parametrize(
    ("transport", "binary"),
    [("http", True), ("http", False), ("grpc", True)],
    ids=["http-binary", "http-json", "grpc"],
)
def test_infer_on_yolox_nano_equals_onnxruntime_in_process_bit_for_bit(
    oip: OipServer, transport: str, binary: bool
) -> None:
    """tritonclient[grpc] always sends raw bytes; JSON tensors are HTTP's."""
    x = yolox_input()
    with connect(oip, transport) as client:
        if transport == "http":
            given = triton_http.InferInput("images", list(x.shape), "FP32")
            given.set_data_from_numpy(x, binary_data=binary)
            wanted = [triton_http.InferRequestedOutput("output", binary_data=binary)]
        else:
            given = triton_grpc.InferInput("images", list(x.shape), "FP32")
            given.set_data_from_numpy(x)
            wanted = [triton_grpc.InferRequestedOutput("output")]
        result = client.infer("yolox_nano", [given], outputs=wanted, headers=keyed())

    (expected,) = in_process(oip.model_file("yolox_nano"), {"images": x})
    answer = result.as_numpy("output")
    assert answer.dtype == np.float32 and answer.shape == (1, 3549, 85)
    assert answer.tobytes() == expected.tobytes()


@pytest.mark.parametrize(
    ("shape", "datatype", "message"),
    [
        ([1, 3, 320, 320], "FP32", "has shape [1, 3, 320, 320]; the model takes [1, 3, 416, 416]"),
        ([1, 3, 416, 416], "FP16", "is FP16; the model takes FP32"),
    ],
)
def test_a_wrong_shape_or_datatype_is_the_protocols_400(
    client: Any, shape: list[int], datatype: str, message: str
) -> None:
    triton = module_of(client)
    given = triton.InferInput("images", shape, datatype)
    given.set_data_from_numpy(np.zeros(shape, np.float16 if datatype == "FP16" else np.float32))

    with pytest.raises(InferenceServerException) as refused:
        client.infer("yolox_nano", [given], headers=keyed())

    assert refused.value.status() in ("400", "StatusCode.INVALID_ARGUMENT")
    assert message in refused.value.message()


def test_ultralytics_triton_remote_model_calls_replayed(
    oip: OipServer, client: Any, oracle_dir: Path
) -> None:
    """What ``ultralytics/utils/triton.py`` (8.4) does, step by step, with its client."""
    triton = module_of(client)
    if triton is triton_http:
        config = client.get_model_config(ULTRALYTICS_EXPORT, headers=keyed())
    else:
        config = client.get_model_config(ULTRALYTICS_EXPORT, headers=keyed(), as_json=True)[
            "config"
        ]
    config["output"] = sorted(config["output"], key=lambda x: x.get("name"))
    type_map = {"TYPE_FP32": np.float32, "TYPE_FP16": np.float16, "TYPE_UINT8": np.uint8}
    input_formats = [x["data_type"] for x in config["input"]]
    np_input_formats = [type_map[x] for x in input_formats]
    input_names = [x["name"] for x in config["input"]]
    output_names = [x["name"] for x in config["output"]]
    metadata = ast.literal_eval(
        config.get("parameters", {}).get("metadata", {}).get("string_value", "None")
    )

    # What its backend then reads (BaseBackend.apply_metadata): the file's own metadata.
    assert int(metadata["stride"]) == 32
    assert metadata["task"] == "detect"
    assert ast.literal_eval(metadata["imgsz"]) == [640, 640]
    assert len(ast.literal_eval(metadata["names"])) == 80
    assert (input_names, output_names) == (["images"], ["output0"])

    letterboxed = np.load(oracle_dir / "inputs" / "bus__640x640.npz")["input_uint8"]
    x = (letterboxed[None].astype(np.float32) / np.float32(255)).astype(np_input_formats[0])
    given = triton.InferInput(input_names[0], [*x.shape], input_formats[0].replace("TYPE_", ""))
    given.set_data_from_numpy(x)
    outputs = [triton.InferRequestedOutput(name) for name in output_names]
    result = client.infer(
        model_name=ULTRALYTICS_EXPORT, inputs=[given], outputs=outputs, headers=keyed()
    )
    answers = [result.as_numpy(name).astype(x.dtype) for name in output_names]

    (expected,) = in_process(oip.model_file(ULTRALYTICS_EXPORT), {"images": x})
    assert answers[0].shape == (1, 84, 8400)
    assert answers[0].tobytes() == expected.tobytes()
