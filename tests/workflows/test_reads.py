"""Governed reads: an allowed read answers within the request with the fields the agent's
clearance allows; denials and approvals as for any action; timeouts and failures as clear
errors; nothing read is kept (the ledger names the record and the fields only). The system
of record is a real local HTTP server."""

import json
import threading
import time
import uuid
from http.server import ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test import Client
from werkzeug import Response

from agents import services as agent_services
from agents.models import Agent, AgentRole
from autonomy.management.commands.run_demo_erp import DemoERP, handler_for
from governance import policies
from governance.models import AuditEntry, DecisionRecord
from tests.workflows.factories import make_action, make_action_type, make_connector
from workflows import execution, inbox
from workflows.clearance import clearance, filter_fields
from workflows.models import (
    ActionRequest,
    ActionState,
    ActionType,
    ConnectorAttempt,
    Escalation,
    Queue,
    WebhookDelivery,
)

URL = "/api/v1/actions/"
READ = "erp.supplier.read"
BANK = "DE89370400440532013000"
EMAIL = "orders@acme.example"
AMOUNT = 987654.32
SUPPLIER = {
    "name": "Acme",
    "country": "DE",
    "bank_account": BANK,
    "contact": {"name": "Orders desk", "email": EMAIL},
    "open_orders": [
        {"po_number": "PO-1", "amount": AMOUNT},
        {"po_number": "PO-2", "amount": AMOUNT},
    ],
}
CLASSIFIED = {
    "bank_account": "restricted",
    "contact.email": "confidential",
    "open_orders.amount": "confidential",
}
SECRETS = (BANK, EMAIL, str(AMOUNT))


@pytest.fixture
def reads(world, httpserver):
    """A read action type on an http GET connector to the test server, and a published COE
    policy: reads allowed, Globex's need approval, Initech's are denied."""
    connector = make_connector(
        "http",
        config={
            "method": "GET",
            "url": httpserver.url_for("/suppliers/{payload.supplier}"),
            "allow_private_hosts": True,
            "timeout_seconds": 5,
        },
        disable_on_permanent_error=True,
    )
    queue = Queue.objects.create(slug="approvals-a", name="A", business_unit=world.unit_a)
    action_type = make_action_type(
        READ,
        connector=connector,
        kind=ActionType.Kind.READ,
        payload_schema={
            "type": "object",
            "properties": {"supplier": {"type": "string", "minLength": 1}},
            "required": ["supplier"],
        },
        field_classifications=CLASSIFIED,
        read_timeout_seconds=1,
        approval_queue=queue,
    )
    world.role.action_patterns = ["erp.supplier.*"]
    world.role.save()
    policy = policies.create_policy(world.coe, "baseline", "Baseline")
    draft = policy.versions.get()
    for rule in [
        dict(name="lookups", action_pattern="erp.supplier.*", effect="allow"),
        dict(
            name="watched",
            action_pattern="erp.supplier.*",
            condition='payload.supplier == "Globex"',
            effect="require_approval",
            route="approvals-a",
            sla_seconds=600,
        ),
        dict(
            name="blocked",
            action_pattern="erp.supplier.*",
            condition='payload.supplier == "Initech"',
            effect="deny",
            reason="Initech is under review.",
        ),
    ]:
        policies.add_rule(world.coe, draft, **rule)
    policies.publish(world.coe, draft)
    return action_type


def read(client, supplier: str = "Acme", key: str = ""):
    return client.post(
        URL,
        {"action": READ, "payload": {"supplier": supplier}},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex,
    )


def stored() -> str:
    """Everything the database keeps about actions, decisions, attempts and the ledger."""
    rows = [
        *AuditEntry.objects.values(),
        *ActionRequest.objects.values(),
        *ConnectorAttempt.objects.values(),
        *DecisionRecord.objects.values(),
        *WebhookDelivery.objects.values(),
    ]
    return json.dumps(rows, default=str)


def grant(role: AgentRole, *classifications: str) -> None:
    role.data_classifications = list(classifications)
    role.save()


# An allowed read


