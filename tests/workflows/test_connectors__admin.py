"""The COE's admin for connectors and action types: secrets are write-only and never shown
or returned anywhere (admin pages, history, ledger, the actions API); configurations and
payload schemas are checked before saving; execution logs are read-only."""

import json

import pytest
from django.test import Client
from werkzeug import Response

from governance.models import AuditEntry
from tests.factories import make_user
from tests.workflows.factories import (
    API_TOKEN,
    WEBHOOK_SECRET,
    make_action,
    make_action_type,
    make_connector,
)
from workflows import execution
from workflows.models import ActionType, Connector, ConnectorAttempt

ADD = "/admin/workflows/connector/add/"


@pytest.fixture
def coe_client(world) -> Client:
    client = Client()
    client.force_login(world.coe)
    return client


def connector_form(**fields) -> dict:
    form = {
        "slug": "erp",
        "name": "ERP",
        "kind": "http",
        "config": json.dumps({"url": "https://erp.example.com/orders", "timeout_seconds": 5}),
        "new_secrets": "",
        "enabled": "on",
        "disabled_reason": "",
        "max_attempts": "5",
        "_save": "Save",
    }
    return {**form, **fields}


def every_page(client: Client, connector: Connector) -> str:
    base = f"/admin/workflows/connector/{connector.pk}"
    pages = ["/admin/workflows/connector/", f"{base}/change/", f"{base}/history/"]
    history = connector.history.order_by("history_id").values_list("history_id", flat=True)
    pages += [f"{base}/history/{history_id}/" for history_id in history]
    texts = []
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        texts.append(response.content.decode())
    return "\n".join(texts)


def test_secrets_set_in_the_admin_are_stored_but_never_shown(coe_client):
    secrets = {"headers": {"Authorization": API_TOKEN}}
    response = coe_client.post(ADD, connector_form(new_secrets=json.dumps(secrets)))
    assert response.status_code == 302, response.content.decode()

    connector = Connector.objects.get(slug="erp")
    assert connector.secrets == secrets
    shown = every_page(coe_client, connector)
    assert API_TOKEN not in shown
    assert "headers: Authorization" in shown  # which secrets are stored, by name
    entry = AuditEntry.objects.get(verb="connector.created")
    assert API_TOKEN not in json.dumps(entry.data)
    assert entry.data["secrets"] == {"set": "headers: Authorization"}


def test_saving_without_new_secrets_keeps_them_and_clearing_removes_them(coe_client):
    connector = make_connector(
        "http",
        slug="erp",
        config={"url": "https://erp.example.com/orders"},
        secrets={"headers": {"Authorization": API_TOKEN}},
    )
    change = f"/admin/workflows/connector/{connector.pk}/change/"

    coe_client.post(change, connector_form(name="ERP (new name)"))
    connector.refresh_from_db()
    assert (connector.name, connector.secrets) == (
        "ERP (new name)",
        {"headers": {"Authorization": API_TOKEN}},
    )

    coe_client.post(change, connector_form(name="ERP (new name)", clear_secrets="on"))
    connector.refresh_from_db()
    assert connector.secrets == {}
    entries = AuditEntry.objects.filter(object_type="workflows.connector", object_id=connector.pk)
    verbs = entries.order_by("id").values_list("verb", flat=True)
    assert list(verbs) == ["connector.updated", "connector.updated"]
    assert API_TOKEN not in json.dumps(list(AuditEntry.objects.values("data")))


def test_a_form_with_errors_does_not_echo_a_submitted_secret(coe_client):
    secrets = {"headers": {"Authorization": API_TOKEN}}
    bad = connector_form(
        config=json.dumps({"url": "http://{payload.host}/orders"}), new_secrets=json.dumps(secrets)
    )

    response = coe_client.post(ADD, bad)

    assert response.status_code == 200
    page = response.content.decode()
    assert "not in its host" in page
    assert API_TOKEN not in page
    assert not Connector.objects.exists()


def test_a_webhook_connector_needs_a_valid_signing_secret(coe_client):
    form = connector_form(
        kind="webhook", config=json.dumps({"url": "https://hooks.example.com/in"})
    )
    response = coe_client.post(ADD, {**form, "new_secrets": json.dumps({"signing_secret": "x"})})
    assert "whsec_" in response.content.decode()
    assert not Connector.objects.exists()

    response = coe_client.post(
        ADD, {**form, "new_secrets": json.dumps({"signing_secret": WEBHOOK_SECRET})}
    )
    assert response.status_code == 302
    assert WEBHOOK_SECRET not in every_page(coe_client, Connector.objects.get())


