"""The ``/v2`` routes over real sessions of tiny graphs: metadata, config, inference with JSON
and binary tensors, and every failure as the protocol's ``{"error": ...}``, never a 5xx."""

from __future__ import annotations

import ast
import gzip
import json
from collections.abc import Callable

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.service.api.fakes import FakeRegistry
from tests.unit.service.api.oip.conftest import ECHO_TYPES, PAIR_METADATA

HEADER_LENGTH = "Inference-Header-Content-Length"


def binary_body(
    inputs: dict[str, tuple[np.ndarray, str]], outputs: list[str]
) -> tuple[bytes, dict[str, str]]:
    """What tritonclient sends for binary inputs and binary outputs."""
    header = {
        "inputs": [
            {
                "name": name,
                "shape": list(a.shape),
                "datatype": dt,
                "parameters": {"binary_data_size": a.nbytes},
            }
            for name, (a, dt) in inputs.items()
        ],
        "outputs": [{"name": name, "parameters": {"binary_data": True}} for name in outputs],
    }
    text = json.dumps(header).encode()
    return text + b"".join(a.tobytes() for a, _ in inputs.values()), {HEADER_LENGTH: str(len(text))}


def binary_outputs(response) -> dict[str, np.ndarray]:
    """The outputs of a binary answer, as tritonclient reads them."""
    length = int(response.headers[HEADER_LENGTH])
    header = json.loads(response.content[:length])
    arrays, offset = {}, length
    dtypes = {
        "FP32": np.float32,
        "FP16": np.float16,
        "UINT8": np.uint8,
        "INT64": np.int64,
        "BOOL": np.bool_,
    }
    for output in header["outputs"]:
        size = output["parameters"]["binary_data_size"]
        raw = response.content[offset : offset + size]
        arrays[output["name"]] = np.frombuffer(raw, dtypes[output["datatype"]]).reshape(
            output["shape"]
        )
        offset += size
    assert offset == len(response.content)
    return arrays


def test_probes_and_server_metadata(client: TestClient) -> None:
    live = client.get("/v2/health/live")
    ready = client.get("/v2/health/ready")
    server = client.get("/v2")

    assert (live.status_code, live.content) == (200, b"")
    assert (ready.status_code, ready.content) == (200, b"")
    assert server.json() == {
        "name": "vision-service",
        "version": server.json()["version"],
        "extensions": ["binary_tensor_data", "model_configuration"],
    }


def test_not_ready_is_the_protocols_400_with_an_empty_body(
    client: TestClient, registry: FakeRegistry
) -> None:
    registry.statuses["pair"] = "loading"

    assert (
        client.get("/v2/health/ready").status_code,
        client.get("/v2/health/ready").content,
    ) == (400, b"")
    assert client.get("/v2/models/pair/ready").status_code == 400
    assert client.get("/v2/models/echo_fp32/ready").status_code == 200
    infer = client.post("/v2/models/pair/infer", json={"inputs": []})
    assert infer.status_code == 503
    assert infer.headers["retry-after"] == "5"
    assert infer.json() == {"error": "model 'pair' is not ready: loading"}


def test_model_metadata_lists_tensors_with_minus_one_for_dynamic_sizes(
    client: TestClient,
) -> None:
    response = client.get("/v2/models/echo_fp16")
    versioned = client.get("/v2/models/echo_fp16/versions/1")

    assert (
        response.json()
        == versioned.json()
        == {
            "name": "echo_fp16",
            "versions": ["1"],
            "platform": "onnxruntime_onnx",
            "inputs": [{"name": "x", "datatype": "FP16", "shape": [2, -1]}],
            "outputs": [{"name": "y", "datatype": "FP16", "shape": [2, -1]}],
        }
    )


