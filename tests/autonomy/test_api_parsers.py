"""The API's JSON parser refuses, as a 400 parse error that changes nothing, JSON we could not
store and send back: lone UTF-16 surrogates, deep nesting, non-finite numbers (and NUL:
tests/workflows/test_gateway.py). Django's own 400s under /api/ answer in the error shape."""

import io
import json
import uuid

import pytest
from django.test import Client, override_settings
from rest_framework.exceptions import ParseError

from autonomy.core.api_parsers import MAX_JSON_DEPTH, StorableJSONParser, json_storage_problem
from governance import policies
from governance.models import AuditEntry, DecisionRecord
from workflows.models import ActionRequest, ActionType, Escalation, Queue

URL = "/api/v1/actions/"
PO = "erp.purchase_order.create"


@pytest.fixture
def governed(world):
    """A purchase-order action whose schema takes any extra fields, and a policy that lets
    small orders through and sends larger ones for approval: every body here would be
    accepted and stored if the parser let it through."""
    queue = Queue.objects.create(slug="approvals-a", name="A", business_unit=world.unit_a)
    schema = {"type": "object", "properties": {"amount": {"type": "number"}}}
    ActionType.objects.create(name=PO, payload_schema=schema, approval_queue=queue)
    policy = policies.create_policy(world.coe, "baseline", "Baseline")
    draft = policy.versions.get()
    policies.add_rule(
        world.coe,
        draft,
        name="small",
        action_pattern="*",
        condition="payload.amount <= 1000.0",
        effect="allow",
    )
    policies.add_rule(
        world.coe,
        draft,
        name="large",
        action_pattern="*",
        condition="payload.amount > 1000.0",
        effect="require_approval",
        route="approvals-a",
        sla_seconds=600,
    )
    policies.publish(world.coe, draft)
    return policy


def action(payload: str, rest: str = "") -> str:
    """The JSON text of an action request: `payload` and `rest` are JSON text, as written."""
    return '{"action": "' + PO + '", "payload": ' + payload + rest + "}"


