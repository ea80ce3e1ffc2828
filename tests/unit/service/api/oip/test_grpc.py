"""The gRPC service in-process, through NVIDIA's own client (tritonclient[grpc]) and its
generated stubs: the same models, checks, errors, key and metrics as ``/v2`` over HTTP."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from fastapi.testclient import TestClient
from google.protobuf import descriptor as protobuf_descriptor
from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from service.api.oip.messages import message, methods
from tests.unit.service.api.fakes import FakeRegistry
from tests.unit.service.api.oip.conftest import ECHO_TYPES, PAIR_METADATA


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def grpc_app(make_client: Callable[..., TestClient]) -> tuple[TestClient, str]:
    """A started app (its lifespan serves gRPC) with an API key, and its gRPC address."""
    port = free_port()
    return make_client(grpc_port=port, api_key="sesame"), f"127.0.0.1:{port}"


@pytest.fixture
def grpc_address(grpc_app: tuple[TestClient, str]) -> str:
    return grpc_app[1]


@pytest.fixture
def grpc_client(grpc_address: str) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(grpc_address) as triton_client:
        yield triton_client


KEY = {"x-api-key": "sesame"}


def test_probes_are_open_and_metadata_needs_the_key(
    grpc_client: triton.InferenceServerClient,
) -> None:
    assert grpc_client.is_server_live()
    assert grpc_client.is_server_ready()
    with pytest.raises(InferenceServerException, match="requires the x-api-key") as refused:
        grpc_client.get_server_metadata()
    assert refused.value.status() == "StatusCode.UNAUTHENTICATED"
    assert grpc_client.get_server_metadata(headers=KEY, as_json=True)["extensions"] == [
        "binary_tensor_data",
        "model_configuration",
    ]
    assert grpc_client.is_model_ready("pair", headers=KEY)


def test_model_metadata_and_config(grpc_client: triton.InferenceServerClient) -> None:
    metadata = grpc_client.get_model_metadata("echo_uint8", headers=KEY, as_json=True)
    config = grpc_client.get_model_config("pair", headers=KEY, as_json=True)["config"]

    assert metadata["inputs"] == [{"name": "x", "datatype": "UINT8", "shape": ["2", "-1"]}]
    assert [(t["name"], t["data_type"]) for t in config["input"]] == [
        ("a", "TYPE_FP32"),
        ("k", "TYPE_INT64"),
    ]
    assert eval(config["parameters"]["metadata"]["string_value"]) == PAIR_METADATA


@pytest.mark.parametrize("datatype", list(ECHO_TYPES))
def test_raw_tensors_come_back_bit_for_bit(
    grpc_client: triton.InferenceServerClient, datatype: str
) -> None:
    x: np.ndarray = (np.random.default_rng(5).random((2, 7)) * 100).astype(ECHO_TYPES[datatype])
    given = triton.InferInput("x", list(x.shape), datatype)
    given.set_data_from_numpy(x)

    result = grpc_client.infer(f"echo_{datatype.lower()}", [given], request_id="r1", headers=KEY)

    assert result.as_numpy("y").tobytes() == x.tobytes()
    assert result.get_response(as_json=True)["id"] == "r1"


def test_typed_contents_are_read_like_json_data(grpc_address: str) -> None:
    """tritonclient always sends raw bytes; KServe's clients may send typed ``contents``."""
    request = service_pb2.ModelInferRequest(model_name="pair")
    a = request.inputs.add(name="a", datatype="FP32", shape=[1, 3])
    a.contents.fp32_contents.extend([-1.5, 0.0, 2.25])
    k = request.inputs.add(name="k", datatype="INT64", shape=[1])
    k.contents.int64_contents.append(2)
    with grpc.insecure_channel(grpc_address) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        response = stub.ModelInfer(request, metadata=tuple(KEY.items()))

    scaled = np.frombuffer(response.raw_output_contents[0], np.float32)
    assert [o.name for o in response.outputs] == ["scaled", "positive"]
    assert scaled.tolist() == [-3.0, 0.0, 4.5]