def test_model_config_carries_the_onnx_metadata_as_ultralytics_reads_it(
    client: TestClient,
) -> None:
    config = client.get("/v2/models/pair/config").json()

    assert config["input"] == [
        {"name": "a", "data_type": "TYPE_FP32", "dims": [1, 3]},
        {"name": "k", "data_type": "TYPE_INT64", "dims": [1]},
    ]
    assert config["output"][1] == {"name": "positive", "data_type": "TYPE_BOOL", "dims": [1, 3]}
    assert config["max_batch_size"] == 0
    # ultralytics/utils/triton.py: ast.literal_eval(config["parameters"]["metadata"]["string_value"])
    assert ast.literal_eval(config["parameters"]["metadata"]["string_value"]) == PAIR_METADATA
    assert "parameters" not in client.get("/v2/models/echo_fp32/config").json()


@pytest.mark.parametrize("datatype", list(ECHO_TYPES))
def test_json_and_binary_inference_return_exactly_what_the_model_gives(
    client: TestClient, datatype: str
) -> None:
    rng = np.random.default_rng(3)
    x: np.ndarray = (rng.random((2, 5)) * 200 - (0 if datatype == "UINT8" else 100)).astype(
        ECHO_TYPES[datatype]
    )
    model = f"/v2/models/echo_{datatype.lower()}/infer"

    body, headers = binary_body({"x": (x, datatype)}, ["y"])
    binary = client.post(model, content=body, headers=headers)
    as_json = client.post(
        model,
        json={
            "id": "j",
            "inputs": [{"name": "x", "shape": [2, 5], "datatype": datatype, "data": x.tolist()}],
        },
    )

    assert binary.status_code == 200, binary.text
    assert binary.headers["content-type"] == "application/octet-stream"
    assert binary_outputs(binary)["y"].tobytes() == x.tobytes()
    assert as_json.status_code == 200, as_json.text
    assert as_json.headers["content-type"] == "application/json"
    answer = as_json.json()
    assert (answer["model_name"], answer["model_version"], answer["id"]) == (
        f"echo_{datatype.lower()}",
        "1",
        "j",
    )
    (output,) = answer["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("y", datatype, [2, 5])
    assert np.array(output["data"], dtype=ECHO_TYPES[datatype]).tobytes() == x.tobytes()


def test_several_inputs_and_a_chosen_output(client: TestClient) -> None:
    a = np.array([[-1.5, 0.0, 2.25]], dtype=np.float32)
    k = np.array([3], dtype=np.int64)
    body, headers = binary_body({"k": (k, "INT64"), "a": (a, "FP32")}, ["positive"])

    response = client.post("/v2/models/pair/versions/1/infer", content=body, headers=headers)

    assert response.status_code == 200, response.text
    assert {name: o.tolist() for name, o in binary_outputs(response).items()} == {
        "positive": [[False, False, True]]
    }
    every = client.post(
        "/v2/models/pair/infer",
        json={
            "inputs": [
                {"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [[-1.5, 0.0, 2.25]]},
                {"name": "k", "shape": [1], "datatype": "INT64", "data": [3]},
            ]
        },
    ).json()
    assert [(o["name"], o["data"]) for o in every["outputs"]] == [
        ("scaled", [-4.5, 0.0, 6.75]),
        ("positive", [False, False, True]),
    ]


def test_gzip_requests_are_read(client: TestClient) -> None:
    x = np.arange(4, dtype=np.float32).reshape(2, 2)
    body, headers = binary_body({"x": (x, "FP32")}, ["y"])

    response = client.post(
        "/v2/models/echo_fp32/infer",
        content=gzip.compress(body),
        headers={**headers, "Content-Encoding": "gzip"},
    )

    assert response.status_code == 200, response.text
    assert binary_outputs(response)["y"].tolist() == x.tolist()


def json_input(name: str, shape: list[int], datatype: str, data: list) -> dict[str, object]:
    return {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]}


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        (
            "/v2/models/echo_fp32/infer",
            json_input("x", [2, 2], "FP16", [1, 2, 3, 4]),
            400,
            "input 'x' of model 'echo_fp32' is FP16; the model takes FP32",
        ),
        (
            "/v2/models/echo_fp32/infer",
            json_input("x", [3, 2], "FP32", [1] * 6),
            400,
            "input 'x' of model 'echo_fp32' has shape [3, 2]; the model takes [2, -1] (-1: any size)",
        ),
        ("/v2/models/echo_fp32/infer", json_input("x", [2], "FP32", [1, 2]), 400, "has shape [2]"),
        (
            "/v2/models/echo_fp32/infer",
            json_input("z", [2, 1], "FP32", [1, 2]),
            400,
            "input 'z' of model 'echo_fp32': no such input; inputs: ['x']",
        ),
        (
            "/v2/models/pair/infer",
            json_input("a", [1, 3], "FP32", [1, 2, 3]),
            400,
            "model 'pair' takes inputs ['a', 'k']; missing: ['k']",
        ),
        (
            "/v2/models/echo_fp32/infer",
            {**json_input("x", [2, 1], "FP32", [1, 2]), "outputs": [{"name": "nope"}]},
            400,
            "model 'echo_fp32' has no output 'nope'; outputs: ['y']",
        ),
        (
            "/v2/models/echo_fp32/infer",
            json_input("x", [2, 1], "BYTES", ["a", "b"]),
            400,
            "datatype 'BYTES' is not served",
        ),
        ("/v2/models/nope/infer", json_input("x", [1], "FP32", [1]), 404, "no model named 'nope'"),
        (
            "/v2/models/echo_fp32/versions/2/infer",
            json_input("x", [2, 1], "FP32", [1, 2]),
            404,
            "model 'echo_fp32' has no version '2'; versions: 1",
        ),
    ],
)
def test_client_errors_are_the_protocols_error_object(
    client: TestClient, path: str, body: dict, status: int, error: str
) -> None:
    response = client.post(path, json=body)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert error in response.json()["error"], response.json()
    assert set(response.json()) == {"error"}


