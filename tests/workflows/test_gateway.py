"""POST /api/v1/actions/: the governed action, from request to first answer."""

import logging
import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection

from agents import services as agent_services
from governance import policies, switches
from governance.models import AuditEntry, DecisionRecord
from tests.conftest import requires_postgres
from workflows.models import ActionRequest, ActionType, Escalation, Queue

URL = "/api/v1/actions/"
PO = "erp.purchase_order.create"
REFUND = "payments.refund.create"
IBAN = "DE44500105175407324931"


@pytest.fixture
def governed(world):
    """Action types with schemas, a queue, and a published COE policy."""
    queue = Queue.objects.create(slug="approvals-a", name="A", business_unit=world.unit_a)
    schema = {
        "type": "object",
        "properties": {
            "amount": {"type": "number", "exclusiveMinimum": 0},
            "supplier": {"type": "string", "minLength": 1},
            "iban": {"type": "string"},
        },
        "required": ["amount"],
        "additionalProperties": False,
    }
    ActionType.objects.create(name=PO, payload_schema=schema, approval_queue=queue)
    ActionType.objects.create(name=REFUND, payload_schema=schema, sensitive_fields=["iban"])
    world.role.action_patterns = ["erp.purchase_order.*", "payments.refund.*"]
    world.role.save()
    policy = policies.create_policy(world.coe, "baseline", "Baseline")
    draft = policy.versions.get()
    for rule in [
        dict(
            name="small", action_pattern="*", condition="payload.amount <= 1000.0", effect="allow"
        ),
        dict(
            name="large",
            action_pattern="*",
            condition="payload.amount > 1000.0",
            effect="require_approval",
            route="approvals-a",
            sla_seconds=600,
        ),
        dict(
            name="huge",
            action_pattern="*",
            condition="payload.amount > 50000.0",
            effect="deny",
            reason="Too large.",
        ),
    ]:
        policies.add_rule(world.coe, draft, **rule)
    policies.publish(world.coe, draft)
    return policy


def post(client, body, key=None):
    return client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex)


def counts():
    return (
        ActionRequest.objects.count(),
        DecisionRecord.objects.count(),
        AuditEntry.objects.count(),
        Escalation.objects.count(),
    )


def test_an_allowed_action_is_queued_with_201(world, governed, as_agent):
    response = post(as_agent(world.key_a), {"action": PO, "payload": {"amount": 10}})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "queued"
    assert body["decision"]["effect"] == "allow"
    action = ActionRequest.objects.get(pk=body["id"])
    assert action.decision_id is not None and action.response_status == 201
    assert AuditEntry.objects.filter(verb="action.queued", object_id=body["id"]).count() == 1


def test_an_action_needing_approval_is_202_with_its_escalation(world, governed, as_agent):
    response = post(as_agent(world.key_a), {"action": PO, "payload": {"amount": 5000}})
    assert response.status_code == 202
    body = response.json()
    escalation = Escalation.objects.get(pk=body["escalation_id"])
    assert escalation.queue.slug == "approvals-a"
    assert escalation.action_id == uuid.UUID(body["id"])
    assert body["state"] == "pending_approval"


def test_a_denied_action_is_403_with_the_reasons(world, governed, as_agent):
    response = post(as_agent(world.key_a), {"action": PO, "payload": {"amount": 60000}})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "denied"
    assert "Too large." in error["message"]
    assert ActionRequest.objects.get(pk=response.json()["action_id"]).state == "denied"


def test_a_denial_is_not_logged_as_a_fault_but_bad_input_still_is(
    world, governed, as_agent, caplog
):
    client = as_agent(world.key_a)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        denied = post(client, {"action": PO, "payload": {"amount": 60000}})
        invalid = post(client, {"action": PO, "payload": {"amount": -5}})
    assert (denied.status_code, invalid.status_code) == (403, 422)
    logged = [record.status_code for record in caplog.records if record.name == "django.request"]
    assert logged == [422]  # the denial is in the ledger; Django's "Forbidden" would mislead


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "payload"),
        ({"amount": -5}, "payload.amount"),
        ({"amount": "ten"}, "payload.amount"),
        ({"amount": 5, "extra": 1}, "payload"),
    ],
)
def test_an_invalid_payload_is_422_with_field_errors_and_writes_nothing(
    world, governed, as_agent, payload, field
):
    before = counts()
    response = post(as_agent(world.key_a), {"action": PO, "payload": payload})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_payload"
    assert field in response.json()["error"]["fields"]
    assert counts() == before


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"action": "erp.nothing.here", "payload": {}}, 422, "unknown_action"),
        ({"action": "not an action"}, 400, "invalid"),
        ({"action": PO, "payload": [1, 2]}, 400, "invalid"),
        ({"action": PO, "payload": {"amount": 1}, "state": "succeeded"}, 400, "invalid"),
        ({"action": PO, "payload": {"amount": 1}, "callback_url": "nope"}, 400, "invalid"),
        (
            {"action": PO, "payload": {"amount": 1}, "callback_url": "ftp://agent.example/cb"},
            400,
            "invalid",
        ),
        ([{"action": PO}], 400, "invalid"),  # not a JSON object at all
        ("null", 400, "invalid"),  # a JSON string
    ],
)
def test_bad_requests_are_refused_and_write_nothing(world, governed, as_agent, body, status, code):
    before = counts()
    response = post(as_agent(world.key_a), body)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert counts() == before