@pytest.mark.parametrize(
    ("model", "datatype", "shape", "code", "message"),
    [
        ("echo_fp32", "FP16", [2, 1], "INVALID_ARGUMENT", "is FP16; the model takes FP32"),
        (
            "echo_fp32",
            "FP32",
            [3, 1],
            "INVALID_ARGUMENT",
            "has shape [3, 1]; the model takes [2, -1]",
        ),
        ("nope", "FP32", [2, 1], "NOT_FOUND", "no model named 'nope'"),
        ("strided", "FP32", [1, 3], "INVALID_ARGUMENT", "model 'strided': inference failed"),
    ],
)
def test_errors_are_grpc_statuses_with_the_same_words_as_http(
    grpc_client: triton.InferenceServerClient,
    model: str,
    datatype: str,
    shape: list[int],
    code: str,
    message: str,
) -> None:
    given = triton.InferInput("x", shape, datatype)
    given.set_data_from_numpy(
        np.ones(shape, dtype=np.float16 if datatype == "FP16" else np.float32)
    )

    with pytest.raises(InferenceServerException) as refused:
        grpc_client.infer(model, [given], headers=KEY)

    assert refused.value.status() == f"StatusCode.{code}"
    assert message in refused.value.message()


def test_a_model_still_loading_is_unavailable(
    grpc_client: triton.InferenceServerClient, registry: FakeRegistry
) -> None:
    registry.statuses["echo_fp32"] = "loading"
    given = triton.InferInput("x", [2, 1], "FP32")
    given.set_data_from_numpy(np.ones((2, 1), np.float32))

    with pytest.raises(InferenceServerException) as refused:
        grpc_client.infer("echo_fp32", [given], headers=KEY)

    assert refused.value.status() == "StatusCode.UNAVAILABLE"
    assert not grpc_client.is_server_ready()
    assert not grpc_client.is_model_ready("echo_fp32", headers=KEY)


def test_grpc_calls_are_counted_with_their_code(
    grpc_client: triton.InferenceServerClient, grpc_app: tuple[TestClient, str]
) -> None:
    given = triton.InferInput("x", [2, 1], "FP32")
    given.set_data_from_numpy(np.ones((2, 1), np.float32))
    grpc_client.infer("echo_fp32", [given], headers=KEY)
    with pytest.raises(InferenceServerException):
        grpc_client.infer("echo_fp32", [given])  # no key

    metrics = grpc_app[0].get("/metrics", headers={"X-API-Key": "sesame"}).text

    route = 'route="/inference.GRPCInferenceService/ModelInfer"'
    total = 'vision_requests_total{method="POST",model="echo_fp32",'
    assert f'{total}{route},status="OK"}} 1.0' in metrics
    assert (
        f'vision_requests_total{{method="POST",model="echo_fp32",{route},'
        'status="UNAUTHENTICATED"} 1.0' in metrics
    )
    assert 'vision_stage_duration_seconds_count{model="echo_fp32",stage="inference"} 1.0' in metrics


def _field_shape(field: protobuf_descriptor.FieldDescriptor) -> tuple:
    kind = (
        field.message_type.full_name
        if field.message_type
        else field.enum_type.full_name
        if field.enum_type
        else ""
    )
    return (field.number, field.type, field.is_repeated, kind)


def test_every_message_and_field_matches_tritons_own() -> None:
    """Same names, numbers and types as tritonclient's generated protos, field by field:
    what makes the two talk on the wire."""
    theirs = {
        **service_pb2.DESCRIPTOR.message_types_by_name,
        **model_config_pb2.DESCRIPTOR.message_types_by_name,
    }
    pending = [(name, request.DESCRIPTOR) for name, request, _ in methods()]
    pending += [(name, response.DESCRIPTOR) for name, _, response in methods()]
    pending += [
        ("", message(name).DESCRIPTOR) for name in ("InferParameter", "InferTensorContents")
    ]
    checked = set()
    while pending:
        _, ours = pending.pop()
        if ours.full_name in checked:
            continue
        checked.add(ours.full_name)
        outer, *nested = ours.full_name.removeprefix("inference.").split(".")
        triton_message = theirs[outer]
        for part in nested:
            triton_message = triton_message.nested_types_by_name[part]
        for field in ours.fields:
            assert _field_shape(field) == _field_shape(triton_message.fields_by_name[field.name]), (
                field.full_name
            )
            if field.message_type is not None:
                pending.append(("", field.message_type))
    assert len(checked) > 20
    triton_service = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    for name, request, response in methods():
        method = triton_service.methods_by_name[name]
        assert (method.input_type.full_name, method.output_type.full_name) == (
            request.DESCRIPTOR.full_name,
            response.DESCRIPTOR.full_name,
        )
