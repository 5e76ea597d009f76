"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis):
whatever the input, no endpoint answers 5xx, and the gateway's answers match the schema."""

import re

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from autonomy.wsgi import application

GATEWAY = re.compile(r"^/api/v1/(actions/|me/)")
FUZZ = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """Schemathesis calls the WSGI app directly; like Django's test client, keep the request
    signals from closing the test's database connection (and its transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def operations(selected):
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    for result in schema.get_all_operations():
        operation = result.ok()
        if selected(operation.path):
            yield operation


def fuzz(operation, headers, checks) -> None:
    @given(case=operation.as_strategy())
    @FUZZ
    def run(case):
        response = case.call(headers=headers)
        case.validate_response(response, checks=checks)

    run()


def test_the_gateway_never_fails_and_keeps_to_its_schema(world):
    headers = {"Authorization": f"Bearer {world.key_a}", "Idempotency-Key": "fuzz-key"}
    checked = 0
    for operation in operations(GATEWAY.match):
        fuzz(
            operation,
            headers,
            [not_a_server_error, response_schema_conformance, status_code_conformance],
        )
        checked += 1
    assert checked >= 3


def test_no_endpoint_answers_a_server_error(world, client):
    client.force_login(world.coe)
    headers = {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}
    checked = 0
    for operation in operations(lambda path: not GATEWAY.match(path)):
        fuzz(operation, headers, [not_a_server_error])
        checked += 1
    assert checked >= 20
