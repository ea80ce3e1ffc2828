"""Schemathesis against ``/openapi.json`` of a real server on loopback: every operation, with
and without the API key, a bounded number of generated requests each (the whole run stays
near two minutes on 2 cores); any 5xx or answer that breaks its documented schema fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.e2e.conftest import LiveServer, StartServer

KEY = "schema-fuzz-key"
EXAMPLES = 15  # per operation and key variant: under a minute each on 2 cores


@pytest.fixture(scope="module")
def fuzzed_server(start_server: StartServer) -> Iterator[LiveServer]:
    with start_server(VISION_API_KEY=KEY) as server:
        yield server


@pytest.mark.parametrize("keyed", [True, False], ids=["with-key", "without-key"])
def test_no_operation_answers_5xx_or_off_schema(fuzzed_server: LiveServer, keyed: bool) -> None:
    """Each operation of the schema in turn, ``EXAMPLES`` generated requests each."""
    schema = schemathesis.openapi.from_url(f"{fuzzed_server.url}/openapi.json")
    headers = {"X-API-Key": KEY} if keyed else {}
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results) > 20, "every operation of the schema must load"

    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=headers,
                timeout=60,
                checks=[not_a_server_error, response_schema_conformance],
            )

        call()