def test_an_allowed_read_answers_its_data_without_the_fields_above_clearance(
    world, reads, as_agent, httpserver
):
    httpserver.expect_request("/suppliers/Acme", method="GET").respond_with_json(SUPPLIER)

    response = read(as_agent(world.key_a))

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["state"], body["action"], body["decision"]["effect"]) == (
        "succeeded",
        READ,
        "allow",
    )
    assert body["data"] == {
        "name": "Acme",
        "country": "DE",
        "contact": {"name": "Orders desk"},
        "open_orders": [{"po_number": "PO-1"}, {"po_number": "PO-2"}],
    }
    assert body["withheld_fields"] == ["bank_account", "contact.email", "open_orders.amount"]
    action = ActionRequest.objects.get(pk=body["id"])
    assert (action.state, action.result, action.error) == (ActionState.SUCCEEDED, None, "")
    attempt = action.attempts.get()
    assert (attempt.outcome, attempt.status_code) == ("succeeded", 200)
    assert attempt.response_excerpt == ""
    assert len(httpserver.log) == 1


def test_a_higher_clearance_sees_more_of_the_same_record(world, reads, as_agent, httpserver):
    httpserver.expect_request("/suppliers/Acme").respond_with_json(SUPPLIER)
    grant(world.role, "internal", "confidential")

    body = read(as_agent(world.key_a)).json()

    assert body["withheld_fields"] == ["bank_account"]
    assert body["data"]["contact"] == SUPPLIER["contact"]
    assert body["data"]["open_orders"] == SUPPLIER["open_orders"]


def test_an_agent_cleared_for_everything_gets_the_whole_record(world, reads, as_agent, httpserver):
    httpserver.expect_request("/suppliers/Acme").respond_with_json(SUPPLIER)
    grant(world.role, "restricted")

    body = read(as_agent(world.key_a)).json()

    assert (body["data"], body["withheld_fields"]) == (SUPPLIER, [])


def test_a_list_of_records_is_filtered_element_by_element(world, reads, as_agent, httpserver):
    people = [
        {"name": "Ana", "salary": 91000, "contact": {"email": "ana@x.example", "desk": "B2"}},
        {"name": "Bo", "salary": 87000, "contact": {"email": "bo@x.example", "desk": "C1"}},
    ]
    httpserver.expect_request("/suppliers/Acme").respond_with_json(people)
    reads.field_classifications = {"salary": "restricted", "contact.email": "confidential"}
    reads.save()

    body = read(as_agent(world.key_a)).json()

    assert body["data"] == [
        {"name": "Ana", "contact": {"desk": "B2"}},
        {"name": "Bo", "contact": {"desk": "C1"}},
    ]
    assert body["withheld_fields"] == ["contact.email", "salary"]


def test_the_ledger_names_the_record_and_the_fields_and_keeps_no_value_read(
    world, reads, as_agent, httpserver
):
    httpserver.expect_request("/suppliers/Acme").respond_with_json(SUPPLIER)
    grant(world.role, "internal", "confidential")

    body = read(as_agent(world.key_a)).json()

    assert EMAIL in json.dumps(body["data"])  # the agent got it ...
    entry = AuditEntry.objects.get(verb="action.read", object_id=body["id"])
    assert entry.actor_kind == "agent" and entry.actor_name == "agent-a"
    assert entry.business_unit_id == world.unit_a.pk
    assert entry.data["record"] == {"supplier": "Acme"}
    assert entry.data["target"] == f"GET {httpserver.url_for('/suppliers/{payload.supplier}')}"
    assert entry.data["clearance"] == "confidential"
    assert entry.data["fields_withheld"] == ["bank_account"]
    assert entry.data["fields_returned"] == [
        "contact.email",
        "contact.name",
        "country",
        "name",
        "open_orders.amount",
        "open_orders.po_number",
    ]
    everything = stored()  # ... and nothing of what was read is kept anywhere
    for secret in SECRETS:
        assert secret not in everything


def test_a_replay_answers_the_first_outcome_without_the_data(world, reads, as_agent, httpserver):
    httpserver.expect_request("/suppliers/Acme").respond_with_json(SUPPLIER)
    client = as_agent(world.key_a)
    first = read(client, key="lookup-1").json()

    again = read(client, key="lookup-1")

    assert again.status_code == 200
    body = again.json()
    assert (body["id"], body["state"], body["data"], body["data_omitted"]) == (
        first["id"],
        "succeeded",
        None,
        True,
    )
    assert body["withheld_fields"] == first["withheld_fields"]
    assert "new Idempotency-Key" in body["note"]
    assert len(httpserver.log) == 1
    assert ActionRequest.objects.count() == 1