def test_onnxruntime_refusing_a_dynamic_size_is_a_400_without_server_paths(
    client: TestClient,
) -> None:
    ok = client.post("/v2/models/strided/infer", json=json_input("x", [1, 4], "FP32", [1, 2, 3, 4]))
    odd = client.post("/v2/models/strided/infer", json=json_input("x", [1, 3], "FP32", [1, 2, 3]))

    assert ok.status_code == 200
    assert ok.json()["outputs"][0]["shape"] == [1, 2, 2]
    assert odd.status_code == 400
    assert odd.json()["error"].startswith("model 'strided': inference failed:")
    assert "/" not in odd.json()["error"].split(":", 1)[0]
    assert "model.onnx" not in odd.json()["error"]


def test_a_string_output_is_listed_but_only_the_others_are_sent(client: TestClient) -> None:
    metadata = client.get("/v2/models/labelled").json()
    every = client.post("/v2/models/labelled/infer", json=json_input("x", [1], "FP32", [2.5]))
    chosen = client.post(
        "/v2/models/labelled/infer",
        json={**json_input("x", [1], "FP32", [2.5]), "outputs": [{"name": "y"}]},
    )

    assert metadata["outputs"][1] == {"name": "label", "datatype": "BYTES", "shape": [1]}
    assert every.status_code == 400
    assert every.json()["error"] == (
        "output 'label' of model 'labelled' is BYTES, which is not served; "
        "request the other outputs by name"
    )
    assert chosen.json()["outputs"] == [
        {"name": "y", "datatype": "FP32", "shape": [1], "data": [2.5]}
    ]


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"not json", {}),
        (b'{"inputs": [{"name": "x"}]}', {}),
        (b"{}", {HEADER_LENGTH: "12"}),
        (b"\x1f\x8b garbage", {"Content-Encoding": "gzip"}),
        (b"{}", {"Content-Encoding": "br"}),
        (b'{"inputs": "x"}', {}),
        (b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": {"a": 1}}]}', {}),
        (b'{"inputs": [{"name": "x", "shape": [1], "datatype": 7, "data": [1]}]}', {}),
        (
            b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1], "parameters": {"p": [1]}}]}',
            {},
        ),
        (
            json.dumps(
                {"inputs": [{"name": "x", "shape": [1] * 70, "datatype": "FP32", "data": [1]}]}
            ).encode(),
            {},
        ),
        (
            json.dumps(
                {
                    "inputs": [
                        {"name": "x", "shape": [2**62, 2**62], "datatype": "FP32", "data": [1]}
                    ]
                }
            ).encode(),
            {},
        ),
        (
            b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1e999]}], "id": 5}',
            {},
        ),
    ],
)
def test_garbage_is_answered_4xx_in_the_error_shape(
    client: TestClient, body: bytes, headers: dict
) -> None:
    response = client.post("/v2/models/echo_fp32/infer", content=body, headers=headers)

    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"error"}


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)
INPUTS = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["x", "y"]) | JSON,
            "shape": st.lists(st.integers(-2, 4), max_size=3) | JSON,
            "datatype": st.sampled_from(["FP32", "FP16", "BOOL", "INT64", "BYTES"]) | JSON,
            "data": JSON,
        },
        optional={
            "parameters": st.dictionaries(
                st.sampled_from(["binary_data_size", "p"]), JSON, max_size=2
            )
        },
    ),
    max_size=2,
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(inputs=INPUTS, outputs=st.none() | JSON)
def test_no_request_body_causes_a_server_error(
    client: TestClient, inputs: list, outputs: object
) -> None:
    body: dict[str, object] = {"inputs": inputs}
    if outputs is not None:
        body["outputs"] = outputs

    response = client.post("/v2/models/echo_fp32/infer", json=body)

    assert response.status_code in (200, 400), response.text
    assert response.status_code == 200 or set(response.json()) == {"error"}


