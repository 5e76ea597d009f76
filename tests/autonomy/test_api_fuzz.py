"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis):
whatever the input, no endpoint answers 5xx, and every answer of every operation keeps to
the schema: a documented status, content type, headers and body (the schema is the
contract; autonomy.core.api_schema makes the generic parts of it true).

Checks left out, each on purpose: `positive_data_acceptance` (a request valid by the
schema may still be refused by a rule the schema cannot say: an unknown id is 404, a
decision on a closed escalation 409), `negative_data_rejection` and the stateful checks
(`use_after_free`, `ensure_resource_availability`; this fuzzes operations one by one
with positive data), `ignored_auth` (authentication has its own tests, persona by persona,
in test_access_matrix.py), `max_response_time` (speed is the benchmarks' to measure)."""

import re

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.middleware.csrf import CSRF_SECRET_LENGTH
from django.utils.crypto import get_random_string
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from autonomy.wsgi import application
from governance import policies
from tests.workflows.test_inbox import make_governed, submit

CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
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


def fuzz(operation, headers, checks, cookies=None) -> None:
    @given(case=operation.as_strategy())
    @FUZZ
    def run(case):
        # Cookies go through `cookies`: schemathesis's WSGI client drops a Cookie header.
        response = case.call(headers=headers, cookies=cookies)
        case.validate_response(response, checks=checks)

    run()


def test_the_gateway_never_fails_and_keeps_to_its_schema(world):
    headers = {"Authorization": f"Bearer {world.key_a}", "Idempotency-Key": "fuzz-key"}
    checked = 0
    for operation in operations(GATEWAY.match):
        fuzz(operation, headers, CONFORMANCE)
        checked += 1
    assert checked >= 3


def test_every_endpoint_keeps_to_its_schema_and_never_fails(world, client):
    # Rows whose optional fields are empty: an open escalation (nobody assigned, claiming
    # or deciding), COE-wide ledger entries (no business unit), a draft (not published).
    make_governed()
    submit(world.agent_a, {"amount": 5000})
    policies.create_policy(world.coe, "drafted", "Drafted")
    client.force_login(world.coe)
    csrf = get_random_string(CSRF_SECRET_LENGTH)  # a session's changes need a CSRF token
    cookies = {"sessionid": client.cookies["sessionid"].value, "csrftoken": csrf}
    checked, failures = 0, []
    for operation in operations(lambda path: not GATEWAY.match(path)):
        try:
            fuzz(operation, {"X-CSRFToken": csrf}, CONFORMANCE, cookies)
        except (Exception, BaseExceptionGroup) as failure:  # try all, show every failure
            failures.append(f"{operation.method.upper()} {operation.path}: {failure}")
        checked += 1
    assert failures == [], "\n\n".join(failures)
    assert checked >= 20