def test_a_repeat_while_the_read_runs_is_told_it_is_in_flight(
    transactional_db, world, reads, as_agent, httpserver
):
    """The gateway's "queued" answer is kept on the row from the insert on: a repeat that
    arrives while the system of record is still answering must not be told "queued"."""
    repeats = []

    def answer_after_a_repeat(request):
        # The read is in flight (committed, claimed): the same request again, meanwhile.
        try:
            repeats.append(read(as_agent(world.key_a), key="lookup-slow"))
        finally:
            connection.close()  # this server thread's own database connection
        return Response(json.dumps(SUPPLIER), content_type="application/json")

    httpserver.expect_request("/suppliers/Acme").respond_with_handler(answer_after_a_repeat)

    first = read(as_agent(world.key_a), key="lookup-slow")

    assert first.status_code == 200 and first.json()["data"]["name"] == "Acme"
    [repeat] = repeats
    assert (repeat.status_code, repeat.json()["error"]["code"]) == (409, "in_flight")
    after = read(as_agent(world.key_a), key="lookup-slow")
    assert (after.status_code, after.json()["data_omitted"]) == (200, True)
    assert len(httpserver.log) == 1


def test_the_agent_sees_its_read_afterwards_without_the_data(world, reads, as_agent, httpserver):
    httpserver.expect_request("/suppliers/Acme").respond_with_json(SUPPLIER)
    client = as_agent(world.key_a)
    action_id = read(client).json()["id"]

    shown = client.get(f"{URL}{action_id}/").json()

    assert (shown["state"], shown["result"], shown["payload"]) == (
        "succeeded",
        None,
        {"supplier": "Acme"},
    )


# Decided like any action


def test_a_denied_read_is_403_and_reads_nothing(world, reads, as_agent, httpserver):
    response = read(as_agent(world.key_a), "Initech")

    assert response.status_code == 403
    assert "Initech is under review." in response.json()["error"]["message"]
    assert ActionRequest.objects.get().state == ActionState.DENIED
    assert httpserver.log == []


def test_a_read_needing_approval_is_202_with_its_escalation_and_reads_nothing(
    world, reads, as_agent, httpserver
):
    response = read(as_agent(world.key_a), "Globex")

    assert response.status_code == 202
    body = response.json()
    assert body["state"] == "pending_approval" and "data" not in body
    assert Escalation.objects.get(pk=body["escalation_id"]).queue.slug == "approvals-a"
    assert httpserver.log == []


def test_an_approved_read_is_executed_by_the_worker_keeping_only_what_the_agent_may_see(
    world, reads, as_agent, httpserver
):
    record = {**SUPPLIER, "name": "Globex"}
    httpserver.expect_request("/suppliers/Globex").respond_with_json(record)
    client = as_agent(world.key_a)
    body = read(client, "Globex").json()
    inbox.approve(world.supervisor_a, Escalation.objects.get(pk=body["escalation_id"]))

    assert execution.execute(body["id"]) == ActionState.SUCCEEDED

    action = ActionRequest.objects.get(pk=body["id"])
    assert action.result == {
        "data": {
            "name": "Globex",
            "country": "DE",
            "contact": {"name": "Orders desk"},
            "open_orders": [{"po_number": "PO-1"}, {"po_number": "PO-2"}],
        },
        "withheld_fields": ["bank_account", "contact.email", "open_orders.amount"],
    }
    assert client.get(f"{URL}{action.pk}/").json()["result"] == action.result
    excerpt = action.attempts.get().response_excerpt
    assert "withheld: bank_account, contact.email, open_orders.amount" in excerpt
    entry = AuditEntry.objects.get(verb="action.read", object_id=str(action.pk))
    assert entry.data["record"] == {"supplier": "Globex"}
    assert entry.data["fields_withheld"] == ["bank_account", "contact.email", "open_orders.amount"]
    everything = stored()
    for secret in SECRETS:
        assert secret not in everything


# Timeouts and failures


def test_a_read_slower_than_its_timeout_is_a_504_within_the_bound(
    world, reads, as_agent, httpserver
):
    def slow(request):
        time.sleep(2.0)
        return Response(json.dumps(SUPPLIER), content_type="application/json")

    httpserver.expect_request("/suppliers/Acme").respond_with_handler(slow)
    started = time.monotonic()

    response = read(as_agent(world.key_a))

    assert time.monotonic() - started < 1.8
    assert response.status_code == 504
    body = response.json()
    assert body["error"]["code"] == "read_timeout"
    assert "within 1s" in body["error"]["message"]
    action = ActionRequest.objects.get(pk=body["action_id"])
    assert (action.state, body["state"]) == (ActionState.FAILED, "failed")
    assert action.attempts.get().outcome == "temporary_error"
    assert AuditEntry.objects.filter(verb="action.failed", object_id=str(action.pk)).exists()
    assert not Escalation.objects.exists()
    time.sleep(1.5)  # the server finishes its answer to nobody
    assert BANK not in stored()