def post_text(client, text: str):
    """POST the JSON text exactly as written (escapes and all) to the gateway."""
    return client.post(
        URL,
        text.encode(),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def counts():
    return (
        ActionRequest.objects.count(),
        DecisionRecord.objects.count(),
        AuditEntry.objects.count(),
        Escalation.objects.count(),
    )


def assert_parse_error_changing_nothing(response, before):
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "parse_error"
    assert body["error"]["message"]
    assert body["error"]["fields"] == {}
    assert counts() == before


def parse(text: str):
    return StorableJSONParser().parse(io.BytesIO(text.encode()), None, {"encoding": "utf-8"})


def nested(levels: int, inner: str = "") -> str:
    return "[" * levels + inner + "]" * levels


# The gateway, end to end ------------------------------------------------------------------


def test_the_gateway_stores_a_surrogate_pair_and_sends_it_back(world, governed, as_agent):
    """The control for the refusals below: a clean body like theirs is stored and read back."""
    text = action('{"supplier": "Acme \\ud83d\\ude00", "amount": 6000}')
    response = post_text(as_agent(world.key_a), text)
    assert response.status_code == 202, response.content
    stored = ActionRequest.objects.get(pk=response.json()["id"])
    assert stored.payload["supplier"] == "Acme \U0001f600"  # a surrogate pair is one character
    assert as_agent(world.key_a).get(f"{URL}{stored.pk}/").status_code == 200


@pytest.mark.parametrize(
    "text",
    [
        # QA's body: a lone low surrogate as a payload value
        action('{"supplier": "\\udfff", "amount": 6000}'),
        # in a key
        action('{"amount": 10, "su\\udfffpplier": "Acme"}'),
        # in the reason, outside the payload
        action('{"amount": 10}', ', "reason": "restock \\ud800"'),
        # deeper down, a high surrogate with no low one after it
        action('{"amount": 10, "lines": [{"note": ["x\\ud83d"]}]}'),
        action('{"amount": 10, "lines": {"\\ud83dx": 1}}'),
        # a low surrogate before a high one is no pair
        action('{"amount": 10, "supplier": "\\ude00\\ud83d"}'),
    ],
    ids=["payload-value", "key", "reason", "nested-high", "nested-key", "reversed-pair"],
)
def test_a_lone_surrogate_anywhere_is_a_parse_error_that_changes_nothing(
    world, governed, as_agent, text
):
    before = counts()
    response = post_text(as_agent(world.key_a), text)
    assert_parse_error_changing_nothing(response, before)
    assert "surrogate" in response.json()["error"]["message"]


def test_nesting_deeper_than_the_cap_is_a_parse_error_that_changes_nothing(
    world, governed, as_agent
):
    # The body's object is level 1 and the payload level 2: the lists fill the rest.
    text = action('{"amount": 10, "lines": ' + nested(MAX_JSON_DEPTH - 1) + "}")
    before = counts()
    response = post_text(as_agent(world.key_a), text)
    assert_parse_error_changing_nothing(response, before)
    assert str(MAX_JSON_DEPTH) in response.json()["error"]["message"]


def test_nesting_at_the_cap_gets_past_the_parser(world, governed, as_agent):
    text = action('{"amount": 10, "lines": ' + nested(MAX_JSON_DEPTH - 2) + "}")
    response = post_text(as_agent(world.key_a), text)
    assert response.status_code == 201, response.content  # allowed, stored and sent back
    assert as_agent(world.key_a).get(response.json()["links"]["self"]).status_code == 200


@pytest.mark.parametrize("levels", [500, 5_000, 100_000])
def test_very_deep_nesting_is_a_400_not_a_500(world, governed, as_agent, levels):
    # 500 levels broke the old recursive NUL check; 100,000 levels break json's own decoder.
    text = action('{"a": ' + nested(levels) + "}")
    before = counts()
    response = post_text(as_agent(world.key_a), text)
    assert_parse_error_changing_nothing(response, before)


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1.5e309", "-" + "9" * 400 + ".0"])
def test_a_number_outside_float_range_is_a_parse_error_that_changes_nothing(
    world, governed, as_agent, number
):
    for text in (
        action('{"amount": 10, "weight": ' + number + "}"),
        action('{"amount": ' + number + "}"),
    ):
        before = counts()
        response = post_text(as_agent(world.key_a), text)
        assert_parse_error_changing_nothing(response, before)
        assert "finite" in response.json()["error"]["message"]


# The parser and its check, directly ---------------------------------------------------------


def test_the_parser_takes_nesting_at_the_cap_and_refuses_one_level_more():
    assert parse(nested(MAX_JSON_DEPTH, "1")) == json.loads(nested(MAX_JSON_DEPTH, "1"))
    assert parse(nested(MAX_JSON_DEPTH)) is not None
    for text in (nested(MAX_JSON_DEPTH + 1), nested(MAX_JSON_DEPTH + 1, '"x"')):
        with pytest.raises(ParseError, match=f"more than {MAX_JSON_DEPTH} levels"):
            parse(text)


def test_the_parser_refuses_what_json_itself_cannot_decode_for_depth():
    with pytest.raises(ParseError):
        parse(nested(100_000))
    with pytest.raises(ParseError):
        parse('{"a":' * 100_000 + "1" + "}" * 100_000)


@pytest.mark.parametrize("text", ["1e400", "-1e400", "[1e400]", '{"a": {"b": -1e999}}'])
def test_the_parser_refuses_numbers_outside_float_range(text):
    with pytest.raises(ParseError, match="finite"):
        parse(text)


@pytest.mark.parametrize(
    "value",
    [
        "\udfff",
        {"\ud800": 1},
        ["ok", {"a": ["x\x00"]}],
        {"k\x00": "v"},
        float("inf"),
        [float("-inf")],
        {"a": float("nan")},
        [0, 0, json.loads(nested(MAX_JSON_DEPTH))],  # one level too deep
    ],
)
def test_json_storage_problem_names_each_fault(value):
    assert json_storage_problem(value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        10**30,
        1.5e308,
        -0.0,
        "",
        "plain",
        "é, 漢字 and \U0001f600",
        {"a": [1, 2.5, None, {"b": "c"}], "d": {}},
        {1: "a"},
        ("a", "b"),
        json.loads(nested(MAX_JSON_DEPTH, "1")),
    ],
)
def test_json_storage_problem_passes_what_can_be_stored(value):
    assert json_storage_problem(value) is None


# Django's own 400 (a body over DATA_UPLOAD_MAX_MEMORY_SIZE) -----------------------------


@override_settings(DEBUG=False, DATA_UPLOAD_MAX_MEMORY_SIZE=1_000)
def test_an_oversized_api_body_is_a_json_400(world, governed):
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {world.key_a}")
    text = json.dumps({"action": PO, "payload": {"amount": 10, "note": "x" * 5_000}})
    before = counts()
    response = client.post(
        URL, text, content_type="application/json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "bad_request"
    assert "1000 bytes" in body["error"]["message"]
    assert body["error"]["fields"] == {}
    assert counts() == before


@override_settings(DEBUG=False, DATA_UPLOAD_MAX_MEMORY_SIZE=1_000)
def test_an_oversized_body_elsewhere_is_still_an_html_400(db):
    client = Client(raise_request_exception=False)
    response = client.post(
        "/accounts/login/",
        "username=someone&password=" + "x" * 5_000,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert b"Bad Request (400)" in response.content