def test_one_body_validator_serves_concurrent_requests_without_mixing_them():
    """The request body is checked by one shared serializer instance (workflows.api.actions):
    threads validating different bodies at once each get their own answer."""
    from rest_framework.exceptions import ValidationError

    from workflows.api.actions import SUBMIT_BODY

    answers, mixed = {}, []

    def check(thread: int) -> None:
        for n in range(200):
            if n % 3 == 0:
                try:
                    SUBMIT_BODY.run_validation({"action": PO, "callback_url": f"bad {thread}"})
                except ValidationError as exc:
                    if set(exc.detail) != {"callback_url"}:
                        mixed.append(exc.detail)
                continue
            body = {"action": PO, "payload": {"amount": thread * 1000 + n}, "task": f"t{thread}"}
            value = SUBMIT_BODY.run_validation(body)
            if value["payload"] != body["payload"] or value["task"] != f"t{thread}":
                mixed.append(value)
            answers[thread] = answers.get(thread, 0) + 1

    threads = [threading.Thread(target=check, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mixed == []
    assert answers == {t: 133 for t in range(8)}


def test_the_idempotency_key_is_required(world, governed, as_agent):
    response = as_agent(world.key_a).post(
        URL, {"action": PO, "payload": {"amount": 1}}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "missing_idempotency_key"


def test_a_replay_returns_the_first_answer_and_another_body_is_422(world, governed, as_agent):
    client = as_agent(world.key_a)
    first = post(client, {"action": PO, "payload": {"amount": 10}}, key="k-1")
    again = post(client, {"action": PO, "payload": {"amount": 10}}, key="k-1")
    assert (again.status_code, again.json()) == (first.status_code, first.json())
    assert ActionRequest.objects.count() == 1
    other = post(client, {"action": PO, "payload": {"amount": 11}}, key="k-1")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_each_agent_has_its_own_key_space(world, governed, as_agent):
    a = post(as_agent(world.key_a), {"action": PO, "payload": {"amount": 10}}, key="same")
    b = post(as_agent(world.key_b), {"action": PO, "payload": {"amount": 10}}, key="same")
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_a_suspended_agents_requests_are_not_logged_as_faults(world, governed, as_agent, caplog):
    agent_services.transition(world.coe, world.agent_a, "suspend", "incident")
    with caplog.at_level(logging.WARNING, logger="django.request"):
        locked = post(as_agent(world.key_a), {"action": PO, "payload": {"amount": 100}})
        bad_key = post(as_agent("nope.nope"), {"action": PO, "payload": {"amount": 100}})
    assert (locked.status_code, bad_key.status_code) == (423, 401)
    logged = [record.status_code for record in caplog.records if record.name == "django.request"]
    assert logged == [401]  # the suspension is in the ledger; a bad key is worth a warning


def test_a_suspended_agent_gets_423(world, governed, as_agent):
    agent_services.transition(world.coe, world.agent_a, "suspend", "incident")
    response = post(as_agent(world.key_a), {"action": PO, "payload": {"amount": 10}})
    assert response.status_code == 423
    assert response.json()["error"]["code"] == "agent_suspended"


def test_a_frozen_unit_is_denied(world, governed, as_agent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        switches.engage_freeze(world.coe, world.unit_a, "Incident 7")
    response = post(as_agent(world.key_a), {"action": PO, "payload": {"amount": 10}})
    assert response.status_code == 403
    assert "Incident 7" in response.json()["error"]["message"]


def test_over_a_rate_limit_is_429_with_retry_after(world, governed, as_agent):
    draft = policies.create_draft(world.coe, governed)
    policies.add_rule(
        world.coe,
        draft,
        name="rate",
        action_pattern="*",
        effect="deny",
        limit_metric="actions",
        limit_scope="agent",
        limit_window="minute",
        hard_limit=Decimal("2"),
    )
    policies.publish(world.coe, draft)
    client = as_agent(world.key_a)
    statuses = [
        post(client, {"action": PO, "payload": {"amount": 1}}).status_code for _ in range(3)
    ]
    assert statuses == [201, 201, 429]
    limited = post(client, {"action": PO, "payload": {"amount": 1}})
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60


def test_sensitive_fields_never_come_back_in_clear(world, governed, as_agent, as_user):
    client = as_agent(world.key_a)
    submitted = post(client, {"action": REFUND, "payload": {"amount": 5, "iban": IBAN}})
    assert submitted.status_code == 201
    status = client.get(f"{URL}{submitted.json()['id']}/")
    person = as_user(world.supervisor_a).get(f"{URL}{submitted.json()['id']}/")
    for response in (submitted, status, person):
        assert IBAN not in response.content.decode()
    assert status.json()["payload"]["iban"].startswith("hmac-sha256:")
    entries = AuditEntry.objects.all()
    assert all(IBAN not in str(entry.data) for entry in entries)


def test_agents_see_only_their_own_actions(world, governed, as_agent, as_user):
    submitted = post(as_agent(world.key_a), {"action": PO, "payload": {"amount": 10}})
    path = f"{URL}{submitted.json()['id']}/"
    assert as_agent(world.key_a).get(path).status_code == 200
    assert as_agent(world.key_b).get(path).status_code == 404
    assert as_user(world.supervisor_a).get(path).status_code == 200
    assert as_user(world.supervisor_b).get(path).status_code == 404


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_key_ten_times_at_once_gives_one_action(world, governed):
    from rest_framework.test import APIClient

    barrier = threading.Barrier(10)
    answers = []

    def submit_once():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.key_a}")
        barrier.wait()
        try:
            answers.append(post(client, {"action": PO, "payload": {"amount": 10}}, key="once"))
        finally:
            connection.close()

    threads = [threading.Thread(target=submit_once) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ActionRequest.objects.filter(idempotency_key="once").count() == 1
    assert {a.status_code for a in answers} <= {201, 409}
    ids = {a.json()["id"] for a in answers if a.status_code == 201}
    assert len(ids) == 1


def test_a_denied_action_calls_the_agent_back(world, governed, as_agent):
    from workflows.models import WebhookDelivery

    response = post(
        as_agent(world.key_a),
        {"action": PO, "payload": {"amount": 60000}, "callback_url": "https://agent.example/cb"},
    )
    assert response.status_code == 403
    delivery = WebhookDelivery.objects.get(action_id=response.json()["action_id"])
    assert (delivery.url, delivery.event) == ("https://agent.example/cb", "action.denied")


def test_an_approval_routed_to_a_new_queue_is_recorded_without_a_history_user(
    world, governed, as_agent
):
    """The business unit's queue is created on the way; agents are not Users, so its history
    row has no user (the ledger names the agent)."""
    ActionType.objects.filter(name=PO).update(approval_queue=None)
    Queue.objects.filter(slug="approvals-a").delete()
    response = post(as_agent(world.key_a), {"action": PO, "payload": {"amount": 5000}})
    assert response.status_code == 202
    queue = Escalation.objects.get(pk=response.json()["escalation_id"]).queue
    assert queue.business_unit == world.unit_a
    assert queue.history.first().history_user is None
    created = AuditEntry.objects.get(verb="queue.created", object_id=str(queue.pk))
    assert (created.actor_kind, created.actor_name) == ("system", "inbox")


def test_a_gateway_decision_page_links_its_ledger_entry(world, governed, as_agent, as_user):
    submitted = post(as_agent(world.key_a), {"action": PO, "payload": {"amount": 10}})
    decision_id = submitted.json()["decision"]["id"]
    page = as_user(world.supervisor_a).get(f"/governance/decisions/{decision_id}/")
    entry = AuditEntry.objects.get(verb="action.queued", object_id=submitted.json()["id"])
    assert page.context["entry"] == entry


@pytest.mark.parametrize(
    "body",
    [
        {"action": PO, "payload": {"amount": 10, "supplier": "Ac\u0000me"}},
        {"action": PO, "payload": {"amount": 10}, "reason": "restock\u0000"},
        {"action": PO, "payload": {"amount": 10, "su\u0000pplier": "Acme"}},
    ],
)
def test_text_postgresql_cannot_store_is_a_400_that_changes_nothing(
    world, governed, as_agent, body
):
    before = counts()
    response = post(as_agent(world.key_a), body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert counts() == before