@pytest.mark.parametrize(("status", "permanent"), [(404, True), (503, False)])
def test_a_failed_read_is_a_502_recorded_and_holds_nothing_against_the_connector(
    world, reads, as_agent, httpserver, status, permanent
):
    httpserver.expect_request("/suppliers/Acme").respond_with_json({"error": "no"}, status=status)

    response = read(as_agent(world.key_a))

    assert response.status_code == 502
    body = response.json()
    assert body["error"]["code"] == "read_failed"
    assert f"answered {status}" in body["error"]["message"]
    action = ActionRequest.objects.get(pk=body["action_id"])
    assert action.state == ActionState.FAILED and f"answered {status}" in action.error
    attempt = action.attempts.get()
    assert attempt.outcome == ("permanent_error" if permanent else "temporary_error")
    assert attempt.status_code == status
    reads.connector.refresh_from_db()
    assert reads.connector.enabled
    assert not Escalation.objects.exists()
    assert len(httpserver.log) == 1


def test_a_read_through_a_disabled_connector_is_refused_without_a_call(
    world, reads, as_agent, httpserver
):
    reads.connector.enabled = False
    reads.connector.disabled_reason = "ERP maintenance"
    reads.connector.save()

    response = read(as_agent(world.key_a))

    assert response.status_code == 502
    assert "ERP maintenance" in response.json()["error"]["message"]
    assert ActionRequest.objects.get().state == ActionState.FAILED
    assert httpserver.log == []


# The sandbox answers reads (shadow agents, action types without a connector)


def test_the_sandbox_answers_a_read_with_the_units_matching_records(world, reads, as_agent):
    write_type = make_action_type()
    for agent, supplier in [
        (world.agent_a, "Acme"),
        (world.agent_a, "Globex"),
        (world.agent_b, "Acme"),
    ]:
        action = make_action(agent, write_type, {"supplier": supplier, "amount": AMOUNT})
        assert execution.execute(action.pk) == ActionState.SUCCEEDED
    reads.connector = None
    reads.field_classifications = {"records.payload.amount": "confidential"}
    reads.save()

    response = read(as_agent(world.key_a))

    assert response.status_code == 200, response.json()
    body = response.json()
    [record] = body["data"]["records"]
    assert record["payload"] == {"supplier": "Acme"}
    assert (record["action"], record["agent"]) == (write_type.name, "agent-a")
    assert body["withheld_fields"] == ["records.payload.amount"]


def test_a_shadow_agents_read_goes_to_the_sandbox_not_the_system_of_record(
    world, reads, as_agent, httpserver
):
    world.agent_a.autonomy_level = 0
    world.agent_a.save()

    response = read(as_agent(world.key_a))

    assert response.status_code == 200, response.json()
    assert response.json()["shadow"] is True
    assert response.json()["data"] == {"records": []}
    assert httpserver.log == []


# The field filter and the clearance


def test_an_agents_clearance_is_the_highest_classification_its_role_grants(world):
    grant(world.role, "confidential", "internal")
    assert clearance(world.role) == "confidential"
    grant(world.role)
    assert clearance(world.role) == "public"