def test_unknown_routes_and_methods_answer_in_the_error_shape(client: TestClient) -> None:
    missing = client.get("/v2/repository/index")
    wrong_method = client.get("/v2/models/echo_fp32/infer")

    assert missing.status_code == 404 and "error" in missing.json()
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()


def test_the_api_key_guards_everything_but_the_probes(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(api_key="sesame")
    body = json_input("x", [2, 1], "FP32", [1, 2])

    assert client.get("/v2/health/live").status_code == 200
    assert client.get("/v2/health/ready").status_code == 200
    refused = client.post("/v2/models/echo_fp32/infer", json=body)
    assert refused.status_code == 401
    assert refused.json() == {"error": "this service requires the X-API-Key header"}
    assert "www-authenticate" in refused.headers
    assert client.get("/v2", headers={"X-API-Key": "wrong"}).status_code == 401
    keyed = client.post("/v2/models/echo_fp32/infer", json=body, headers={"X-API-Key": "sesame"})
    assert keyed.status_code == 200


def test_a_body_over_the_limit_is_413_in_the_error_shape(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(max_body_bytes=1000)

    response = client.post(
        "/v2/models/echo_fp32/infer", json=json_input("x", [2, 200], "FP32", [0.5] * 400)
    )

    assert response.status_code == 413
    assert "1000 bytes" in response.json()["error"]


def test_requests_are_counted_by_route_model_and_status(client: TestClient) -> None:
    client.post("/v2/models/echo_fp32/infer", json=json_input("x", [2, 1], "FP32", [1, 2]))
    client.post("/v2/models/echo_fp32/infer", json=json_input("x", [2, 1], "FP16", [1, 2]))

    metrics = client.get("/metrics").text

    assert (
        'vision_requests_total{method="POST",model="echo_fp32",'
        'route="/v2/models/{model_name}/infer",status="200"} 1.0' in metrics
    )
    assert (
        'vision_requests_total{method="POST",model="echo_fp32",'
        'route="/v2/models/{model_name}/infer",status="400"} 1.0' in metrics
    )
    assert 'vision_stage_duration_seconds_count{model="echo_fp32",stage="inference"} 1.0' in metrics


def test_server_timing_names_the_stages(client: TestClient) -> None:
    response = client.post(
        "/v2/models/echo_fp32/infer", json=json_input("x", [2, 1], "FP32", [1, 2])
    )

    stages = [part.split(";")[0] for part in response.headers["server-timing"].split(", ")]
    assert stages == ["read", "decode", "inference", "encode", "total"]