def test_secrets_echoed_by_a_system_of_record_never_reach_the_actions_api(
    world, httpserver, as_agent
):
    httpserver.expect_request("/orders").respond_with_handler(
        lambda request: Response(
            json.dumps({"echo": request.headers["Authorization"]}),
            status=400,
            content_type="application/json",
        )
    )
    connector = make_connector(
        "http",
        config={"url": httpserver.url_for("/orders"), "allow_private_hosts": True},
        secrets={"headers": {"Authorization": API_TOKEN}},
    )
    action = make_action(world.agent_a, make_action_type(connector=connector))
    execution.execute(action.pk)

    response = as_agent(world.key_a).get(f"/api/v1/actions/{action.pk}/")

    assert response.status_code == 200
    assert response.json()["state"] == "failed"
    assert API_TOKEN not in response.content.decode()
    assert "[secret]" in ConnectorAttempt.objects.get(action=action).response_excerpt


def test_only_coe_staff_reach_the_connector_admin(world):
    staff_builder = make_user("staff-builder", is_staff=True)
    client = Client()
    client.force_login(staff_builder)
    assert client.get("/admin/workflows/connector/").status_code == 302
    assert client.post(ADD, connector_form()).status_code == 302
    assert not Connector.objects.exists()


# Action types


def action_type_form(**fields) -> dict:
    form = {
        "name": "crm.opportunity.update",
        "description": "",
        "kind": "write",
        "payload_schema": json.dumps({"type": "object", "required": ["id"]}),
        "data_classification": "internal",
        "risk_tier": "low",
        "sensitive_fields": json.dumps(["email"]),
        "connector": "",
        "approval_queue": "",
        "read_timeout_seconds": "5",
        "_save": "Save",
    }
    return {**form, **fields}


def test_an_action_type_with_an_invalid_json_schema_is_not_saved(coe_client):
    bad = action_type_form(payload_schema=json.dumps({"type": "objekt"}))
    response = coe_client.post("/admin/workflows/actiontype/add/", bad)
    assert response.status_code == 200
    assert "Not a valid JSON Schema" in response.content.decode()
    assert not ActionType.objects.exists()


def test_an_action_type_saved_in_the_admin_is_recorded(coe_client):
    response = coe_client.post("/admin/workflows/actiontype/add/", action_type_form())
    assert response.status_code == 302
    action_type = ActionType.objects.get(name="crm.opportunity.update")
    assert action_type.sensitive_fields == ["email"]
    entry = AuditEntry.objects.get(verb="action_type.created")
    assert entry.object_id == str(action_type.pk)

    change = f"/admin/workflows/actiontype/{action_type.pk}/change/"
    coe_client.post(change, action_type_form(risk_tier="high"))
    entry = AuditEntry.objects.get(verb="action_type.updated")
    assert entry.data["changes"] == {"risk_tier": {"before": "low", "after": "high"}}


def test_an_action_type_saved_unchanged_records_nothing_and_connectors_go_by_slug(coe_client):
    connector = make_connector("sandbox", slug="erp-sandbox")
    coe_client.post("/admin/workflows/actiontype/add/", action_type_form())
    action_type = ActionType.objects.get()
    change = f"/admin/workflows/actiontype/{action_type.pk}/change/"

    coe_client.post(change, action_type_form())
    assert not AuditEntry.objects.filter(verb="action_type.updated").exists()

    coe_client.post(change, action_type_form(connector=str(connector.pk)))
    entry = AuditEntry.objects.get(verb="action_type.updated")
    assert entry.data["changes"] == {"connector": {"before": None, "after": "erp-sandbox"}}


# Execution logs


def test_execution_logs_are_read_only_for_the_coe_and_closed_to_others(world, coe_client):
    action = make_action(world.agent_a, make_action_type(), callback_url="https://a.example/cb")
    execution.execute(action.pk)
    attempt = ConnectorAttempt.objects.get(action=action)
    pages = {
        "connectorattempt": attempt.pk,
        "sandboxeffect": action.sandbox_effect.pk,
        "webhookdelivery": action.webhooks.get().pk,
    }
    outsider = Client()
    outsider.force_login(make_user("staff-outsider", is_staff=True))
    for model, pk in pages.items():
        base = f"/admin/workflows/{model}/"
        assert coe_client.get(base).status_code == 200
        assert coe_client.get(f"{base}{pk}/change/").status_code == 200
        assert coe_client.get(f"{base}add/").status_code == 403
        assert coe_client.post(f"{base}{pk}/delete/").status_code == 403
        assert outsider.get(base).status_code == 302