@pytest.mark.parametrize(
    ("data", "classified", "default", "data_left", "withheld"),
    [
        (  # a nested field
            {"contact": {"email": "e", "name": "n"}},
            {"contact.email": "confidential"},
            "internal",
            {"contact": {"name": "n"}},
            ["contact.email"],
        ),
        (  # an object above clearance goes whole, named once
            {"contact": {"email": "e", "name": "n"}, "id": 1},
            {"contact": "restricted"},
            "internal",
            {"id": 1},
            ["contact"],
        ),
        (  # a more specific entry inside it may still be seen
            {"contact": {"email": "e", "name": "n"}},
            {"contact": "restricted", "contact.name": "public"},
            "internal",
            {"contact": {"name": "n"}},
            ["contact.email"],
        ),
        (  # a list of values above clearance goes whole
            {"tags": ["a", "b"], "id": 1},
            {"tags": "restricted"},
            "internal",
            {"id": 1},
            ["tags"],
        ),
        (  # lists of lists, element by element
            {"rows": [[{"v": 1, "s": 2}], [{"v": 3, "s": 4}]]},
            {"rows.s": "restricted"},
            "internal",
            {"rows": [[{"v": 1}], [{"v": 3}]]},
            ["rows.s"],
        ),
        (  # fields without an entry take the action type's classification
            {"a": 1, "b": 2},
            {"a": "public"},
            "confidential",
            {"a": 1},
            ["b"],
        ),
        (  # an unknown classification is above every clearance
            {"a": 1},
            {},
            "top-secret",
            {},
            ["a"],
        ),
        (  # an answer that is one value above clearance
            42,
            {},
            "restricted",
            None,
            ["$"],
        ),
    ],
)
def test_fields_above_clearance_are_removed(data, classified, default, data_left, withheld):
    filtered = filter_fields(data, classified, default, "internal")
    assert (filtered.data, filtered.withheld) == (data_left, withheld)


# Configuring field classifications


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"field_classifications": {"salary": "secret"}}, "field_classifications", "'secret'"),
        ({"field_classifications": {"a..b": "internal"}}, "field_classifications", "field path"),
        ({"field_classifications": {"": "internal"}}, "field_classifications", "field path"),
        ({"field_classifications": ["salary"]}, "field_classifications", "Give an object"),
        ({"data_classification": "secret"}, "data_classification", "Use one of"),
        ({"read_timeout_seconds": 0}, "read_timeout_seconds", "greater than or equal to 1"),
        ({"read_timeout_seconds": 60}, "read_timeout_seconds", "less than or equal to 20"),
    ],
)
def test_bad_field_classifications_are_refused_with_a_clear_message(db, fields, field, message):
    action_type = ActionType(name="hr.employee.read", kind=ActionType.Kind.READ, **fields)
    with pytest.raises(ValidationError) as caught:
        action_type.full_clean()
    assert message in " ".join(caught.value.message_dict[field])


def test_a_read_cannot_go_through_an_email_connector(db):
    connector = make_connector("email", config={"to": ["ops@example.com"]})
    action_type = ActionType(name="hr.employee.read", kind="read", connector=connector)
    with pytest.raises(ValidationError) as caught:
        action_type.full_clean()
    assert "connector" in caught.value.message_dict


def test_field_classifications_are_set_in_the_admin_and_recorded(world):
    client = Client()
    client.force_login(world.coe)
    form = {
        "name": "hr.employee.read",
        "description": "",
        "kind": "read",
        "payload_schema": "{}",
        "data_classification": "internal",
        "risk_tier": "low",
        "sensitive_fields": "[]",
        "field_classifications": json.dumps({"salary": "secret"}),
        "connector": "",
        "approval_queue": "",
        "read_timeout_seconds": "5",
        "_save": "Save",
    }
    refused = client.post("/admin/workflows/actiontype/add/", form)
    assert refused.status_code == 200 and "is not one of" in refused.content.decode()
    assert not ActionType.objects.exists()

    form["field_classifications"] = json.dumps({"salary": "restricted"})
    assert client.post("/admin/workflows/actiontype/add/", form).status_code == 302

    assert ActionType.objects.get().field_classifications == {"salary": "restricted"}
    entry = AuditEntry.objects.get(verb="action_type.created")
    assert entry.data["fields"]["field_classifications"] == {"salary": "restricted"}


# The demo


@pytest.fixture
def demo_erp(settings):
    """The demo ERP on a free local port, where the demo seed's connectors point."""
    erp = DemoERP()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(erp))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.AUTONOMY_DEMO_ERP_PORT = server.server_address[1]
    yield erp
    server.shutdown()
    server.server_close()


def test_the_demo_buyer_reads_a_supplier_without_its_bank_account(db, demo_erp, as_agent):
    call_command("seed_demo", stdout=StringIO())
    demo_erp.create_order("po-1", {"supplier": "Acme", "amount": 1200, "currency": "EUR"})
    agent = Agent.objects.get(slug="po-drafter")
    _, key = agent_services.issue_key(agent.owner, agent)

    response = read(as_agent(key))

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["withheld_fields"] == ["bank_account"]
    assert body["data"]["contact"]["email"] == "orders@acme.example"
    assert body["data"]["open_orders"] == [
        {"po_number": "PO-10000", "status": "created", "amount": 1200}
    ]
